"""stdio transport end to end, and allowlist refusals that look exactly like unknown tools."""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from tests.conftest import catalog_for
from tests.fake_x import FakeX
from tests.servers import REPO, SPEC_159, TOOLS_159, server_env, stdio_log
from xapi_mcp.calls.executor import Executor
from xapi_mcp.server.mcp_server import build_server
from xapi_mcp.stores import MemoryTokenStore
from xapi_mcp.tools.allowlist import Allowlist


def unwrap(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_stdio_lists_and_calls(fake_x: tuple[FakeX, str], mode: str) -> None:
    fake, x_url = fake_x
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(REPO / "server.py"), "--transport", "stdio", "--spec", str(SPEC_159), "-v"],
        env=server_env(x_url),
        cwd=str(REPO / "tests"),
    )

    async def run() -> tuple[int, Any]:
        with stdio_log(mode).open("w") as errlog:  # the server's log, for the session-end secret scan
            async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
                listing = await client.list_tools()
                result = await client.call_tool("getUsersByUsername", {"username": "jack"})
                return len(listing.tools), result

    count, result = anyio.run(run)
    assert count == TOOLS_159
    assert not result.is_error and json.loads(result.content[0].text)["data"]["username"] == "jack"
    (request,) = fake.requests
    assert request.path == "/2/users/by/username/jack" and request.auth_kind == "oauth1"


def test_tool_removed_by_allowlist_is_refused_like_an_unknown_tool(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    tools, _ = Allowlist.from_sources(allow="tag:Users", deny="unfollowUser").apply(catalog_for("2.159").tools)
    executor = Executor(x_url, MemoryTokenStore(bearer_token="t"))
    server = build_server(tools, executor)

    async def run() -> tuple[list[str], str, str]:
        messages = []
        async with Client(server) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            for name in ("unfollowUser", "noSuchTool"):
                try:
                    await client.call_tool(name, {"source_user_id": "1", "target_user_id": "2"})
                except BaseException as exc:
                    error = unwrap(exc)
                    assert isinstance(error, MCPError) and error.code == -32602
                    messages.append(error.message)
        await executor.aclose()
        return names, messages[0], messages[1]

    names, removed, unknown = anyio.run(run)
    assert "unfollowUser" not in names and "followUser" in names
    assert removed.startswith("Unknown tool: 'unfollowUser'.")
    assert unknown.startswith("Unknown tool: 'noSuchTool'.")
    assert fake.requests == []
