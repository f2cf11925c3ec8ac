"""Careless or hostile HTTP clients: malformed bodies and abandoned sessions.

A body the server cannot use gets a JSON-RPC error with a 4xx status, never a 500 and never a
traceback in the log; 2025-11-25 sessions are capped and expire, and the cap says what to do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.fake_x import FakeX
from tests.servers import run_xapi_mcp, serve_asgi, server_env

ACCEPT = {"Accept": "application/json, text/event-stream"}
JSON = {**ACCEPT, "Content-Type": "application/json"}
META = (
    b'{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},'
    b'"io.modelcontextprotocol/clientInfo":{"name":"probe","version":"0"}}'
)
DEEP = 100_000
LIST = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":%s}}' % META


def call(arguments: bytes) -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"searchPostsRecent","arguments":%s,"_meta":%s}}'
        % (arguments, META)
    )


# name -> body, content type, HTTP status, JSON-RPC error code for 2026-07-28 and for 2025-11-25
# (None: not a JSON-RPC answer). Without a session, 2025-11-25 refuses any valid envelope (-32600).
CASES: dict[str, tuple[bytes, str, int, int | None, int | None]] = {
    "deep array": (b"[" * DEEP + b"]" * DEEP, "application/json", 400, -32700, -32700),
    "deep object": (b'{"a":' * DEEP + b"1" + b"}" * DEEP, "application/json", 400, -32700, -32700),
    "deep params": (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":' + b"[" * DEEP + b"]" * DEEP + b"}",
        "application/json",
        400,
        -32700,
        -32700,
    ),
    "deep arguments": (call(b'{"query":' + b"[" * DEEP + b"]" * DEEP + b"}"), "application/json", 400, -32700, -32700),
    "invalid UTF-8": (LIST.replace(b'"probe"', b'"\xff\xfe"'), "application/json", 400, -32700, -32700),
    "lone surrogate": (call(b'{"query":"\\ud800"}'), "application/json", 400, -32700, -32700),
    "huge integer": (LIST.replace(b'"id":1', b'"id":' + b"9" * 5000), "application/json", 400, -32700, -32700),
    "infinite id": (LIST.replace(b'"id":1', b'"id":1e999999'), "application/json", 400, -32600, -32600),
    "not JSON": (b"{not json", "application/json", 400, -32700, -32700),
    "empty body": (b"", "application/json", 400, -32700, -32700),
    "top-level string": (b'"tools/list"', "application/json", 400, -32600, -32602),
    "top-level array": (b"[" + LIST + b"]", "application/json", 400, -32600, -32602),
    "top-level null": (b"null", "application/json", 400, -32600, -32602),
    "over 4 MiB": (
        LIST.replace(b'"probe"', b'"' + b"a" * (4 * 1024 * 1024) + b'"'),
        "application/json",
        413,
        None,
        None,
    ),
    "wrong content type": (LIST, "text/plain", 400, None, None),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeX, str, Path]]:
    fake = FakeX()
    log_path = tmp_path_factory.mktemp("hostile") / "server.log"
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url), log_path=log_path) as mcp_url:
        yield fake, mcp_url, log_path


@pytest.mark.parametrize("era", ["2026-07-28", "2025-11-25"])
@pytest.mark.parametrize("case", list(CASES))
def test_malformed_body_is_a_client_error_without_traceback(
    server: tuple[FakeX, str, Path], era: str, case: str
) -> None:
    fake, url, log_path = server
    fake.requests.clear()  # the module's server is shared: only this test's requests count
    body, content_type, status, code_2026, code_2025 = CASES[case]
    code = code_2026 if era == "2026-07-28" else code_2025
    headers = {**ACCEPT, "Content-Type": content_type, "MCP-Protocol-Version": era}
    if era == "2026-07-28":
        method = b"tools/call" if b'"tools/call"' in body else b"tools/list"
        headers |= {"Mcp-Method": method.decode()} | ({"Mcp-Name": "searchPostsRecent"} if b"call" in method else {})
    else:
        body = body.replace(b',"_meta":' + META, b"").replace(b'"params":{"_meta":' + META + b"}", b'"params":{}')
    before = len(log_path.read_bytes())
    response = httpx.post(url, content=body, headers=headers, timeout=60)
    assert response.status_code == status, response.text
    if code is not None:
        error = response.json()["error"]
        assert error["code"] == code, error
    new_log = log_path.read_bytes()[before:]
    assert b"Traceback" not in new_log and b"Exception in ASGI application" not in new_log, new_log[-2000:]
    assert fake.requests == []


def test_infinite_number_in_arguments_is_refused_before_x(server: tuple[FakeX, str, Path]) -> None:
    fake, url, log_path = server
    fake.requests.clear()
    headers = {**JSON, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}
    headers["Mcp-Name"] = "searchPostsRecent"
    response = httpx.post(url, content=call(b'{"query":"x","max_results":1e999999}'), headers=headers)
    result = response.json()["result"]
    assert response.status_code == 200 and result["isError"]
    assert "argument 'max_results': inf is not of type 'integer'" in result["content"][0]["text"]
    assert fake.requests == [] and b"Traceback" not in log_path.read_bytes()


def open_session(url: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "probe", "version": "0"},
        },
    }
    return httpx.post(url, json=body, headers=JSON)


def ping(url: str, session: str) -> int:
    headers = {**JSON, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    return httpx.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=headers).status_code


def test_session_cap_answers_503_saying_what_to_do(fake_x: tuple[FakeX, str]) -> None:
    _, x_url = fake_x
    with run_xapi_mcp(server_env(x_url, MCP_MAX_SESSIONS="2")) as url:
        first, second = (open_session(url).headers["mcp-session-id"] for _ in range(2))
        refused = open_session(url)
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == -32603 and "mcp-session-id" not in refused.headers
        for advice in (
            "at most 2 (MCP_MAX_SESSIONS)",
            "DELETE /mcp",
            "MCP_SESSION_IDLE_TIMEOUT",
            "raise MCP_MAX_SESSIONS",
        ):
            assert advice in error["message"]
        assert ping(url, first) == 200 and ping(url, second) == 200  # open sessions are unaffected
        headers = {"Mcp-Session-Id": first, "MCP-Protocol-Version": "2025-11-25"}
        assert httpx.request("DELETE", url, headers=headers).status_code == 200
        assert open_session(url).status_code == 200  # room again once one is closed


def test_idle_sessions_expire(fake_x: tuple[FakeX, str]) -> None:
    _, x_url = fake_x
    with run_xapi_mcp(server_env(x_url, MCP_SESSION_IDLE_TIMEOUT="0.3", MCP_MAX_SESSIONS="1")) as url:
        session = open_session(url).headers["mcp-session-id"]
        deadline = time.monotonic() + 30
        while ping(url, session) != 404:  # expired sessions answer 404 Session not found
            assert time.monotonic() < deadline, "the idle session never expired"
            time.sleep(1)  # longer than the idle timeout: each ping is use and restarts it
        assert open_session(url).status_code == 200  # and no longer count against the cap
