"""No secret leaves the server: X (or a proxy) echoing credentials reaches neither the model nor the log.

The fake X answers in echo mode with the request's own Authorization header and every secret value the
server holds (configured ones, and tokens a consent flow obtained during the test), in error `detail`,
problem+json fields, nested partial `errors` next to `data`, a plain-text header echo and a proxy's
HTML 502 page, spelled plainly, percent-encoded and inside JSON strings. The assertions read the exact
bytes of each JSON-RPC response and the server's log file.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests import fake_x as fx
from tests.fake_x import ECHOES, FakeX
from tests.servers import LOG_DIR, run_stdio_raw, run_xapi_mcp, serve_asgi, server_env

# Our one-time /oauth/start link (over HTTP), which sends the browser on to X's page.
CONSENT_URL = re.compile(r"(http://127\.0\.0\.1:\d+/oauth/start\?kind=oauth[12]&nonce=[\w-]+)")
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()
# A tool per credential kind (OAuth 1.0a user, app bearer, OAuth 2.0 user), a POST (never retried), the
# chunked upload workflow.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("getUsersMe", {}),
    ("getPostsCountsRecent", {"query": "from:XDevelopers"}),
    ("getUsersBookmarks", {"id": "42"}),
    ("createPosts", {"text": "hello"}),
    ("uploadMedia", {"data": PNG, "media_type": "image/png"}),
]


def leaks(data: bytes, secrets: Iterable[str]) -> list[str]:
    """The secrets found in `data` (their first characters only, so the failure message leaks nothing)."""
    return [s[:6] + "…" for s in secrets if s.encode() in data]


def tool_call(url: str, name: str, arguments: dict[str, Any], token: str) -> bytes:
    """One tools/call (2026-07-28, plain JSON): the response body's exact bytes."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    body["params"]["_meta"] = meta  # type: ignore[index]
    headers = {
        "MCP-Protocol-Version": "2026-07-28",
        "Accept": "application/json, text/event-stream",
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
        "Authorization": f"Bearer {token}",
    }
    response = httpx.post(url, json=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.content


def result_text(raw: bytes) -> str:
    return "\n".join(block["text"] for block in json.loads(raw)["result"]["content"])


def consent(url: str, name: str, arguments: dict[str, Any], token: str) -> None:
    """A call that needs a user starts consent; the person approves at X (the fake redirects at once)."""
    text = result_text(tool_call(url, name, arguments, token))
    found = CONSENT_URL.search(text)
    assert found, text  # the consent link stays readable
    page = httpx.get(found.group(1), follow_redirects=True, timeout=10)
    assert page.status_code == 200 and "authorised" in page.text, page.text


def test_http_results_and_log_hold_no_configured_or_consented_secret(tmp_path: Path) -> None:
    fake = FakeX()
    fake.oauth2_tokens.clear()  # the OAuth 2.0 user token comes from the consent flow
    log_path = LOG_DIR / "secrets-http.log"
    with serve_asgi(fake.app()) as x_url:
        env = server_env(
            x_url,
            X_OAUTH_OPEN_BROWSER="0",
            X_OAUTH2_CLIENT_ID=fx.OAUTH2_CLIENT_ID,
            X_OAUTH2_CLIENT_SECRET=fx.OAUTH2_CLIENT_SECRET,
            X_OAUTH2_AUTHORIZE_URL=f"{x_url}/2/oauth2/authorize",
            MCP_AUTH_TOKEN=fx.MCP_AUTH_TOKEN,
        )
        del env["X_OAUTH_ACCESS_TOKEN"], env["X_OAUTH_ACCESS_TOKEN_SECRET"]  # OAuth 1.0a user by consent too
        with run_xapi_mcp(env, log_path=log_path) as url:
            token = fx.MCP_AUTH_TOKEN
            consent(url, "createPosts", {"text": "first"}, token)
            consent(url, "getUsersBookmarks", {"id": "42"}, token)
            first_oauth2 = fake.handed_out[-2]
            fake.oauth2_tokens.discard(first_oauth2)  # X expires it: the server refreshes, gets a new one
            assert '"isError":true' not in tool_call(url, "getUsersBookmarks", {"id": "42"}, token).decode()
            assert fake.requests[-1].headers["authorization"] != f"Bearer {first_oauth2}"

            fake.planted = [fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.BEARER_TOKEN, fx.OAUTH2_CLIENT_SECRET, token]
            secrets = [*fake.planted, *fake.handed_out]  # handed out: request token secrets, 1.0a and 2.0 tokens
            assert len(fake.handed_out) == 7
            answers: dict[tuple[str, str], bytes] = {}
            for shape in ECHOES:
                fake.echo = shape
                for name, arguments in CALLS:
                    answers[shape, name] = tool_call(url, name, arguments, token)
            fake.echo = None
    for (shape, name), raw in answers.items():
        assert not leaks(raw, secrets), (shape, name, leaks(raw, secrets), raw[:2000])
    kinds = {r.auth_kind for r in fake.requests}
    assert {"oauth1", "bearer", "oauth2-user"} <= kinds  # every credential kind was echoed
    # The echoes reached the results (so the assertions above had something to find), redacted.
    shown = {shape: sum(raw.count(b"***") for (s, _), raw in answers.items() if s == shape) for shape in ECHOES}
    assert all(count > 0 for count in shown.values()), shown
    assert "X API returned HTTP 401" in result_text(answers["detail", "getUsersMe"])
    log = log_path.read_bytes()
    assert b" DEBUG " in log and b"request GET" in log
    assert not leaks(log, secrets), leaks(log, secrets)


@pytest.mark.parametrize("mode", ["echo", "dry_run"])
def test_stdio_results_and_log_hold_no_secret(fake_x: tuple[FakeX, str], mode: str) -> None:
    """Discovery's call_x_api and the dry run, over stdio with -v; stderr is the log."""
    fake, x_url = fake_x
    env = server_env(
        x_url,
        X_OAUTH2_ACCESS_TOKEN=fx.OAUTH2_USER_TOKEN,
        X_OAUTH2_CLIENT_ID=fx.OAUTH2_CLIENT_ID,
        X_OAUTH2_CLIENT_SECRET=fx.OAUTH2_CLIENT_SECRET,
        MCP_AUTH_TOKEN=fx.MCP_AUTH_TOKEN,
        X_API_TOOL_PROFILE="discovery",
        X_API_DRY_RUN="1" if mode == "dry_run" else "0",
    )
    secrets = list(fx.SERVER_SECRETS)
    fake.planted = secrets
    answers: dict[tuple[str, str], bytes] = {}
    with run_stdio_raw(env) as request:
        if mode == "echo":
            for shape in ECHOES:
                fake.echo = shape
                for name, arguments in CALLS:
                    params = {"name": "call_x_api", "arguments": {"name": name, "arguments": arguments}}
                    answers[shape, name] = request("tools/call", params)
        else:  # the model put secrets in the arguments: the dry run shows the request without them
            text = f'see {fx.ACCESS_TOKEN} and Authorization: Bearer {fx.BEARER_TOKEN} oauth_token="{fx.ACCESS_TOKEN}"'
            params = {"name": "call_x_api", "arguments": {"name": "createPosts", "arguments": {"text": text}}}
            answers["dry run", "createPosts"] = request("tools/call", params)
            assert fake.requests == []
    for key, raw in answers.items():
        assert not leaks(raw, secrets), (key, leaks(raw, secrets), raw[:2000])
    shown = {shape: sum(raw.count(b"***") for (s, _), raw in answers.items() if s == shape) for shape, _ in answers}
    assert all(count > 0 for count in shown.values()), shown
    if mode == "echo":
        assert {"oauth1", "bearer", "oauth2-user"} <= {r.auth_kind for r in fake.requests}
    log = max(LOG_DIR.glob("stdio-raw-*.log"), key=lambda p: p.stat().st_mtime).read_bytes()
    assert b" DEBUG " in log
    assert not leaks(log, secrets), leaks(log, secrets)
