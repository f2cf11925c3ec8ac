"""The spend ledger: budget refusal, reservations under concurrency, UTC-day dedup, surviving a restart.

The contract tests run on every kind: memory, SQLite and Redis (a real redis-server, tests/redis_server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis

from xapi_mcp.calls.cost import Charge
from xapi_mcp.calls.ledger import (
    BudgetExceeded,
    MemoryLedger,
    SpendLedger,
    SqliteLedger,
    ToolSpend,
    budget_from_env,
    open_ledger,
    spend_db_path,
)
from xapi_mcp.calls.ledger_redis import RedisLedger

D = Decimal
T = TypeVar("T")
ONE_DOLLAR = D("1.00")


class Clock:
    """A settable UTC clock: days change when the test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


LedgerFactory = Callable[..., SpendLedger]


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 30, 21, 15, tzinfo=UTC))


_RUNNER: list[asyncio.Runner] = []


@pytest.fixture(autouse=True)
def loop() -> Iterator[None]:
    """One event loop per test for `run`: a Redis client's connections belong to the loop that opened them."""
    with asyncio.Runner() as runner:
        _RUNNER.append(runner)
        try:
            yield
        finally:
            _RUNNER.remove(runner)


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock, loop: None) -> Iterator[LedgerFactory]:
    """Builds ledgers of one kind; SQLite ones made by one test share a file, Redis ones a server (each with its
    own client), like processes would."""
    opened: list[SqliteLedger] = []
    clients: list[aioredis.Redis] = []

    def factory(budget: Decimal | None = ONE_DOLLAR) -> SpendLedger:
        if request.param == "memory":
            return MemoryLedger(budget, now=clock)
        if request.param == "redis":
            clients.append(aioredis.Redis.from_url(request.getfixturevalue("redis_url")))
            return RedisLedger(clients[-1], budget=budget, now=clock)
        ledger = SqliteLedger(tmp_path / "state" / "spend.sqlite3", budget, now=clock)
        opened.append(ledger)
        return ledger

    yield factory
    for ledger in opened:
        ledger.close()
    for client in clients:
        run(client.aclose())


def paid(usd: str, **resources: int) -> Charge:
    keys = frozenset(f"post:{i}" for i in range(resources.get("posts", 0)))
    return Charge(D(usd), {"Posts: Read": resources["posts"]} if "posts" in resources else {}, 0, keys)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return _RUNNER[-1].run(coroutine)


def test_estimate_reserved_then_settled_on_the_actual(make: LedgerFactory) -> None:
    ledger = make()

    async def go() -> tuple[Decimal, dict[str, ToolSpend]]:
        hold = await ledger.reserve("searchPostsRecent", D("0.500"), "up to 100 posts at $0.005")
        await ledger.settle(hold, paid("0.185", posts=37))
        second = await ledger.reserve("searchPostsRecent", D("0.050"))
        await ledger.settle(second, paid("0.010", posts=2))
        await ledger.settle(await ledger.reserve("getUsage", D(0)), Charge(D(0), {}, priced=False))
        return await ledger.day_total(ledger.today()), await ledger.by_tool(ledger.today())

    total, tools = run(go())
    assert total == D("0.195")
    assert tools == {
        "searchPostsRecent": ToolSpend(D("0.195"), 2, {"Posts: Read": 39}),
        "getUsage": ToolSpend(D(0), 1, {}),
    }


def test_a_call_that_could_cross_the_budget_is_refused_with_the_numbers_and_the_fix(
    make: LedgerFactory, clock: Clock
) -> None:
    ledger = make(D("1.00"))

    async def go() -> BudgetExceeded:
        await ledger.settle(await ledger.reserve("searchPostsRecent", D("0.80")), paid("0.80"))
        running = await ledger.reserve("getUsersByIds", D("0.10"))
        with pytest.raises(BudgetExceeded) as refused:
            await ledger.reserve("searchPostsRecent", D("0.500"), "up to 100 posts at $0.005")
        await ledger.release(running)
        return refused.value

    error = run(go())
    assert (error.estimate, error.spent, error.reserved, error.budget) == (D("0.500"), D("0.80"), D("0.10"), D("1.00"))
    assert error.resets_at == datetime(2026, 12, 1, tzinfo=UTC)
    message = str(error)
    for part in (
        "could cost up to $0.500 (up to 100 posts at $0.005)",
        "today's X API spend is $0.800 (+$0.100 held by calls still running) of the $1.000 daily budget",
        "in 2 h 45 min",
        "lower max_results",
        "raise X_API_BUDGET_USD",
    ):
        assert part in message
    # The refused call held nothing; what is left still fits.
    run(ledger.reserve("searchPostsRecent", D("0.200")))


def test_releasing_and_settling_low_free_the_budget(make: LedgerFactory) -> None:
    ledger = make(D("1.00"))

    async def go() -> None:
        first = await ledger.reserve("a", D("0.60"))
        with pytest.raises(BudgetExceeded):
            await ledger.reserve("b", D("0.60"))
        await ledger.release(first)
        second = await ledger.reserve("b", D("0.60"))
        await ledger.settle(second, paid("0.05"))
        await ledger.reserve("c", D("0.95"))  # 0.05 spent + 0.95 held = the budget exactly
        with pytest.raises(BudgetExceeded):
            await ledger.reserve("d", D("0.001"))

    run(go())


def test_no_budget_and_free_calls(make: LedgerFactory) -> None:
    unlimited = make(None)
    # Ledgers on one SQLite file share their holds: release this one before the next ledger counts.
    run(unlimited.release(run(unlimited.reserve("searchPostsAll", D("250.00")))))
    ledger = make(D("0.10"))

    async def go() -> None:
        await ledger.settle(await ledger.reserve("a", D("0.10")), paid("0.30"))  # X returned more than estimated
        with pytest.raises(BudgetExceeded):
            await ledger.reserve("a", D("0.005"))
        await ledger.reserve("getUsage", D(0))  # an unpriced call is not blocked by the budget

    run(go())


def test_dedup_across_calls_resets_at_utc_midnight(make: LedgerFactory, clock: Clock) -> None:
    ledger = make()
    clock.now = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)

    async def go() -> None:
        day = ledger.today()
        await ledger.settle(await ledger.reserve("search", D("0.05")), paid("0.010", posts=2))
        assert await ledger.seen(day, ["post:0", "post:1", "post:2"]) == {"post:0", "post:1"}
        await ledger.mark_seen(day, ["user:9"])
        assert await ledger.seen(day, ["user:9"]) == {"user:9"}
        clock.advance(seconds=1)  # 00:00:00 UTC: a new billing day
        tomorrow = ledger.today()
        assert tomorrow != day
        assert await ledger.seen(tomorrow, ["post:0", "post:1", "user:9"]) == set()
        assert await ledger.day_total(tomorrow) == 0
        await ledger.settle(await ledger.reserve("search", D("0.05")), paid("0.005", posts=1))
        assert await ledger.seen(tomorrow, ["post:0", "post:1"]) == {"post:0"}
        assert await ledger.day_total(tomorrow) == D("0.005")
        assert await ledger.day_total(day) == D("0.010")  # yesterday's spend is kept

    run(go())


def test_yesterdays_holds_do_not_count_today(make: LedgerFactory, clock: Clock) -> None:
    ledger = make(D("1.00"))
    clock.now = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    run(ledger.reserve("a", D("0.90")))
    clock.advance(minutes=2)
    run(ledger.reserve("a", D("0.90")))


def test_a_hold_left_by_a_crashed_call_expires(make: LedgerFactory, clock: Clock) -> None:
    ledger = make(D("1.00"))
    run(ledger.reserve("a", D("0.90")))  # never settled nor released
    with pytest.raises(BudgetExceeded):
        run(ledger.reserve("a", D("0.90")))
    clock.advance(minutes=11)
    run(ledger.reserve("a", D("0.90")))


def test_concurrent_reservations_never_exceed_the_budget(make: LedgerFactory) -> None:
    ledger = make(D("1.00"))

    async def attempt() -> bool:
        try:
            await ledger.reserve("searchPostsRecent", D("0.30"))
        except BudgetExceeded:
            return False
        return True

    async def go() -> list[bool]:
        return await asyncio.gather(*(attempt() for _ in range(50)))

    assert sum(run(go())) == 3  # 3 × $0.30 fit in $1.00; the fourth would not


class SlowCheckMemory(MemoryLedger):
    """Widens the window between reading today's spend and holding the estimate, so a race would show."""

    def _check(self, *args: Any) -> None:
        time.sleep(0.002)
        super()._check(*args)


class SlowCheckSqlite(SqliteLedger):
    def _check(self, *args: Any) -> None:
        time.sleep(0.002)
        super()._check(*args)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_concurrent_reservations_from_threads_and_separate_connections(kind: str, tmp_path: Path, clock: Clock) -> None:
    # Memory: one ledger used from 8 threads. SQLite: 8 connections to one file, as 8 processes would have.
    shared = SlowCheckMemory(ONE_DOLLAR, now=clock)
    ledgers: list[SpendLedger] = [
        shared if kind == "memory" else SlowCheckSqlite(tmp_path / "spend.sqlite3", ONE_DOLLAR, now=clock)
        for _ in range(8)
    ]
    granted: list[Decimal] = []
    start = threading.Barrier(len(ledgers))

    def worker(ledger: SpendLedger) -> None:
        start.wait()
        for _ in range(5):
            with contextlib.suppress(BudgetExceeded):
                granted.append(asyncio.run(ledger.reserve("x", D("0.07"))).usd)

    threads = [threading.Thread(target=worker, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ledger in ledgers:
        if isinstance(ledger, SqliteLedger):
            ledger.close()
    assert sum(granted) <= ONE_DOLLAR
    assert len(granted) == 14  # 14 × $0.07 = $0.98: every hold that fits was granted, none beyond


def test_sqlite_ledger_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "spend.sqlite3"
    first = SqliteLedger(path, D("1.00"), now=clock)

    async def before() -> None:
        await first.settle(await first.reserve("searchPostsRecent", D("0.5")), paid("0.015", posts=3))
        await first.reserve("getUsersByIds", D("0.30"))  # in flight when the process stops

    run(before())
    first.close()
    again = SqliteLedger(path, D("1.00"), now=clock)
    day = again.today()
    assert run(again.day_total(day)) == D("0.015")
    assert run(again.by_tool(day)) == {"searchPostsRecent": ToolSpend(D("0.015"), 1, {"Posts: Read": 3})}
    assert run(again.seen(day, ["post:0", "post:2", "post:3"])) == {"post:0", "post:2"}
    with pytest.raises(BudgetExceeded) as refused:
        run(again.reserve("x", D("0.70")))
    assert refused.value.reserved == D("0.30")
    again.close()


def test_the_days_charged_keys_are_read_from_the_file(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "spend.sqlite3"
    first, second = SqliteLedger(path, None, now=clock), SqliteLedger(path, None, now=clock)
    keys = [f"post:{i}" for i in range(1800)]
    run(first.mark_seen(first.today(), keys[::2]))
    # Another process sharing the file sees what was charged before it first looked at the day.
    assert run(second.seen(second.today(), keys)) == set(keys[::2])
    first.close()
    second.close()


def test_settings(tmp_path: Path) -> None:
    assert budget_from_env({}) == D("5.00")
    assert budget_from_env({"X_API_BUDGET_USD": "$12.5"}) == D("12.5")
    assert budget_from_env({"X_API_BUDGET_USD": "off"}) is None
    for bad in ("-1", "five", "inf"):
        with pytest.raises(ValueError, match="USD per UTC day"):
            budget_from_env({"X_API_BUDGET_USD": bad})
    assert spend_db_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "xapi-mcp" / "spend.sqlite3"
    assert spend_db_path({}) == Path.home() / ".local" / "state" / "xapi-mcp" / "spend.sqlite3"
    assert spend_db_path({"X_API_SPEND_DB": "Memory"}) is None
    assert spend_db_path({"X_API_SPEND_DB": str(tmp_path / "x.db")}) == tmp_path / "x.db"
    assert isinstance(open_ledger({"X_API_SPEND_DB": "memory"}), MemoryLedger)
    ledger = open_ledger({"XDG_STATE_HOME": str(tmp_path / "state"), "X_API_BUDGET_USD": "2"})
    assert isinstance(ledger, SqliteLedger) and ledger.budget == D("2")
    assert ledger.path == tmp_path / "state" / "xapi-mcp" / "spend.sqlite3" and ledger.path.exists()
    ledger.close()
