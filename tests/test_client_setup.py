"""The README's client snippets, parsed out of the README and used exactly as written."""

from __future__ import annotations

import json
import re
import shlex
import sysconfig
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.fake_x import FakeX
from tests.servers import REPO, SPEC_159, TOOLS_159, server_env
from xapi_mcp.config import Settings

README = (REPO / "README.md").read_text()
PLACEHOLDER = "/ABSOLUTE/PATH/TO/xapi-mcp"  # the one path a person replaces in the stdio snippets
SNIPPETS = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", README, re.S)]


def test_snippets_are_valid_json_and_point_at_the_default_endpoint() -> None:
    assert len(SNIPPETS) == 4
    default = f"http://{Settings.model_fields['mcp_host'].default}:{Settings.model_fields['mcp_port'].default}/mcp"
    urls = [e.get("url") or e.get("serverUrl") for s in SNIPPETS for entry in s.values() for e in entry.values()]
    assert urls.count(default) == 3
    assert f"claude mcp add --transport http x-api {default}" in README


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

        assert anyio.run(go) == TOOLS_159


def stdio_snippets() -> dict[str, tuple[str, list[str], dict[str, str]]]:
    """The README's stdio set-ups as (command, args, env), placeholder included, as a client would run them."""
    desktop = SNIPPETS[3]["mcpServers"]["x-api"]
    claude_code = re.search(r"```bash\nclaude mcp add x-api -- (.+?)\n```", README)
    assert claude_code is not None, "the Claude Code stdio command is missing from README.md"
    command, *args = shlex.split(claude_code.group(1))
    return {
        "claude-desktop": (desktop["command"], desktop["args"], desktop.get("env", {})),
        "claude-code": (command, args, {}),
    }


@pytest.fixture
def clone(tmp_path: Path, fake_x: tuple[FakeX, str]) -> Path:
    """A folder laid out like the README's clone: .venv/bin/xapi-mcp and a .env with the fake X's settings."""
    from tests import fake_x as fx

    script = Path(sysconfig.get_path("scripts")) / "xapi-mcp"
    assert script.is_file(), f"{script} is missing: install the project (pip install -e '.[dev]') to run this test"
    folder = tmp_path / "xapi-mcp"
    (folder / ".venv" / "bin").mkdir(parents=True)
    (folder / ".venv" / "bin" / "xapi-mcp").symlink_to(script)
    settings = {
        "X_API_SPEC": str(SPEC_159),
        "X_API_BASE_URL": fake_x[1],
        "X_OAUTH_CONSUMER_KEY": fx.CONSUMER_KEY,
        "X_OAUTH_CONSUMER_SECRET": fx.CONSUMER_SECRET,
        "X_OAUTH_ACCESS_TOKEN": fx.ACCESS_TOKEN,
        "X_OAUTH_ACCESS_TOKEN_SECRET": fx.ACCESS_TOKEN_SECRET,
        "X_BEARER_TOKEN": fx.BEARER_TOKEN,
    }
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return folder


@pytest.mark.parametrize("client", ["claude-desktop", "claude-code"])
def test_stdio_snippet_runs_from_a_foreign_directory(clone: Path, fake_x: tuple[FakeX, str], client: str) -> None:
    """The snippet with only its placeholder replaced, started the way clients start servers: in `/`,
    with the SDK's minimal environment (no PATH to the venv, no X_* settings), so everything the server
    knows comes from the `--env-file` the snippet names."""
    fake, _ = fake_x
    command, args, env = stdio_snippets()[client]
    assert command.startswith(PLACEHOLDER + "/") and PLACEHOLDER in " ".join(args)
    params = StdioServerParameters(
        command=command.replace(PLACEHOLDER, str(clone)),
        args=[arg.replace(PLACEHOLDER, str(clone)) for arg in args],
        env=env or None,  # None: the SDK's default environment, as clients without an "env" give
        cwd="/",
    )

    async def go() -> tuple[int, Any]:
        async with Client(params) as client:
            listed = await client.list_tools()
            return len(listed.tools), await client.call_tool("getUsersByUsername", {"username": "jack"})

    count, result = anyio.run(go)
    assert count == TOOLS_159 and not result.is_error, result.content[0].text
    assert fake.requests[-1].path == "/2/users/by/username/jack" and fake.requests[-1].auth_kind == "oauth1"


def test_readme_names_the_stdio_callback_url() -> None:
    """On stdio the consent callback is served by the listener, not the (absent) HTTP app."""
    stdio = Settings(transport="stdio")
    assert f"`{stdio.callback_base()}{stdio.oauth_callback_path}`" in README


@pytest.mark.parametrize("index", [0, 1, 2])
def test_http_snippets_use_each_clients_key(index: int) -> None:
    entry = next(iter(next(iter(SNIPPETS[index].values())).values()))
    key = ["url", "serverUrl", "url"][index]
    assert key in entry and (index != 2 or entry["type"] == "http")
