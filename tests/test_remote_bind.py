"""Beyond loopback the server acts as your X account for whoever reaches it: a token is required."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2 as httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests import fake_x as fx
from tests.fake_x import FakeX
from tests.servers import SPEC_159, TOOLS_159, free_port, run_cli, run_xapi_mcp, server_env

PING = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def test_non_loopback_bind_without_token_refuses_to_start() -> None:
    result = run_cli("--host", "0.0.0.0", "--port", str(free_port()), "--spec", str(SPEC_159))
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr and "MCP_AUTH_TOKEN" in result.stderr


def test_token_required_on_mcp_when_bound_beyond_loopback(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    env = server_env(x_url, MCP_AUTH_TOKEN=fx.MCP_AUTH_TOKEN)
    with run_xapi_mcp(env, "--host", "0.0.0.0") as url:
        missing = httpx.post(url, json=PING, headers=HEADERS)
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        wrong = httpx.post(url, json=PING, headers={**HEADERS, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = {**HEADERS, "Authorization": f"Bearer {fx.MCP_AUTH_TOKEN}"}
        assert httpx.post(url, json=PING, headers={**good, "Origin": "http://evil.example"}).status_code == 403

        async def run() -> tuple[int, Any]:
            http = httpx.AsyncClient(headers={"Authorization": f"Bearer {fx.MCP_AUTH_TOKEN}"})
            async with http, Client(streamable_http_client(url, http_client=http)) as client:
                listing = await client.list_tools()
                return len(listing.tools), await client.call_tool("getUsersByUsername", {"username": "jack"})

        count, result = anyio.run(run)
        assert count == TOOLS_159 and not result.is_error
        assert fake.requests[-1].path == "/2/users/by/username/jack"


def test_healthz_beyond_loopback_says_only_ok_without_the_token(fake_x: tuple[FakeX, str]) -> None:
    _, x_url = fake_x
    env = server_env(x_url, MCP_AUTH_TOKEN=fx.MCP_AUTH_TOKEN)
    with run_xapi_mcp(env, "--host", "0.0.0.0") as url:
        health = url.replace("/mcp", "/healthz")
        token = {"Authorization": f"Bearer {fx.MCP_AUTH_TOKEN}"}
        anonymous = httpx.get(health)
        assert anonymous.status_code == 200 and anonymous.content == b'{"status":"ok"}'
        assert httpx.get(health, headers={"Authorization": "Bearer nope"}).content == b'{"status":"ok"}'
        details = httpx.get(health, headers=token).json()
        assert details["status"] == "ok" and details["tools"] == TOOLS_159 and details["version"]
        # As on /mcp: a foreign Host needs the token, a foreign Origin is refused even with it.
        assert httpx.get(health, headers={"Host": "evil.example"}).status_code == 421
        assert httpx.get(health, headers={**token, "Host": "evil.example"}).json()["tools"] == TOOLS_159
        assert httpx.get(health, headers={**token, "Origin": "http://evil.example"}).status_code == 403
        assert httpx.get(health, headers={"Origin": "http://evil.example"}).status_code == 403


def test_healthz_on_loopback_checks_host_and_origin_like_mcp(fake_x: tuple[FakeX, str]) -> None:
    _, x_url = fake_x
    with run_xapi_mcp(server_env(x_url)) as url:
        health = url.replace("/mcp", "/healthz")
        assert httpx.get(health).json()["tools"] == TOOLS_159
        assert httpx.get(health, headers={"Origin": url.removesuffix("/mcp")}).status_code == 200
        assert httpx.get(health, headers={"Host": "evil.example"}).status_code == 421
        assert httpx.get(health, headers={"Origin": "http://evil.example"}).status_code == 403
        # the same answers as the MCP endpoint itself
        assert httpx.post(url, json=PING, headers={**HEADERS, "Host": "evil.example"}).status_code == 421
        assert httpx.post(url, json=PING, headers={**HEADERS, "Origin": "http://evil.example"}).status_code == 403
