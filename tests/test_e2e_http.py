"""End to end over real HTTP: `python server.py` + the fake X API + the mcp SDK client.

Both protocol eras: 2026-07-28 (the SDK's default, negotiated with server/discover) and
2025-11-25 (initialize handshake). Every call asserts the exact request the fake X API received.
"""

from __future__ import annotations

import http.client
import json
import select
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2 as httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.fake_x import BEARER_TOKEN, FakeX, Fault
from tests.servers import TOOLS_159, run_xapi_mcp, serve_asgi, server_env

MODES = ["auto", "legacy"]  # auto negotiates 2026-07-28 with this server


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url)) as mcp_url:
        yield fake, mcp_url


@pytest.fixture
def fake(stack: tuple[FakeX, str]) -> Iterator[FakeX]:
    with stack[0].fresh() as fake:
        yield fake


def call(url: str, mode: str, name: str, arguments: dict[str, Any]) -> Any:
    async def run() -> Any:
        async with Client(url, mode=mode) as client:
            return await client.call_tool(name, arguments)

    try:
        return anyio.run(run)
    except BaseExceptionGroup as group:  # the client's task groups wrap what the server raised
        error: BaseException = group
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        raise error from None


@pytest.mark.parametrize("mode", MODES)
def test_list_tools_whole_catalog_with_default_client(stack, mode: str) -> None:
    async def run() -> Any:
        async with Client(stack[1], mode=mode) as client:
            return client.protocol_version, await client.list_tools()

    version, listing = anyio.run(run)
    assert version == ("2026-07-28" if mode == "auto" else "2025-11-25")
    names = [tool.name for tool in listing.tools]
    assert len(names) == TOOLS_159 and "createPosts" in names and "streamPosts" not in names
    assert "uploadMedia" in names
    assert all(tool.output_schema is None for tool in listing.tools)
    size = len(listing.model_dump_json(by_alias=True, exclude_none=True))
    assert size <= 160_000, size  # the default client read it: well under its 1 MiB SSE limit
    post = next(t for t in listing.tools if t.name == "createPosts")
    assert post.title == "Create or Edit Post" and post.annotations.read_only_hint is None


@pytest.mark.parametrize("mode", MODES)
def test_get_with_query_array_signed_oauth1(stack, fake: FakeX, mode: str) -> None:
    result = call(stack[1], mode, "getUsersByUsername", {"username": "XDevelopers", "user_fields": ["id", "name"]})
    assert not result.is_error
    assert json.loads(result.content[0].text) == {
        "data": {"id": "2244994945", "name": "X Developers", "username": "XDevelopers"}
    }
    (request,) = fake.requests
    assert (request.method, request.path) == ("GET", "/2/users/by/username/XDevelopers")
    assert request.query == [("user.fields", "id,name")]
    assert request.body is None
    assert request.auth_kind == "oauth1"  # a valid HMAC-SHA1 signature for the configured user


@pytest.mark.parametrize("mode", MODES)
def test_post_with_json_body(stack, fake: FakeX, mode: str) -> None:
    result = call(stack[1], mode, "createPosts", {"text": "hello from xapi-mcp", "reply_settings": "following"})
    assert not result.is_error
    assert json.loads(result.content[0].text)["data"]["text"] == "hello from xapi-mcp"
    (request,) = fake.requests
    assert (request.method, request.path, request.query) == ("POST", "/2/tweets", [])
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"text": "hello from xapi-mcp", "reply_settings": "following"}
    assert request.auth_kind == "oauth1"


@pytest.mark.parametrize("mode", MODES)
def test_delete(stack, fake: FakeX, mode: str) -> None:
    result = call(stack[1], mode, "deletePosts", {"id": "1445880548472328192"})
    assert not result.is_error and json.loads(result.content[0].text) == {"data": {"deleted": True}}
    (request,) = fake.requests
    assert (request.method, request.path, request.body) == ("DELETE", "/2/tweets/1445880548472328192", None)
    assert request.auth_kind == "oauth1"


def test_bearer_only_operation_uses_the_app_token(stack, fake: FakeX) -> None:
    result = call(stack[1], "auto", "getPostsCountsRecent", {"query": "from:XDevelopers", "granularity": "day"})
    assert not result.is_error
    (request,) = fake.requests
    assert request.path == "/2/tweets/counts/recent"
    assert request.headers["authorization"] == f"Bearer {BEARER_TOKEN}"
    assert request.auth_kind == "bearer"


@pytest.mark.parametrize("mode", MODES)
def test_invalid_arguments_are_an_error_result_and_nothing_is_sent(stack, fake: FakeX, mode: str) -> None:
    result = call(stack[1], mode, "getUsersByUsername", {"username": "not valid!", "colour": "red"})
    assert result.is_error
    assert "Unknown argument for getUsersByUsername: 'colour'" in result.content[0].text
    result = call(stack[1], mode, "getUsersByUsername", {"username": "not valid!"})
    assert result.is_error and "argument 'username': 'not valid!' does not match" in result.content[0].text
    assert fake.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_an_id_sent_as_a_number_beyond_2_53_never_reaches_x(stack, fake: FakeX, mode: str) -> None:
    """1346889436626260000 is what a double makes of a real ID: it would delete some other post, or none."""
    result = call(stack[1], mode, "deletePosts", {"id": 1346889436626260000})
    assert result.is_error
    text = result.content[0].text
    assert "argument 'id': IDs must be strings, like \"1346889436626260000\"" in text, text
    assert "got the number 1346889436626260000" in text
    result = call(stack[1], mode, "getPostsByIds", {"ids": ["20", 1346889436626260000]})
    assert result.is_error and "argument 'ids.1': IDs must be strings" in result.content[0].text
    assert fake.requests == []
    result = call(stack[1], mode, "deletePosts", {"id": 1445880548472328})  # below 2^53: exact, still accepted
    assert not result.is_error
    (request,) = fake.requests
    assert request.path == "/2/tweets/1445880548472328"


@pytest.mark.parametrize("mode", MODES)
def test_unknown_tool_is_a_protocol_error(stack, fake: FakeX, mode: str) -> None:
    with pytest.raises(MCPError) as err:
        call(stack[1], mode, "getUserByUsername", {})
    assert err.value.code == -32602
    assert "Unknown tool: 'getUserByUsername'. Did you mean getUsersByUsername" in err.value.message
    assert fake.requests == []


def test_healthz_reports_spec_version_and_tool_count(stack) -> None:
    base = stack[1].removesuffix("/mcp")
    health = httpx.get(f"{base}/healthz").json()
    assert health["status"] == "ok" and health["spec_version"] == "2.159" and health["tools"] == TOOLS_159


def test_dns_rebinding_protection(stack) -> None:
    url = stack[1]
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    evil_host = httpx.post(url, json=body, headers={**headers, "Host": "evil.example"})
    assert evil_host.status_code == 421
    evil_origin = httpx.post(url, json=body, headers={**headers, "Origin": "http://evil.example"})
    assert evil_origin.status_code == 403
    # A local Origin gets through to MCP itself: the handshake is answered (not just "not refused").
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    fine = httpx.post(url, json=hello, headers={**headers, "Origin": "http://localhost:3000"})
    assert fine.status_code == 200 and '"id":1,"result":{' in fine.text and '"serverInfo"' in fine.text, fine.text


def modern_call(url: str, meta_extra: dict[str, Any]) -> httpx.Response:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
        **meta_extra,
    }
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "getUsersByUsername", "arguments": {"username": "jack"}, "_meta": meta},
    }
    headers = {
        "MCP-Protocol-Version": "2026-07-28",
        "Accept": "application/json, text/event-stream",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "getUsersByUsername",
    }
    return httpx.post(url, json=body, headers=headers)


def test_plain_json_unless_a_stream_is_needed(stack, fake: FakeX) -> None:
    plain = modern_call(stack[1], {})
    assert plain.headers["content-type"].startswith("application/json")
    assert "X Developers" in plain.text
    # With a progress token the call takes the streaming path (the SDK still answers in JSON when
    # nothing was streamed; test_progress_reaches_the_client_over_http shows the stream working).
    streamed = modern_call(stack[1], {"progressToken": "p1"})
    assert streamed.status_code == 200 and "X Developers" in streamed.text


def test_progress_reaches_the_client_over_http(stack, fake: FakeX) -> None:
    import base64

    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async def run() -> Any:
        async with Client(stack[1]) as client:
            data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 100).decode()
            return await client.call_tool(
                "uploadMedia", {"data": data, "media_type": "image/png"}, progress_callback=on_progress
            )

    result = anyio.run(run)
    assert not result.is_error, result.content[0].text
    assert seen and seen[-1] == 3  # INIT, one chunk, done


def test_idle_connections_outlast_the_clients_keep_alive(stack) -> None:
    """A connection idle past httpx's 5 s keep-alive is still open: no close racing the next call."""
    address = urlsplit(stack[1])
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        first = conn.getresponse()
        assert first.status == 200 and first.read()  # read whole, so only a close can make it readable
        sock = conn.sock
        time.sleep(6)  # past uvicorn's default of 5 s, which closed it
        readable, _, _ = select.select([sock], [], [], 0)
        assert not readable, "the server closed an idle connection a client may be about to reuse"
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200 and conn.sock is sock
    finally:
        conn.close()


@pytest.mark.parametrize("mode", MODES)
def test_twenty_concurrent_calls_each_get_their_own_answer(stack, fake: FakeX, mode: str) -> None:
    """20 tools/calls at once on one session, reads and writes mixed, some answered late by X: each result
    is the one for its own request (the fake X echoes the username or the post's text)."""
    for i in range(0, 20, 4):  # every other read is slow, so answers come back out of order
        slow = json.dumps({"data": {"id": "2244994945", "username": f"user{i}"}}).encode()
        fake.fail(f"/2/users/by/username/user{i}", Fault(200, slow, delay=0.5))
    calls = [
        ("getUsersByUsername", {"username": f"user{i}"}) if i % 2 == 0 else ("createPosts", {"text": f"post {i}"})
        for i in range(20)
    ]
    results: dict[int, Any] = {}

    async def run() -> None:
        async with Client(stack[1], mode=mode) as client:

            async def one(i: int) -> None:
                results[i] = await client.call_tool(*calls[i])

            async with anyio.create_task_group() as group:
                for i in range(20):
                    group.start_soon(one, i)

    anyio.run(run)
    for i, (name, args) in enumerate(calls):
        assert not results[i].is_error, results[i].content[0].text
        data = json.loads(results[i].content[0].text)["data"]
        assert data.get("username", data.get("text")) == args.get("username", args.get("text")), (name, i, data)
    assert sorted(r.path for r in fake.requests if r.method == "GET") == sorted(
        f"/2/users/by/username/user{i}" for i in range(0, 20, 2)
    )
    assert sorted(r.body["text"] for r in fake.requests if r.method == "POST") == sorted(
        f"post {i}" for i in range(1, 20, 2)
    )
