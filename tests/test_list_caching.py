"""tools/list says how long it stays valid (2026-07-28 `ttlMs`/`cacheScope`): the list changes only
on restart and is the same for every caller. Over real HTTP, as a client receives it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from mcp import Client

from tests.fake_x import FakeX
from tests.servers import run_xapi_mcp, serve_asgi, server_env

DAY_MS = 24 * 60 * 60 * 1000
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADERS = {"MCP-Protocol-Version": "2026-07-28", "Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module", params=["full", "discovery"])
def mcp_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with (
        serve_asgi(FakeX().app()) as x_url,
        run_xapi_mcp(server_env(x_url, X_API_TOOL_PROFILE=request.param)) as url,
    ):
        yield url


def test_a_2026_07_28_list_may_be_kept_a_day_and_shared(mcp_url: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}
    answer = httpx.post(mcp_url, json=body, headers={**HEADERS, "Mcp-Method": "tools/list"})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert (result["ttlMs"], result["cacheScope"]) == (DAY_MS, "public")
    assert result["tools"]


def test_the_sdk_client_reads_the_hint_and_a_2025_11_25_client_gets_none(mcp_url: str) -> None:
    async def listed(mode: Any) -> Any:
        async with Client(mcp_url, mode=mode) as client:
            return await client.list_tools()

    modern = anyio.run(listed, "auto")
    assert (modern.ttl_ms, modern.cache_scope) == (DAY_MS, "public")
    legacy = anyio.run(listed, "legacy")  # the 2025-11-25 wire has no such fields: nothing extra is sent
    assert "ttl_ms" not in legacy.model_fields_set and legacy.tools
