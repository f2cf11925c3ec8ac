"""Plain JSON answers (server/direct.py): a call that can send nothing but its answer gets it as
`application/json` in both protocol eras, the same answer the SDK gives; streams stay where something
else may travel (a progress token, a 2025-11-25 write that asks the person), and sessions keep working.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2 as httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fake_x import FakeX, Fault
from tests.servers import TOOLS_159, run_xapi_mcp, serve_asgi, server_env

ACCEPT = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
LEGACY, MODERN = "2025-11-25", "2026-07-28"
READ = {"name": "getUsersByUsername", "arguments": {"username": "jack", "user_fields": ["id", "name"]}}


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[FakeX, str]]:
    """One server with write confirmation on (as people run it)."""
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url, X_API_CONFIRM_WRITES="1")) as url:
        yield fake, url


@pytest.fixture
def fake(stack: tuple[FakeX, str]) -> Iterator[FakeX]:
    with stack[0].fresh() as fake:
        yield fake


def open_session(url: str) -> dict[str, str]:
    """A 2025-11-25 session opened by hand; the headers every later request of it carries."""
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    opened = httpx.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}, headers=ACCEPT)
    headers = {**ACCEPT, "Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": LEGACY}
    done = httpx.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    assert done.status_code == 202
    return headers


def modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    headers = {**ACCEPT, "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    return headers | ({"Mcp-Name": name} if name else {})


def envelope(params: dict[str, Any], extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
        **(extra_meta or {}),
    }
    return {**params, "_meta": {**params.get("_meta", {}), **meta}}


def post(url: str, headers: dict[str, str], method: str, params: dict[str, Any], rid: int = 7) -> httpx.Response:
    return httpx.post(url, json={"jsonrpc": "2.0", "id": rid, "method": method, "params": params}, headers=headers)


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer, from a JSON body or from the last event of an SSE stream."""
    if response.headers["content-type"].startswith("application/json"):
        return dict(response.json())
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    return dict(json.loads(data[-1]))


def uncosted(response: httpx.Response) -> dict[str, Any]:
    """The answer without its cost (`_meta` and cost line): a second identical read is a free repeat."""
    message = answer(response)
    result = message.get("result")
    if isinstance(result, dict) and "content" in result:
        meta = {k: v for k, v in result.get("_meta", {}).items() if k != "xapi-mcp/cost"}
        content = [c for c in result["content"] if not c.get("text", "").startswith("cost $")]
        result = {k: v for k, v in result.items() if k != "_meta"} | {"content": content}
        message = message | {"result": result | ({"_meta": meta} if meta else {})}
    return message


def test_a_legacy_read_is_answered_as_plain_json_like_the_sdks_stream(stack, fake: FakeX) -> None:
    url = stack[1]
    headers = open_session(url)
    plain = post(url, headers, "tools/call", READ)
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    assert plain.headers["mcp-session-id"] == headers["Mcp-Session-Id"]
    # The same call with a progress token goes the SDK's way, on a stream: the same answer.
    streamed = post(url, headers, "tools/call", {**READ, "_meta": {"progressToken": "p"}})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert uncosted(plain) == uncosted(streamed)
    assert "X Developers" in answer(plain)["result"]["content"][0]["text"]
    assert [r.path for r in fake.requests] == ["/2/users/by/username/jack"] * 2


def test_a_modern_call_is_answered_like_the_sdk_does(stack, fake: FakeX) -> None:
    url = stack[1]
    headers = modern_headers("tools/call", READ["name"])
    plain = post(url, headers, "tools/call", envelope(READ))
    streamed = post(url, headers, "tools/call", envelope(READ, {"progressToken": "p"}))
    assert plain.headers["content-type"] == "application/json"
    assert uncosted(plain) == uncosted(streamed)
    result = answer(plain)["result"]
    assert result["resultType"] == "complete" and result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"]


@pytest.mark.parametrize("era", [LEGACY, MODERN])
def test_errors_are_the_sdks_errors(stack, fake: FakeX, era: str) -> None:
    """An error result from X and an unknown tool (a JSON-RPC error) read as they do on the SDK's path."""
    url = stack[1]
    missing = Fault(404, b'{"title":"Not Found Error","detail":"no such user"}')
    fake.fail("/2/users/by/username/jack", missing, missing)  # the direct answer and the SDK's
    headers = open_session(url) if era == LEGACY else modern_headers("tools/call", READ["name"])
    wrap = (lambda p, m=None: {**p, **({"_meta": m} if m else {})}) if era == LEGACY else envelope
    for params in (READ, {"name": "getUserByUsername", "arguments": {"username": "jack"}}):
        if era == MODERN:
            headers["Mcp-Name"] = params["name"]
        plain = post(url, headers, "tools/call", wrap(params))
        streamed = post(url, headers, "tools/call", wrap(params, {"progressToken": "p"}))
        assert plain.headers["content-type"] == "application/json"
        assert uncosted(plain) == uncosted(streamed)
        assert plain.status_code == streamed.status_code
        assert ("no such user" in plain.text) is (params is READ)
    assert "Did you mean getUsersByUsername" in answer(plain)["error"]["message"]


@pytest.mark.parametrize("era", [LEGACY, MODERN])
def test_tools_list_is_plain_json_and_the_sdks_own_list(stack, era: str) -> None:
    url = stack[1]
    headers = open_session(url) if era == LEGACY else modern_headers("tools/list")
    params: dict[str, Any] = {} if era == LEGACY else envelope({})
    plain = post(url, headers, "tools/list", params, rid=1)
    paged = post(url, headers, "tools/list", {**params, "cursor": "next"}, rid=2)  # a cursor: the SDK's path
    assert plain.headers["content-type"] == "application/json"
    assert answer(plain)["id"] == 1 and answer(plain)["result"] == answer(paged)["result"]
    assert len(answer(plain)["result"]["tools"]) == TOOLS_159


def test_progress_keeps_its_stream(fake_x: tuple[FakeX, str]) -> None:
    """2025-11-25 with a progress token: the SSE stream, and the progress notifications on it."""
    with run_xapi_mcp(server_env(fake_x[1])) as url:  # writes unconfirmed: the upload runs at once
        data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 100).decode()
        upload = {"name": "uploadMedia", "arguments": {"data": data, "media_type": "image/png"}}
        response = post(url, open_session(url), "tools/call", {**upload, "_meta": {"progressToken": "up"}})
    assert response.headers["content-type"].startswith("text/event-stream")
    progress = [line for line in response.text.splitlines() if '"notifications/progress"' in line]
    assert len(progress) == 3 and not answer(response)["result"]["isError"], response.text


def test_a_legacy_write_asks_on_its_stream_and_reads_stay_plain(stack, fake: FakeX) -> None:
    """The default client, 2025-11-25: the write's question (elicitation/create) comes on the call's stream."""
    types_seen: dict[str, list[str]] = {"tools/call": []}

    async def record(response: httpx.Response) -> None:
        body = json.loads(response.request.content or b"{}")
        if isinstance(body, dict) and body.get("method") in types_seen:
            types_seen[body["method"]].append(response.headers.get("content-type", ""))

    async def accept(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    async def run() -> tuple[Any, Any]:
        async with (
            httpx.AsyncClient(event_hooks={"response": [record]}) as http,
            Client(streamable_http_client(stack[1], http_client=http), mode="legacy", elicitation_callback=accept) as c,
        ):
            return await c.call_tool("createPosts", {"text": "asked"}), await c.call_tool(
                READ["name"], READ["arguments"]
            )

    posted, read = anyio.run(run)
    assert not posted.is_error and not read.is_error, (posted.content, read.content)
    assert types_seen["tools/call"][0].startswith("text/event-stream")
    assert types_seen["tools/call"][1] == "application/json"
    assert [(r.method, r.path) for r in fake.requests] == [("POST", "/2/tweets"), ("GET", "/2/users/by/username/jack")]


def test_sessions_still_end_and_unknown_ones_are_refused(stack, fake: FakeX) -> None:
    url = stack[1]
    headers = open_session(url)
    assert post(url, headers, "tools/call", READ).status_code == 200
    unknown = post(url, {**headers, "Mcp-Session-Id": "no-such-session"}, "tools/call", READ)
    assert unknown.status_code == 404
    assert httpx.request("DELETE", url, headers=headers).status_code == 200
    ended = post(url, headers, "tools/call", READ)
    assert ended.status_code == 404
    no_session = post(url, {k: v for k, v in headers.items() if k != "Mcp-Session-Id"}, "tools/call", READ)
    assert no_session.status_code == 400
    assert len(fake.requests) == 1


def test_direct_calls_keep_their_session_alive(fake_x: tuple[FakeX, str]) -> None:
    """A session used only for plain answers is in use: the SDK's idle timeout does not end it."""
    _, x_url = fake_x
    with run_xapi_mcp(server_env(x_url, MCP_SESSION_IDLE_TIMEOUT="2")) as url:
        headers = open_session(url)
        started = time.monotonic()
        while time.monotonic() - started < 5:  # well past the idle timeout, never idle for long
            response = post(url, headers, "tools/call", READ)
            assert response.status_code == 200 and response.headers["content-type"] == "application/json"
            time.sleep(0.4)
        time.sleep(3)  # now idle: it ends as before
        assert post(url, headers, "tools/call", READ).status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"getUsersByUsername","arguments":'
         b'{"username":"\\ud800"}}}', -32700),
        (b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"tools/list"}', -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}', -32602),
    ],
)  # fmt: skip
def test_a_session_s_malformed_bodies_get_the_sdks_errors(stack, fake: FakeX, body: bytes, code: int) -> None:
    url = stack[1]
    response = httpx.post(url, content=body, headers=open_session(url))
    assert response.status_code in (200, 400) and answer(response)["error"]["code"] == code
    assert fake.requests == []
