"""collect_x_api: X's pagination followed for one list operation in one tool call.

In process (an executor with cost counted, the fake X answering scripted pages) for the paging, the
stops and the refusals; through the MCP server (a subprocess) for the one call an agent makes, the
allowlist, and the single cost question on both protocol versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

import anyio
import mcp_types as types
import pytest

from tests import fake_x as fx
from tests.asking import call_asking
from tests.conftest import PORTABLE_KEYS, load_document, walk_schemas
from tests.fake_x import FakeX, Fault
from tests.servers import run_xapi_mcp, serve_asgi, server_env
from xapi_mcp.calls.executor import Executor, ToolOutcome
from xapi_mcp.calls.ledger import MemoryLedger
from xapi_mcp.calls.prices import shipped_prices
from xapi_mcp.calls.spending import Spending
from xapi_mcp.server.mcp_server import to_mcp_tool
from xapi_mcp.stores import MemoryTokenStore
from xapi_mcp.tools.catalog import build_catalog
from xapi_mcp.tools.tooldef import ToolDef

SEARCH = "/2/tweets/search/recent"
MODES = ["auto", "legacy"]  # 2026-07-28 (MRTR) and 2025-11-25 (pushed elicitation/create)


def page(first: int, count: int, token: str | None, authors: tuple[int, ...] = (7, 8)) -> Fault:
    """X's answer to one search page: posts first..first+count-1, their authors in includes, meta.next_token."""
    posts: list[dict[str, Any]] = [{"id": str(i), "text": f"post {i}"} for i in range(first, first + count)]
    body: dict[str, Any] = {"data": posts, "meta": {"result_count": count}}
    if authors:
        for i, post in enumerate(posts):
            post["author_id"] = str(authors[i % len(authors)])
        body["includes"] = {"users": [{"id": str(a), "username": f"u{a}"} for a in authors]}
    if token:
        body["meta"]["next_token"] = token
    return Fault(status=200, body=json.dumps(body).encode())


@lru_cache(maxsize=1)
def served_tools() -> dict[str, ToolDef]:
    """The catalog as the server builds it: operations plus the workflow tools."""
    return build_catalog(load_document("2.159"), workflows=True).tools


def executor(x_url: str, budget: str | None = "5", **options: Any) -> Executor:
    ledger = MemoryLedger(Decimal(budget) if budget is not None else None)
    spending = Spending(load_document("2.159"), shipped_prices(), ledger)
    store = MemoryTokenStore(
        fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET, fx.BEARER_TOKEN
    )
    return Executor(x_url, store, tools=served_tools(), spending=spending, max_retries=0, **options)


def collect(x_url: str, args: dict[str, Any], budget: str | None = "5", **options: Any) -> ToolOutcome:
    """preflight, then call, as the server runs a tool call (no question asked: confirmation is off)."""
    ex = executor(x_url, budget, **options)
    tool = served_tools()["collect_x_api"]

    async def run() -> ToolOutcome:
        try:
            checked = await ex.preflight(tool, args)
            return checked if isinstance(checked, ToolOutcome) else await ex.call(tool, args, checked=checked)
        finally:
            await ex.aclose()

    return anyio.run(run)


def sent(fake: FakeX) -> list[dict[str, str]]:
    return [dict(r.query) for r in fake.requests if r.path == SEARCH]


@pytest.mark.parametrize("profile", ["full", "lean"])
def test_the_workflow_tools_have_portable_schemas(profile: Any) -> None:
    """collect_x_api, createThread and createPosts' media_paths as listed: keywords every client accepts."""
    for name in ("collect_x_api", "createThread", "createPosts"):
        schema = to_mcp_tool(served_tools()[name], profile).input_schema
        assert schema["type"] == "object" and not {"anyOf", "oneOf", "allOf"} & set(schema)
        for where, node in walk_schemas(schema):
            assert set(node) <= PORTABLE_KEYS, (name, where, set(node) - PORTABLE_KEYS)
            assert node.get("type") != "array" or "items" in node, (name, where)
    assert "media_paths" in served_tools()["createPosts"].input_schema["properties"]
    assert served_tools()["createPosts"].routes == {"media_paths": "createPosts+media_paths"}


# --- paging ---------------------------------------------------------------------------------------


def test_pages_until_max_items_asking_for_what_is_left(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    fake.fail(SEARCH, page(0, 100, "t1"), page(100, 100, "t2"), page(200, 50, "t3"))
    args = {"tool": "searchPostsRecent", "arguments": {"query": "cats", "expansions": "author_id"}, "max_items": 250}
    outcome = collect(url, args)
    assert not outcome.is_error, outcome.text
    result = json.loads(outcome.text)
    assert [post["id"] for post in result["data"]] == [str(i) for i in range(250)]
    assert result["includes"] == {
        "users": [{"id": "7", "username": "u7"}, {"id": "8", "username": "u8"}]
    }  # deduplicated
    assert result["stopped"] == {
        "reason": "max_items",
        "pages": 3,
        "items": 250,
        "next_token": "t3",
        "why": "collected 250 items (max_items 250)",
    }
    # Each page asks for what is left, at most X's largest page, and carries the previous page's next_token.
    assert [(q["max_results"], q.get("pagination_token")) for q in sent(fake)] == [
        ("100", None),
        ("100", "t1"),
        ("50", "t2"),
    ]
    assert all(q["query"] == "cats" and q["expansions"] == "author_id" for q in sent(fake))
    assert 'arguments.pagination_token="t3"' in outcome.note
    assert outcome.cost is not None and outcome.cost[0]["resources"] == {"Posts: Read": 250, "User: Read": 2}


def test_stops_at_the_last_page(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    fake.fail(SEARCH, page(0, 100, "t1"), page(100, 30, None))
    result = json.loads(
        collect(url, {"tool": "searchPostsRecent", "arguments": {"query": "rare"}, "max_items": 500}).text
    )
    assert len(result["data"]) == 130 and len(fake.requests) == 2
    assert result["stopped"]["reason"] == "end" and result["stopped"]["next_token"] is None


def test_resumes_from_a_given_token_and_keeps_the_page_size_asked_for(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    fake.fail(SEARCH, page(0, 20, "t10"), page(20, 20, None))
    args = {"tool": "searchPostsRecent", "arguments": {"query": "q", "max_results": 20, "pagination_token": "t9"}}
    result = json.loads(collect(url, args).text)
    assert [(q["max_results"], q["pagination_token"]) for q in sent(fake)] == [("20", "t9"), ("20", "t10")]
    assert result["stopped"]["items"] == 40


def test_a_failed_page_returns_the_pages_before_it_and_the_token_to_retry(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    error = Fault(status=500, body=b'{"title":"Internal Server Error","detail":"Something broke"}')
    fake.fail(SEARCH, page(0, 100, "t1"), page(100, 100, "t2"), error)
    outcome = collect(url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 500})
    assert not outcome.is_error  # two pages were collected: they are the result
    result = json.loads(outcome.text)
    assert len(result["data"]) == 200
    stopped = result["stopped"]
    assert stopped["reason"] == "error" and stopped["pages"] == 2 and stopped["next_token"] == "t2"
    assert (
        stopped["why"].startswith("page 3 failed: searchPostsRecent: X API returned HTTP 500")
        and "Something broke" in stopped["why"]
    )
    assert len(fake.requests) == 3


def test_a_failed_first_page_is_an_error(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    fake.fail(SEARCH, Fault(status=400, body=b'{"title":"Invalid Request","detail":"bad query"}'))
    outcome = collect(url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}})
    assert outcome.is_error and "nothing was collected" in outcome.text and "bad query" in outcome.text


def test_a_next_token_seen_before_stops_the_paging(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    fake.fail(SEARCH, page(0, 10, "same"), page(10, 10, "same"))
    result = json.loads(collect(url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 500}).text)
    assert result["stopped"]["reason"] == "error" and "given before" in result["stopped"]["why"]
    assert len(fake.requests) == 2


# --- money: the cost cap and the daily budget ----------------------------------------------------------


def test_stops_before_a_page_that_could_pass_max_cost_usd(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    fake.fail(SEARCH, page(0, 100, "t1"))
    outcome = collect(
        url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 500, "max_cost_usd": 0.75}
    )
    stopped = json.loads(outcome.text)["stopped"]
    # Page 1: up to $0.500, charged $0.500 (100 posts) + 2 authors; page 2 could add $0.500: over $0.75.
    assert stopped["reason"] == "max_cost_usd" and stopped["pages"] == 1 and stopped["next_token"] == "t1"
    assert "could cost up to $0.500" in stopped["why"] and "max_cost_usd $0.750" in stopped["why"]
    assert len(fake.requests) == 1


def test_a_first_page_over_max_cost_usd_is_refused_before_sending(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    outcome = collect(url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_cost_usd": 0.2})
    assert outcome.is_error and "could cost up to $0.500" in outcome.text and "max_cost_usd=$0.200" in outcome.text
    assert "arguments.max_results" in outcome.text and fake.requests == []


def test_stops_at_the_daily_budget(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    fake.fail(SEARCH, page(0, 100, "t1", authors=()), page(100, 100, "t2", authors=()))
    outcome = collect(url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 500}, budget="1.00")
    stopped = json.loads(outcome.text)["stopped"]
    assert stopped["reason"] == "budget" and stopped["pages"] == 2 and stopped["next_token"] == "t2"
    assert "$1.000 daily budget" in stopped["why"]
    assert len(fake.requests) == 2  # the third page was never sent
    assert outcome.cost is not None and outcome.cost[0]["day_total_usd"] == pytest.approx(1.0)


def test_a_collection_larger_than_the_budget_left_is_asked_about_and_stops_at_it(fake_x: tuple[FakeX, str]) -> None:
    """Its price is the worst case; what must fit today's budget before anyone is asked is its first page."""
    _, url = fake_x
    ex = executor(url, budget="1.00")
    tool = served_tools()["collect_x_api"]

    async def run() -> tuple[Any, Any, str | None]:
        try:
            checked = await ex.preflight(
                tool, {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 500}
            )
            assert not isinstance(checked, ToolOutcome)
            return checked, await ex.budget_refusal(tool, checked), ex.price(tool, checked)
        finally:
            await ex.aclose()

    checked, refused, price = anyio.run(run)
    assert checked.estimate.usd == Decimal("2.5") and checked.must_fit.usd == Decimal("0.5")
    assert refused is None
    assert price == "up to $2.500 (5 pages of searchPostsRecent, each up to 100 posts at $0.005)"


def test_a_first_page_over_the_budget_is_not_sent(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    outcome = collect(url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}}, budget="0.30")
    assert outcome.is_error and "daily budget" in outcome.text and fake.requests == []
    assert outcome.text.startswith("collect_x_api: nothing was collected: Not sent: this call could cost up to $0.500")
    assert not outcome.text.endswith("..")


# --- the size of the result ----------------------------------------------------------------------------


def test_stops_before_the_result_outgrows_max_result_bytes(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    fake.fail(SEARCH, page(0, 20, "t1", authors=()), page(20, 20, "t2", authors=()))
    outcome = collect(
        url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 500}, max_result_bytes=1_500
    )
    result = json.loads(outcome.text)
    assert result["stopped"]["reason"] == "max_result_bytes" and result["stopped"]["next_token"] == "t2"
    assert len(result["data"]) == 40 and len(fake.requests) == 2 and len(outcome.text.encode()) <= 1_500


def test_a_page_that_does_not_fit_is_left_out_and_read_again_on_resume(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    fake.fail(SEARCH, page(0, 5, "t1", authors=()), page(5, 100, "t2", authors=()))
    outcome = collect(
        url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 500}, max_result_bytes=1_500
    )
    result = json.loads(outcome.text)
    assert len(result["data"]) == 5  # page 2 did not fit: nothing of it is shown, none of it is lost
    assert result["stopped"]["reason"] == "max_result_bytes" and result["stopped"]["next_token"] == "t1"
    assert "page 2 did not fit" in result["stopped"]["why"]


# --- bad input: a clear error, nothing sent -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            {"tool": "nope", "arguments": {}},
            "'nope' is not a tool this server offers. Operations that page here: searchPostsRecent",
        ),
        ({"tool": "getUsersByUsername", "arguments": {"username": "jack"}}, "getUsersByUsername does not page"),
        ({"tool": "createPosts", "arguments": {"text": "hi"}}, "createPosts does not page"),
        ({"tool": "searchPostsRecent", "arguments": {}}, "missing required argument 'query'"),
        ({"tool": "searchPostsRecent", "arguments": {"query": "q", "max_results": 500}}, "'max_results'"),
        (
            {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 5000},
            "over this server's limit of 1,000",
        ),
        ({"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 0}, "'max_items'"),
        ({"tool": "searchPostsRecent", "argument": {"query": "q"}}, "did you mean 'arguments'"),
        (
            {"tool": "getUsersFollowers", "arguments": {"id": "12"}},
            "'getUsersFollowers' is not a tool this server offers",
        ),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    fake_x: tuple[FakeX, str], args: dict[str, Any], expected: str
) -> None:
    fake, url = fake_x
    allowed = frozenset(served_tools()) - {"getUsersFollowers"}  # as if the allowlist removed it
    outcome = collect(url, args, allowed=allowed)
    assert outcome.is_error and expected in outcome.text, outcome.text
    assert fake.requests == []


def test_dry_run_shows_the_first_page_and_sends_nothing(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    outcome = collect(url, {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 300}, dry_run=True)
    shown = json.loads(outcome.text)
    assert shown["method"] == "GET" and "max_results=100" in shown["url"] and fake.requests == []
    assert "follow meta.next_token up to 300 items" in outcome.note


# --- through the MCP server: one call, the allowlist, one question ----------------------------------------------


def call(
    url: str, name: str, args: dict[str, Any], *, mode: str = "auto", answer: str | None = None
) -> tuple[types.CallToolResult, list[str]]:
    return call_asking(url, name, args, mode=mode, answer=answer)


def text_of(result: types.CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return first.text


@pytest.fixture(scope="module")
def asking() -> Iterator[tuple[FakeX, str]]:
    """A server that asks before calls estimated above $0.25, and offers search and the collection only."""
    fake = FakeX()
    costs = {"X_API_BUDGET_USD": "20", "X_API_CONFIRM_COST_USD": "0.25", "X_API_CONFIRM_WRITES": "1"}
    allow = {"X_API_TOOL_ALLOWLIST": "collect_x_api,searchPostsRecent"}
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url, **costs, **allow)) as url:
        yield fake, url


@pytest.mark.parametrize("mode", MODES)
def test_five_pages_in_one_call_after_one_question_with_the_price(asking: tuple[FakeX, str], mode: str) -> None:
    fake, url = asking
    with fake.fresh():
        fake.fail(SEARCH, *(page(100 * n, 100, f"t{n + 1}" if n < 4 else None) for n in range(5)))
        args = {"tool": "searchPostsRecent", "arguments": {"query": "news"}, "max_items": 500}
        result, asked = call(url, "collect_x_api", args, mode=mode, answer="accept")
        assert not result.is_error, text_of(result)
        assert asked == [
            'Collect pages of an X list as the authorised X account: {"tool": "searchPostsRecent", "arguments": '
            '{"query": "news"}, "max_items": 500}. Price: up to $2.500 (5 pages of searchPostsRecent, each up to '
            "100 posts at $0.005)"
        ]
        collected = json.loads(text_of(result))
        assert len(collected["data"]) == 500 and collected["stopped"]["reason"] == "end"
        assert collected["stopped"]["pages"] == 5 and len(fake.requests) == 5
        cheap, asked = call(url, "collect_x_api", {**args, "max_items": 20}, mode=mode, answer="accept")
        assert not cheap.is_error and asked == []  # up to $0.100: below X_API_CONFIRM_COST_USD, not asked
    with fake.fresh():
        declined, asked = call(url, "collect_x_api", args, mode=mode, answer="decline")
        assert declined.is_error and "declined" in text_of(declined) and len(asked) == 1
        assert fake.requests == []


def test_a_client_that_cannot_ask_is_told_to_collect_less(asking: tuple[FakeX, str]) -> None:
    fake, url = asking
    with fake.fresh():
        result, _ = call(
            url, "collect_x_api", {"tool": "searchPostsRecent", "arguments": {"query": "q"}, "max_items": 500}
        )
        assert result.is_error and "a lower max_items, or a max_cost_usd" in text_of(result) and fake.requests == []


def test_the_collection_reaches_only_the_tools_the_allowlist_offers(asking: tuple[FakeX, str]) -> None:
    fake, url = asking
    with fake.fresh():
        result, asked = call(
            url, "collect_x_api", {"tool": "getUsersFollowers", "arguments": {"id": "12"}}, answer="accept"
        )
        text = text_of(result)
        assert result.is_error and "'getUsersFollowers' is not a tool this server offers" in text
        assert "Operations that page here: searchPostsRecent." in text
        assert asked == [] and fake.requests == []
