"""Every call has a price: estimated, held against the daily budget, charged on what X returned, shown.

End to end through the MCP server (a subprocess, the fake X scripted per test), and in process where
the clock or concurrency must be controlled.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from tests import fake_x as fx
from tests.asking import call_asking
from tests.conftest import catalog_for
from tests.fake_x import FakeX, Fault
from tests.servers import run_xapi_mcp, serve_asgi, server_env
from xapi_mcp.calls.executor import Executor, ToolOutcome
from xapi_mcp.calls.ledger import MemoryLedger
from xapi_mcp.calls.prices import shipped_prices
from xapi_mcp.calls.spending import META_KEY, Spending
from xapi_mcp.spec import load_spec
from xapi_mcp.stores import MemoryTokenStore

SEARCH = "/2/tweets/search/recent"
MODES = ["auto", "legacy"]  # 2026-07-28 (MRTR) and 2025-11-25 (pushed elicitation/create)
OWNER_ID = fx.ACCESS_TOKEN.split("-")[0]


def page(post_ids: list[int], user_ids: list[int] = ()) -> Fault:  # type: ignore[assignment]
    """X's answer to a search: these posts, and these users in `includes`."""
    body: dict[str, Any] = {"data": [{"id": str(i), "text": f"post {i}"} for i in post_ids]}
    if user_ids:
        body["includes"] = {"users": [{"id": str(i), "username": f"u{i}"} for i in user_ids]}
    body["meta"] = {"result_count": len(post_ids)}
    return Fault(status=200, body=json.dumps(body).encode())


def cost_of(result: types.CallToolResult) -> tuple[dict[str, Any], str]:
    """The result's `_meta` cost entry and its cost line (the last text block)."""
    assert result.meta is not None and META_KEY in result.meta, result
    last = result.content[-1]
    assert isinstance(last, types.TextContent)
    return result.meta[META_KEY], last.text


def text_of(result: types.CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return first.text


def call(
    url: str, name: str, args: dict[str, Any], *, mode: str = "auto", answer: str | None = None
) -> tuple[types.CallToolResult, list[str]]:
    return call_asking(url, name, args, mode=mode, answer=answer)


def cost_env(x_url: str, **extra: str) -> dict[str, str]:
    """The test servers' environment with cost counted: a budget, the confirmation threshold, a ledger."""
    settings = {"X_API_BUDGET_USD": "5", "X_API_CONFIRM_COST_USD": "off", "X_API_SPEND_DB": "memory", **extra}
    return server_env(x_url, **settings)


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(cost_env(x_url)) as url:
        yield fake, url


@pytest.fixture
def fake(stack: tuple[FakeX, str]) -> Iterator[FakeX]:
    with stack[0].fresh() as fake:
        yield fake


# --- reads: estimate, charge, once per resource per day ---------------------------------------------


def test_read_is_charged_for_what_x_returned_and_repeats_are_free(stack, fake: FakeX) -> None:
    url = stack[1]
    args = {"query": "cost test", "max_results": 10, "expansions": ["author_id"]}
    fake.fail(SEARCH, page([101, 102, 103, 104], [7, 8]))
    first, _ = call(url, "searchPostsRecent", args)
    assert not first.is_error, text_of(first)
    cost, line = cost_of(first)
    # Worst case: 10 posts at $0.005 + up to 10 authors at $0.010. Actual: 4 posts + 2 users.
    assert cost["estimate_usd"] == pytest.approx(0.15)
    assert cost["charged_usd"] == pytest.approx(0.04)
    assert cost["resources"] == {"Posts: Read": 4, "User: Read": 2}
    assert cost["budget_usd"] == 5.0
    assert line.startswith("cost $0.040 (4 posts, 2 users, 0 repeats")
    day_before = cost["day_total_usd"]

    fake.fail(SEARCH, page([103, 104, 105], [8]))  # two posts and the user already charged today
    second, _ = call(url, "searchPostsRecent", args)
    cost, line = cost_of(second)
    assert cost["charged_usd"] == pytest.approx(0.005) and cost["repeats"] == 3
    assert line.startswith("cost $0.005 (1 post, 3 repeats) · today ")
    assert cost["day_total_usd"] == pytest.approx(day_before + 0.005)
    assert "of $5.000 daily budget" in line


def test_post_costs_more_with_a_url(stack, fake: FakeX) -> None:
    url = stack[1]
    plain, _ = call(url, "createPosts", {"text": "no link here"})
    linked, _ = call(url, "createPosts", {"text": "read example.com/launch today"})
    assert not plain.is_error and not linked.is_error
    assert cost_of(plain)[0]["charged_usd"] == pytest.approx(0.015)
    assert cost_of(plain)[0]["resources"] == {"Content: Create": 1}
    assert cost_of(linked)[0]["charged_usd"] == pytest.approx(0.2)
    assert cost_of(linked)[0]["resources"] == {"Content: Create with URL": 1}
    assert cost_of(linked)[1].startswith("cost $0.200 (1 × Content: Create with URL)")


# --- the daily budget ------------------------------------------------------------------------------


def test_a_call_over_the_budget_is_refused_before_anything_is_sent() -> None:
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(cost_env(x_url, X_API_BUDGET_USD="0.10")) as url:
        refused, _ = call(url, "searchPostsRecent", {"query": "everything", "max_results": 100})
        assert refused.is_error
        message = text_of(refused)
        assert "could cost up to $0.500" in message and "100 posts at $0.005" in message
        assert "today's X API spend is $0.000" in message and "$0.100 daily budget" in message
        assert "lower max_results" in message and "raise X_API_BUDGET_USD" in message
        assert fake.requests == []  # nothing reached X
        assert cost_of(refused)[0]["charged_usd"] == 0
        small, _ = call(url, "searchPostsRecent", {"query": "a little", "max_results": 10})
        assert not small.is_error and len(fake.requests) == 1  # within the budget: sent


def test_the_spend_survives_a_restart(tmp_path: Path) -> None:
    fake = FakeX()
    env = {"X_API_SPEND_DB": str(tmp_path / "spend.sqlite3")}
    with serve_asgi(fake.app()) as x_url:
        with run_xapi_mcp(cost_env(x_url, **env)) as url:
            first, _ = call(url, "createPosts", {"text": "before the restart"})
            assert cost_of(first)[0]["day_total_usd"] == pytest.approx(0.015)
        with run_xapi_mcp(cost_env(x_url, **env)) as url:
            second, _ = call(url, "createPosts", {"text": "after the restart"})
            assert cost_of(second)[0]["day_total_usd"] == pytest.approx(0.03)
            assert "today $0.030 of $5.000 daily budget" in cost_of(second)[1]


# --- asking the person about expensive calls ----------------------------------------------------


@pytest.fixture(scope="module")
def asking() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    env = cost_env("", X_API_CONFIRM_COST_USD="0.25", X_API_CONFIRM_WRITES="1")
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp({**env, "X_API_BASE_URL": x_url}) as url:
        yield fake, url


@pytest.mark.parametrize("mode", MODES)
def test_a_read_estimated_above_the_threshold_asks_first(asking, mode: str) -> None:
    fake, url = asking
    with fake.fresh():
        fake.fail(SEARCH, page([1, 2]))
        result, asked = call(
            url, "searchPostsRecent", {"query": "a lot", "max_results": 100}, mode=mode, answer="accept"
        )
        assert not result.is_error, text_of(result)
        assert len(asked) == 1 and "Price: up to $0.500 (up to 100 posts at $0.005)" in asked[0]
        assert fake.count(SEARCH) == 1
        cheap, asked = call(
            url, "searchPostsRecent", {"query": "a little", "max_results": 10}, mode=mode, answer="accept"
        )
        assert not cheap.is_error and asked == []  # $0.050 at most: below the threshold, not asked
    with fake.fresh():
        declined, asked = call(
            url, "searchPostsRecent", {"query": "a lot", "max_results": 100}, mode=mode, answer="decline"
        )
        assert declined.is_error and "declined" in text_of(declined) and len(asked) == 1
        assert fake.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_a_posts_question_states_its_price_and_the_url_surcharge(asking, mode: str) -> None:
    fake, url = asking
    with fake.fresh():
        result, asked = call(url, "createPosts", {"text": "launch: https://example.com/x"}, mode=mode, answer="accept")
        assert not result.is_error
        assert "Price: $0.200 instead of $0.015, because the text has a URL (https://example.com/x)" in asked[0]


def test_a_client_that_cannot_ask_is_told_how_to_proceed(asking) -> None:
    fake, url = asking
    with fake.fresh():
        result, _ = call(url, "searchPostsRecent", {"query": "a lot", "max_results": 100})
        assert result.is_error and fake.requests == []
        assert "X_API_CONFIRM_COST_USD" in text_of(result) and "lower max_results" in text_of(result)


# --- X says the money ran out ------------------------------------------------------------------------

BILLING = {
    "credits-depleted": Fault(
        status=402,
        body=b'{"title":"CreditsDepleted","detail":"Your account has no credits.","type":"https://api.x.com/2/problems/credits-depleted"}',
    ),
    "usage-capped": Fault(
        status=429,
        body=b'{"title":"UsageCapExceeded","detail":"Usage cap exceeded: Monthly product cap","period":"Monthly",'
        b'"scope":"Product","type":"https://api.x.com/2/problems/usage-capped"}',
    ),
    "client-not-enrolled": Fault(
        status=403,
        body=b'{"title":"Client Forbidden","reason":"client-not-enrolled","registration_url":"https://console.x.com/enrol",'
        b'"type":"https://api.x.com/2/problems/client-forbidden"}',
    ),
}
FIX = {"credits-depleted": "buy credits", "usage-capped": "Raise the spending limit", "client-not-enrolled": "Enrol it"}


@pytest.mark.parametrize("kind", list(BILLING))
def test_billing_refusals_are_not_retried_and_pause_billable_calls(kind: str) -> None:
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(cost_env(x_url)) as url:
        fake.fail(SEARCH, BILLING[kind])
        refused, _ = call(url, "searchPostsRecent", {"query": "x", "max_results": 10})
        message = text_of(refused)
        assert refused.is_error and FIX[kind] in message and "console.x.com" in message
        assert "paused here until" in message
        assert fake.count(SEARCH) == 1  # not retried
        if kind == "usage-capped":
            assert "not a rate limit" in message
            first_of_next_month = "-01 00:00 UTC"
            assert first_of_next_month in message
        # Another billable call is refused here, without asking X.
        again, _ = call(url, "createPosts", {"text": "hello"})
        assert again.is_error and "Not sent:" in text_of(again) and "left)" in text_of(again)
        assert fake.count("/2/tweets") == 0
        assert cost_of(refused)[0]["charged_usd"] == 0


def test_a_rate_limit_is_still_a_rate_limit_and_pauses_nothing_else() -> None:
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(cost_env(x_url)) as url:
        reset = int(datetime.now(UTC).timestamp()) + 600
        limited = Fault(
            status=429,
            body=b'{"title":"Too Many Requests","type":"https://api.x.com/2/problems/rate-limit-exceeded"}',
            headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
        )
        fake.fail(SEARCH, limited)
        result, _ = call(url, "searchPostsRecent", {"query": "x", "max_results": 10})
        assert result.is_error and "rate limit" in text_of(result).lower() and "paused here" not in text_of(result)
        post, _ = call(url, "createPosts", {"text": "other endpoints still work"})
        assert not post.is_error and fake.count("/2/tweets") == 1


# --- X's self-serve posting rules ---------------------------------------------------------------


def test_posting_rules_refuse_locally_on_pay_per_use(stack, fake: FakeX) -> None:
    url = stack[1]
    cashtags, _ = call(url, "createPosts", {"text": "$AAPL and $TSLA today"})
    assert cashtags.is_error and "maximum of 1 cashtag" in text_of(cashtags)
    quote, _ = call(url, "createPosts", {"text": "look", "quote_tweet_id": "1445880548472328192"})
    assert quote.is_error and "Enterprise" in text_of(quote)
    assert fake.requests == []
    fake.fail("/2/tweets", Fault(status=403, body=b'{"title":"Forbidden","detail":"Reply not allowed"}'))
    reply, _ = call(url, "createPosts", {"text": "hi", "reply": {"in_reply_to_tweet_id": "1445880548472328192"}})
    assert reply.is_error and "summoned" in text_of(reply) and fake.count("/2/tweets") == 1


def test_enterprise_plan_sends_what_pay_per_use_refuses() -> None:
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(cost_env(x_url, X_API_PLAN="enterprise")) as url:
        sent, _ = call(url, "createPosts", {"text": "$AAPL and $TSLA today"})
        assert not sent.is_error and fake.count("/2/tweets") == 1


# --- in process: the clock, concurrency, Owned Reads --------------------------------------------


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def spending_executor(
    x_url: str, ledger: MemoryLedger, clock: Clock, store: MemoryTokenStore | None = None
) -> Executor:
    document = load_spec("bundled", Path("/nonexistent")).document
    tools = catalog_for("2.159").tools
    owner = lambda kind: OWNER_ID if kind.name == "OAUTH1_USER" else None  # noqa: E731
    spending = Spending(document, shipped_prices(), ledger, owner_of=owner, now=clock)
    store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    return Executor(x_url, store, tools=tools, spending=spending, max_retries=0)


def test_repeats_are_charged_again_after_utc_midnight(fake_x) -> None:
    fake, x_url = fake_x
    clock = Clock(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    ledger = MemoryLedger(Decimal(5), now=clock)
    executor = spending_executor(x_url, ledger, clock)
    tool = catalog_for("2.159").tools["searchPostsRecent"]

    async def search() -> ToolOutcome:
        fake.fail(SEARCH, page([1, 2, 3]))
        return await executor.call(tool, {"query": "midnight", "max_results": 10})

    async def run() -> list[ToolOutcome]:
        try:
            first, again = await search(), await search()
            clock.now += timedelta(minutes=2)  # 00:01 UTC: a new billing day
            return [first, again, await search()]
        finally:
            await executor.aclose()

    outcomes = anyio.run(run)
    charged = [outcome.cost[0]["charged_usd"] for outcome in outcomes if outcome.cost]
    assert charged == [pytest.approx(0.015), 0, pytest.approx(0.015)]
    assert outcomes[2].cost is not None and outcomes[2].cost[0]["day_total_usd"] == pytest.approx(0.015)


def test_concurrent_calls_never_overspend_the_budget(fake_x) -> None:
    fake, x_url = fake_x
    clock = Clock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    ledger = MemoryLedger(Decimal("1.00"), now=clock)
    executor = spending_executor(x_url, ledger, clock)
    tool = catalog_for("2.159").tools["searchPostsRecent"]
    pages = [json.dumps({"data": [{"id": str(n * 1000 + i), "text": "x"} for i in range(100)]}) for n in range(2)]
    fake.fail(SEARCH, *[Fault(status=200, body=body.encode(), delay=0.3) for body in pages])
    outcomes: list[ToolOutcome] = []

    async def one() -> None:
        outcomes.append(await executor.call(tool, {"query": "race", "max_results": 100}))  # $0.500 at most

    async def run() -> None:
        try:
            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(one)
        finally:
            await executor.aclose()

    anyio.run(run)
    sent = [o for o in outcomes if not o.is_error]
    assert fake.count(SEARCH) == 2 and len(sent) == 2  # $1.00 holds two $0.50 estimates, not ten
    assert all("daily budget" in o.text for o in outcomes if o.is_error)
    assert anyio.run(ledger.day_total, ledger.today()) == Decimal("1.000")


def test_owned_reads_bill_the_owner_rate_only_for_the_owner(fake_x) -> None:
    fake, x_url = fake_x
    clock = Clock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    ledger = MemoryLedger(None, now=clock)
    executor = spending_executor(x_url, ledger, clock)
    tool = catalog_for("2.159").tools["getUsersPosts"]

    async def run() -> list[ToolOutcome]:
        try:
            results = []
            for user, first in ((OWNER_ID, 10), ("12", 20)):
                fake.fail(f"/2/users/{user}/tweets", page([first, first + 1]))
                results.append(await executor.call(tool, {"id": user, "max_results": 5}))
            return results
        finally:
            await executor.aclose()

    own, other = anyio.run(run)
    assert own.cost is not None and own.cost[0]["resources"] == {"Owned Reads": 2}
    assert own.cost[0]["charged_usd"] == pytest.approx(0.002)
    assert other.cost is not None and other.cost[0]["resources"] == {"Posts: Read": 2}
    assert other.cost[0]["charged_usd"] == pytest.approx(0.01)


# --- what was spent: usage_x_api and `xapi-mcp usage` --------------------------------------------


def x_usage_answer(today_posts: int) -> Fault:
    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00.000Z")
    body = {
        "data": {
            "project_usage": 12345,
            "project_cap": 3000000,
            "cap_reset_day": 9,
            "daily_project_usage": {"project_id": 1, "usage": [{"date": today, "usage": today_posts}]},
        }
    }
    return Fault(status=200, body=json.dumps(body).encode())


def test_usage_report_puts_our_count_beside_xs(tmp_path: Path) -> None:
    fake = FakeX()
    env = {"X_API_SPEND_DB": str(tmp_path / "spend.sqlite3")}
    with serve_asgi(fake.app()) as x_url:
        with run_xapi_mcp(cost_env(x_url, **env)) as url:
            fake.fail(SEARCH, page([1, 2, 3]))
            call(url, "searchPostsRecent", {"query": "usage", "max_results": 10})
            call(url, "createPosts", {"text": "one post"})
            fake.fail("/2/usage/tweets", x_usage_answer(3))
            report, _ = call(url, "usage_x_api", {})
        assert not report.is_error
        text = text_of(report)
        assert "$0.030 of $5.000 daily budget ($4.970 left)" in text
        assert "searchPostsRecent $0.015 (1 call: 3 × Posts: Read)" in text
        assert "createPosts $0.015 (1 call: 1 × Content: Create)" in text
        assert "posts read today 3 (this server counted 3); this month 12,345 of 3,000,000" in text
        assert report.meta is None or META_KEY not in report.meta  # the report states the spend itself
        usage_request = [r for r in fake.requests if r.path == "/2/usage/tweets"]
        assert len(usage_request) == 1 and usage_request[0].auth_kind == "bearer"

        # The command line reads the same ledger; with no bearer token it says why X's figures are missing.
        cli_env = {k: v for k, v in cost_env(x_url, **env).items() if k != "X_BEARER_TOKEN"}
        done = subprocess.run(
            [sys.executable, "-m", "xapi_mcp", "--spec", "bundled", "usage", "--json"],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["spent_usd"] == pytest.approx(0.03) and data["by_category"]["Posts: Read"] == 3
        assert "X_BEARER_TOKEN" in data["x"]["unavailable"]
