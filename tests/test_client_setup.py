"""The README's client snippets, parsed out of the README and used exactly as written."""

from __future__ import annotations

import json
import re
import shutil
import sys
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.fake_x import FakeX
from tests.servers import REPO, SPEC_159, server_env
from xapi_mcp.config import Settings

README = (REPO / "README.md").read_text()
SNIPPETS = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", README, re.S)]


def test_snippets_are_valid_json_and_point_at_the_default_endpoint() -> None:
    assert len(SNIPPETS) == 4
    default = f"http://{Settings.model_fields['mcp_host'].default}:{Settings.model_fields['mcp_port'].default}/mcp"
    urls = [e.get("url") or e.get("serverUrl") for s in SNIPPETS for entry in s.values() for e in entry.values()]
    assert urls.count(default) == 3
    assert f"claude mcp add --transport http x-api {default}" in README
    assert "claude mcp add x-api -- xapi-mcp --transport stdio" in README  # the args the stdio test runs


def test_http_snippet_connects(fake_x: tuple[FakeX, str]) -> None:
    from tests.servers import run_xapi_mcp

    _, x_url = fake_x
    url = SNIPPETS[0]["mcpServers"]["x-api"]["url"]
    with run_xapi_mcp(server_env(x_url)) as running:
        # Same server and path as the snippet's URL; only the test's free port differs.
        assert running.rsplit(":", 1)[0] == url.rsplit(":", 1)[0] and running.endswith("/mcp")

        async def go() -> int:
            async with Client(running) as client:
                return len((await client.list_tools()).tools)

        assert anyio.run(go) == 125


def test_claude_desktop_stdio_snippet_runs(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    entry = SNIPPETS[3]["mcpServers"]["x-api"]
    command = shutil.which(entry["command"], path=str(REPO.parent / "venv" / "bin")) or shutil.which(entry["command"])
    if command is None:  # not installed as a console script here: the same entry point via -m
        command, prefix = sys.executable, ["-m", "xapi_mcp"]
    else:
        prefix = []
    assert set(entry["env"]) <= set(Settings.model_fields[f].alias for f in Settings.model_fields)
    params = StdioServerParameters(
        command=command,
        args=[*prefix, *entry["args"], "--spec", str(SPEC_159)],
        env=server_env(x_url),
        cwd=str(REPO / "tests"),
    )

    async def go() -> Any:
        async with Client(params) as client:
            return await client.call_tool("getUsersByUsername", {"username": "jack"})

    assert not anyio.run(go).is_error
    assert fake.requests[-1].path == "/2/users/by/username/jack"


@pytest.mark.parametrize("index", [0, 1, 2])
def test_http_snippets_use_each_clients_key(index: int) -> None:
    entry = next(iter(next(iter(SNIPPETS[index].values())).values()))
    key = ["url", "serverUrl", "url"][index]
    assert key in entry and (index != 2 or entry["type"] == "http")
