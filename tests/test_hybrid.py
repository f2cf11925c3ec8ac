"""The hybrid profile: the most used tools listed directly, search/describe/call over every allowed tool,
and the default when more tools are allowed than clients keep."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.conftest import catalog_for, load_document
from tests.fake_x import FakeX
from tests.servers import TOOLS_159, run_cli, run_xapi_mcp, serve_asgi, server_env
from tests.synthetic import big_spec
from xapi_mcp.cli import listing_size
from xapi_mcp.tools.catalog import build_catalog
from xapi_mcp.tools.discovery import SearchIndex, search_result
from xapi_mcp.tools.profiles import COMMON, TOOL_CAP, choose_profile, hybrid_direct

DISCOVERY = ["search_x_api", "describe_x_api", "call_x_api"]


def whole_catalog() -> dict[str, Any]:
    """The 2.159 catalog with its workflow tools, as a server without allowlist offers it."""
    return build_catalog(load_document("2.159"), workflows=True).tools


def test_common_tools_exist_and_fit_cursor_with_the_discovery_tools() -> None:
    tools = whole_catalog()
    assert len(tools) == TOOLS_159
    assert [name for name in COMMON if name not in tools] == []  # a renamed operation shows up here
    assert len(COMMON) == len(set(COMMON)) and len(COMMON) + len(DISCOVERY) <= 40  # Cursor keeps the first 40


def test_hybrid_listing_discovery_first_then_the_common_tools_as_full_shows_them() -> None:
    tools = whole_catalog()
    total, per_tool = listing_size(tools, "hybrid")
    names = list(per_tool)
    assert names[:3] == DISCOVERY and set(names[3:]) == set(COMMON) and len(names) == 40
    full_total, full_each = listing_size(tools, "full")
    # The direct tools are shown as the full profile shows them; X's argument descriptions included (they fit).
    assert all(per_tool[name] >= full_each[name] for name in COMMON)
    assert total <= 64_000 and total < full_total / 2, (total, full_total)


def test_allowlisted_tools_are_the_direct_ones(tmp_path: Path) -> None:
    tools = whole_catalog()
    assert hybrid_direct(tools) == [name for name in tools if name in COMMON]
    some = {name: tools[name] for name in ("getUsersBlocking", "getUsersMe", "getListsById")}
    assert hybrid_direct(some, allowlisted=True) == list(some)
    assert hybrid_direct(some) == ["getUsersMe"]  # only deny rules: the common ones still allowed
    many = {f"t{n}": tools["getUsersMe"] for n in range(200)}
    assert len(hybrid_direct(many, allowlisted=True)) == TOOL_CAP - 3
    allow = {"X_API_TOOL_ALLOWLIST": "getUsersBlocking,likePost"}
    result = run_cli("--spec", "bundled", "tools", "--profile", "hybrid", "--json", env=allow)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert [row["name"] for row in shown["tools"]] == [*DISCOVERY, "getUsersBlocking", "likePost"]
    assert shown["count"] == 5 and shown["reaches"] == 2


def test_choose_profile() -> None:
    assert choose_profile(None, 126) == ("full", None)
    assert choose_profile(None, 128) == ("full", None)
    assert choose_profile("lean", 500) == ("lean", None)
    assert choose_profile("full", 500) == ("full", None)
    profile, why = choose_profile(None, 129)
    assert profile == "hybrid" and why is not None
    assert "129 tools are allowed" in why and "X_API_TOOL_PROFILE=full" in why


def test_discovery_search_covers_direct_tools_too() -> None:
    tools = dict(catalog_for("2.159").tools)
    index = SearchIndex.build(tools)
    found = json.loads(search_result(index, tools, "recent tweets about AI", 5))["tools"]
    assert found[0]["name"] == "searchPostsRecent" and "searchPostsRecent" in COMMON  # a direct tool is found
    found = json.loads(search_result(index, tools, "users I muted", 5))["tools"]
    assert "getUsersMuting" in [row["name"] for row in found] and "getUsersMuting" not in COMMON


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeX, str, Path]]:
    fake = FakeX()
    log_path = tmp_path_factory.mktemp("hybrid") / "server.log"
    with (
        serve_asgi(fake.app()) as x_url,
        run_xapi_mcp(server_env(x_url, X_API_TOOL_PROFILE="hybrid"), log_path=log_path) as mcp_url,
    ):
        yield fake, mcp_url, log_path


def session(url: str, mode: str, steps: Any) -> Any:
    async def run() -> Any:
        async with Client(url, mode=mode) as client:
            return await steps(client)

    return anyio.run(run)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_over_http_direct_and_call_x_api_take_the_same_path(stack: tuple[FakeX, str, Path], mode: str) -> None:
    fake, url, log_path = stack

    async def steps(client: Client) -> Any:
        listed = [tool.name for tool in (await client.list_tools()).tools]
        direct = await client.call_tool("getUsersByUsername", {"username": "jack", "user_fields": ["id", "name"]})
        via = await client.call_tool(
            "call_x_api", {"name": "getUsersByUsername", "arguments": {"username": "jack", "user_fields": "id,name"}}
        )
        blocking = await client.call_tool("call_x_api", {"name": "getUsersBlocking", "arguments": {"id": "42"}})
        found = await client.call_tool("search_x_api", {"query": "who do I block"})
        found_direct = await client.call_tool("search_x_api", {"query": "recent tweets about AI"})
        try:
            await client.call_tool("getUsersBlocking", {"id": "42"})
            unlisted = None
        except MCPError as exc:
            unlisted = exc
        return listed, direct, via, blocking, [found, found_direct], unlisted

    with fake.fresh():
        listed, direct, via, blocking, found, unlisted = session(url, mode, steps)
        seen = [(r.method, r.path, r.query, r.auth_kind) for r in fake.requests]
    assert listed[:3] == DISCOVERY and "getUsersByUsername" in listed and "getUsersBlocking" not in listed
    assert len(listed) == 40
    assert not direct.is_error and not via.is_error and direct.content[0].text == via.content[0].text
    assert not blocking.is_error, blocking.content[0].text
    # Each call carries its cost, however it was reached: the same executor path (Spending included).
    assert all("xapi-mcp/cost" in (result.meta or {}) for result in (direct, via, blocking))
    hits = [[row["name"] for row in json.loads(result.content[0].text)["tools"]] for result in found]
    assert "getUsersBlocking" in hits[0] and hits[1][0] == "searchPostsRecent"  # the search covers direct tools too
    assert unlisted is not None and "run it with call_x_api" in str(unlisted)
    by_username = ("GET", "/2/users/by/username/jack", [("user.fields", "id,name")], "oauth1")
    assert seen == [by_username, by_username, ("GET", "/2/users/42/blocking", [], "oauth1")]
    log = log_path.read_text()
    served = "Serving 40 tools (hybrid profile: 37 direct, search_x_api, describe_x_api, call_x_api over"
    assert f"{served} {TOOLS_159}), X API spec 2.159" in log


def test_more_than_128_tools_and_no_profile_switches_to_hybrid(tmp_path: Path) -> None:
    spec = big_spec(tmp_path / "big.json", extra=1)  # the whole 2.159 catalog and one more: past 128
    count = TOOLS_159 + 1
    fake = FakeX()
    log_path = tmp_path / "server.log"

    async def steps(client: Client) -> Any:
        names = [tool.name for tool in (await client.list_tools()).tools]
        return names, await client.call_tool("call_x_api", {"name": "getExtra0", "arguments": {}})

    env = {k: v for k, v in server_env("").items() if k != "X_API_TOOL_PROFILE"}  # no profile chosen
    with (
        serve_asgi(fake.app()) as x_url,
        run_xapi_mcp({**env, "X_API_BASE_URL": x_url}, spec=spec, log_path=log_path) as url,
    ):
        names, extra = session(url, "auto", steps)
    log = log_path.read_text()
    (line,) = [line for line in log.splitlines() if "Tool profile: hybrid" in line]
    assert f"because {count} tools are allowed" in line and "Set X_API_TOOL_PROFILE=full (or lean, discovery)" in line
    assert names[:3] == DISCOVERY and len(names) == 40 and "getExtra0" not in names
    assert not extra.is_error and fake.requests[-1].path == "/2/extra/0"
    # Chosen explicitly, the profile is kept (no switch, no line).
    listed = run_cli("--spec", str(spec), "tools", "--json", env={"X_API_TOOL_PROFILE": "full"})
    assert json.loads(listed.stdout)["count"] == count and "Tool profile: hybrid" not in listed.stderr
    # 128 tools or fewer allowed (here the catalog without webhooks, subscriptions and streams): full, no line.
    deny = {"X_API_TOOL_DENYLIST": "tag:Webhooks,tag:Account Activity,tag:Stream"}
    narrowed = run_cli("--spec", "bundled", "tools", "--json", env=deny)
    assert json.loads(narrowed.stdout)["count"] <= 128 and "Tool profile" not in narrowed.stderr


def test_tools_command_shows_hybrid() -> None:
    result = run_cli("--spec", "bundled", "tools", "--profile", "hybrid")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("search_x_api ") and lines[3].startswith(next(n for n in whole_catalog() if n in COMMON))
    assert "40 tools; tools/list response:" in result.stdout and "(hybrid profile)" in result.stdout
    assert f"37 listed directly; search_x_api, describe_x_api and call_x_api reach all {TOOLS_159} allowed" in (
        result.stdout
    )
    assert "hybrid " in next(line for line in lines if line.startswith("by profile:"))
