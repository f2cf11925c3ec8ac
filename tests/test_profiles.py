"""Profiles: what tools/list shows (full, lean, discovery), and that showing less never enforces less."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp import Client

from tests import fake_x as fx
from tests.conftest import PORTABLE_KEYS, tools_with_upload, walk_schemas
from tests.fake_x import FakeX
from tests.test_catalog import MANAGING_STREAMS_AND_WEBHOOKS
from xapi_mcp.calls.executor import Executor
from xapi_mcp.cli import listing_size
from xapi_mcp.server.mcp_server import build_server, listing, to_mcp_tool
from xapi_mcp.stores import MemoryTokenStore
from xapi_mcp.tools.allowlist import Allowlist
from xapi_mcp.tools.profiles import FULL_BUDGET

LATER_WORKFLOWS = {"collect_x_api", "createThread"}  # issue 16's workflow tools


def issue5_catalog() -> dict[str, Any]:
    """The tools issue 5's ceilings were set on: the 2.159 catalog's operations with uploadMedia and
    usage_x_api, without what came since (issue 16's workflow tools, issue 17's 17 operations and 15 streams)."""
    later = set(MANAGING_STREAMS_AND_WEBHOOKS) | LATER_WORKFLOWS
    return {name: tool for name, tool in tools_with_upload().items() if name not in later and tool.stream is None}


def test_size_of_each_profile() -> None:
    # Issue 5's ceilings, in bytes of tools/list JSON as the SDK sends it, hold on the set they were set on.
    then = issue5_catalog()
    assert len(then) == 126 and listing_size(then, "full")[0] <= 128_000 and listing_size(then, "lean")[0] <= 48_000
    # What the catalog grew by keeps about the same density (the whole list is past 128 KB since issues 16
    # and 17; past 128 tools the default profile is hybrid): 1,058 B a tool in full and 386 B in lean with
    # the 15 streams (their field lists are long), against 1,016 and 381 for issue 5's set.
    everything = tools_with_upload()
    grown = {profile: listing_size(everything, profile)[0] for profile in ("full", "lean", "discovery")}
    assert grown["full"] <= 1_075 * len(everything) and grown["lean"] <= 392 * len(everything), grown
    assert grown["discovery"] <= 4_000, grown  # whatever the catalog size


def _without_descriptions(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: ({n: _without_descriptions(s) for n, s in v.items()} if k == "properties" else _without_descriptions(v))
            for k, v in schema.items()
            if k != "description"
        }
    return schema


def test_full_keeps_every_enum_and_constraint_and_describes_only_what_names_cannot() -> None:
    tools = tools_with_upload()
    described: dict[str, set[str]] = {}
    for tool in tools.values():
        shown = to_mcp_tool(tool, "full")
        assert shown.title == (tool.title or None) and shown.description == tool.description
        # The spec's schema minus its wording: every type, enum, pattern, bound and `required` is there.
        assert _without_descriptions(shown.input_schema) == _without_descriptions(tool.input_schema), tool.name
        for where, node in walk_schemas(shown.input_schema):
            if "description" in node:
                described.setdefault(tool.name, set()).add(where)
    like = to_mcp_tool(tools["likePost"], "full").input_schema["properties"]
    assert like["id"]["description"] == "The authenticated user's own ID." and "description" not in like["tweet_id"]
    # Only the caller's own ID and our own arguments (local files) carry a description.
    own_ids = {name for name, tool in tools.items() if tool.notes.get("id") == "The authenticated user's own ID."}
    assert {"likePost", "unlikePost", "followUser", "getUsersTimeline", "getUsersBookmarks"} <= own_ids
    assert "blockUsersDms" not in own_ids  # its `id` is the *target* user, though X's text says "authenticated"
    assert (
        tools["uploadMedia"].notes.keys() == to_mcp_tool(tools["uploadMedia"], "full").input_schema["properties"].keys()
    )
    assert described == {name: {f"$.{arg}" for arg in tool.notes} for name, tool in tools.items() if tool.notes}


def test_full_keeps_x_argument_descriptions_while_they_fit() -> None:
    tools = tools_with_upload()
    some = {name: tools[name] for name in ("getUsersByUsername", "likePost", "searchPostsRecent", "createPosts")}
    (shown,) = [t for t in listing(some, "full").tools if t.name == "searchPostsRecent"]
    assert shown.input_schema == tools["searchPostsRecent"].input_schema  # every word of X's, nothing dropped
    assert shown.input_schema["properties"]["query"]["description"].startswith("One query/rule/filter")
    whole = listing(tools, "full")
    assert all(t.input_schema == to_mcp_tool(tools[t.name], "full").input_schema for t in whole.tools)
    then = listing(issue5_catalog(), "full")  # the whole catalog is past the budget since issue 17
    assert len(then.model_dump_json(by_alias=True, exclude_none=True)) <= FULL_BUDGET


def test_lean_shows_less_but_enforces_everything(fake_x: tuple[FakeX, str]) -> None:
    tools = tools_with_upload()
    lean = to_mcp_tool(tools["getUsersByUsername"], "lean")
    props = lean.input_schema["properties"]
    assert lean.title is None and lean.description == tools["getUsersByUsername"].title
    assert props["user_fields"] == {"type": "string"}  # a comma-separated list, as X takes it
    assert lean.input_schema["required"] == ["username"]
    for tool in tools.values():
        for where, node in walk_schemas(to_mcp_tool(tool, "lean").input_schema):
            assert set(node) <= PORTABLE_KEYS, (tool.name, where)
            assert len(node.get("enum", [])) <= 8

    from xapi_mcp.calls.arguments import ArgumentError, prepare

    with pytest.raises(ArgumentError, match="choose from: affiliation, confirmed_email"):
        prepare(tools["getUsersByUsername"], {"username": "jack", "user_fields": "id,nope"})
    # What the lean schema invites (a comma string) reaches X exactly as the full schema's list does.
    fake, url = fake_x
    lean_call, full_call = [
        run_calls(url, profile, [("getUsersByUsername", {"username": "jack", "user_fields": fields})])[0]
        for profile, fields in (("lean", "id, name"), ("full", ["id", "name"]))
    ]
    assert not lean_call.is_error and lean_call.content[0].text == full_call.content[0].text
    assert [r.query for r in fake.requests] == [[("user.fields", "id,name")]] * 2


def server_and_fake(fake_url: str, profile: str, allow: str = "") -> tuple[Any, Executor]:
    tools, _ = Allowlist.from_sources(allow=allow).apply(tools_with_upload())
    store = MemoryTokenStore(
        fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET, fx.BEARER_TOKEN
    )
    executor = Executor(fake_url, store, tools=tools)
    return build_server(tools, executor, profile=profile, confirm_writes=False), executor  # type: ignore[arg-type]


def run_calls(fake_url: str, profile: str, calls: list[tuple[str, dict[str, Any]]], allow: str = "") -> list[Any]:
    server, executor = server_and_fake(fake_url, profile, allow)

    async def go() -> list[Any]:
        try:
            async with Client(server) as client:
                return [await client.call_tool(name, args) for name, args in calls]
        finally:
            await executor.aclose()

    return anyio.run(go)


DIRECT = [
    ("getUsersByUsername", {"username": "jack", "user_fields": ["id", "name"]}),
    ("createPosts", {"text": "same path", "reply_settings": "following"}),
    ("deletePosts", {"id": "1445880548472328192"}),
    ("getPostsCountsRecent", {"query": "ai"}),
]


def seen(fake: FakeX) -> list[tuple[Any, ...]]:
    return [(r.method, r.path, r.query, r.body, r.auth_kind) for r in fake.requests]


def test_call_x_api_sends_exactly_what_the_direct_tool_sends(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    direct = run_calls(url, "full", DIRECT)
    direct_requests = seen(fake)
    fake.requests.clear()
    via = run_calls(url, "discovery", [("call_x_api", {"name": n, "arguments": a}) for n, a in DIRECT])
    assert seen(fake) == direct_requests and len(direct_requests) == 4
    assert [r.content[0].text for r in via] == [r.content[0].text for r in direct]
    fake.requests.clear()
    (bad,) = run_calls(url, "discovery", [("call_x_api", {"name": "getUsersByUsername", "arguments": {"usernme": 1}})])
    assert bad.is_error and "did you mean 'username'" in bad.content[0].text and fake.requests == []


def test_discovery_lists_three_tools_and_finds_describes(fake_x: tuple[FakeX, str]) -> None:
    _, url = fake_x
    server, executor = server_and_fake(url, "discovery")

    async def go() -> tuple[list[str], Any, Any]:
        try:
            async with Client(server) as client:
                names = [t.name for t in (await client.list_tools()).tools]
                found = await client.call_tool("search_x_api", {"query": "recent tweets about AI"})
                described = await client.call_tool("describe_x_api", {"name": "searchPostsRecent"})
                return names, found, described
        finally:
            await executor.aclose()

    names, found, described = anyio.run(go)
    assert names == ["search_x_api", "describe_x_api", "call_x_api"]
    assert json.loads(found.content[0].text)["tools"][0]["name"] == "searchPostsRecent"
    schema = json.loads(described.content[0].text)
    assert schema["method"] == "GET" and schema["path"] == "/2/tweets/search/recent"
    assert "query" in schema["inputSchema"]["required"] and "app bearer token" in schema["credentials"]


def test_allowlist_applies_to_all_three_discovery_tools(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    results = run_calls(
        url,
        "discovery",
        [
            ("search_x_api", {"query": "delete my tweet"}),
            ("describe_x_api", {"name": "deletePosts"}),
            ("call_x_api", {"name": "deletePosts", "arguments": {"id": "1"}}),
        ],
        allow="@read-only",
    )
    names = [t["name"] for t in json.loads(results[0].content[0].text)["tools"]]
    assert "deletePosts" not in names and names
    assert results[1].is_error and "Unknown tool: 'deletePosts'" in results[1].content[0].text
    assert results[2].is_error and "Unknown tool: 'deletePosts'" in results[2].content[0].text
    assert fake.requests == []
