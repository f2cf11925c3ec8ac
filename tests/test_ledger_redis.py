"""The Redis spend ledger beyond the common contract (tests/test_ledger.py runs that on Redis too):
replicas with their own clients, budgets per person and a deployment cap, the key layout and its
lifetimes, two round trips per call, and a Redis that does not answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.redis_server import counting_client, redis_server_binary, start_redis, stop_redis
from tests.servers import free_port
from xapi_mcp.calls.cost import Charge
from xapi_mcp.calls.ledger import BudgetExceeded, Reservation, ToolSpend
from xapi_mcp.calls.ledger_redis import DeploymentCapExceeded, RedisLedger
from xapi_mcp.errors import StateUnavailable
from xapi_mcp.redis_state import connect

D = Decimal
START = datetime(2026, 11, 30, 21, 15, tzinfo=UTC)


def paid(usd: str, *keys: str) -> Charge:
    return Charge(D(usd), {"Posts: Read": len(keys)} if keys else {}, 0, frozenset(keys))


def with_clients(count: int, url: str, test: Callable[..., Awaitable[None]]) -> None:
    """Runs `test(*clients)` with `count` separate clients (connection pools), as separate replicas have."""

    async def go() -> None:
        clients = [aioredis.Redis.from_url(url) for _ in range(count)]
        try:
            await test(*clients)
        finally:
            for client in clients:
                await client.aclose()

    asyncio.run(go())


@pytest.mark.redis
def test_two_replicas_racing_never_cross_the_budget(redis_url: str) -> None:
    # Two clients, 40 concurrent reserves each: the Lua script checks and holds in one step, so exactly the
    # 14 holds of $0.07 that fit in $1.00 are granted, whichever replica asked.
    async def test(first: aioredis.Redis, second: aioredis.Redis) -> None:
        replicas = [RedisLedger(first, budget=D("1.00")), RedisLedger(second, budget=D("1.00"))]

        async def attempt(ledger: RedisLedger) -> Decimal:
            with contextlib.suppress(BudgetExceeded):
                return (await ledger.reserve("searchPostsRecent", D("0.07"))).usd
            return D(0)

        granted = await asyncio.gather(*(attempt(replicas[i % 2]) for i in range(80)))
        assert sum(granted) == D("0.98") and sum(1 for g in granted if g) == 14

    with_clients(2, redis_url, test)


@pytest.mark.redis
def test_budgets_are_per_person_and_the_deployment_cap_covers_everyone(redis_url: str) -> None:
    async def test(first: aioredis.Redis, second: aioredis.Redis) -> None:
        alice = RedisLedger(first, person="alice", budget=D("1.00"), deployment_cap=D("1.50"), now=lambda: START)
        bob = RedisLedger(second, person="bob", budget=D("1.00"), deployment_cap=D("1.50"), now=lambda: START)
        await alice.settle(await alice.reserve("searchPostsRecent", D("0.50")), paid("0.40", "post:1"))
        running = await alice.reserve("getUsersByIds", D("0.50"))  # alice: 0.40 spent + 0.50 held
        with pytest.raises(BudgetExceeded) as over_budget:
            await alice.reserve("x", D("0.20"))
        assert not isinstance(over_budget.value, DeploymentCapExceeded)
        assert (over_budget.value.spent, over_budget.value.reserved) == (D("0.40"), D("0.50"))
        # Bob's own budget is untouched, but everyone together (0.40 + 0.50 + 0.70) would pass the $1.50 cap.
        with pytest.raises(DeploymentCapExceeded) as over_cap:
            await bob.reserve("searchPostsRecent", D("0.70"), "up to 100 posts at $0.007")
        error = over_cap.value
        assert (error.spent, error.reserved, error.budget) == (D("0.40"), D("0.50"), D("1.50"))
        assert "spend of everyone using this server is $0.400 (+$0.500 held" in str(error)
        assert "deployment's $1.500 daily cap" in str(error) and "raise the cap" in str(error)
        await bob.settle(await bob.reserve("searchPostsRecent", D("0.60")), paid("0.05", "post:2"))
        await alice.release(running)
        day = alice.today()
        assert await alice.day_total(day) == D("0.40") and await bob.day_total(day) == D("0.05")
        assert await bob.deployment_total(day) == D("0.45")
        assert await bob.by_tool(day) == {"searchPostsRecent": ToolSpend(D("0.05"), 1, {"Posts: Read": 1})}
        # for_person shares the client: a third person on the same replica has the whole budget but not the cap.
        carol = alice.for_person("carol", D("5.00"))
        await carol.reserve("x", D("1.05"))  # 0.45 + 1.05 = the cap exactly
        with pytest.raises(DeploymentCapExceeded):
            await carol.reserve("x", D("0.001"))

    with_clients(2, redis_url, test)


@pytest.mark.redis
def test_charged_keys_are_shared_by_replicas_and_people(redis_url: str) -> None:
    # X dedups per developer app, which every person of a deployment uses: a post charged through one
    # replica for alice is not charged again through another for bob the same day.
    async def test(first: aioredis.Redis, second: aioredis.Redis) -> None:
        alice = RedisLedger(first, person="alice", now=lambda: START)
        bob = RedisLedger(second, person="bob", now=lambda: START)
        day = alice.today()
        assert await bob.seen(day, ["post:1"]) == set()  # bob's replica has read the day's (empty) list
        await alice.settle(await alice.reserve("search", D("0.05")), paid("0.010", "post:1", "post:2"))
        await alice.mark_seen(day, ["user:7"])
        await bob.reserve("search", D("0.05"))  # brings the keys charged elsewhere since bob's replica last looked
        assert await bob.seen(day, ["post:1", "post:2", "post:3", "user:7"]) == {"post:1", "post:2", "user:7"}

    with_clients(2, redis_url, test)


@pytest.mark.redis
def test_a_call_costs_two_round_trips(redis_url: str) -> None:
    async def test() -> None:
        client, counter = counting_client(redis_url)
        ledger = RedisLedger(client, now=lambda: START)
        day = ledger.today()
        await ledger.settle(await ledger.reserve("warm", D("0.01")), paid("0.005", "post:0"))  # connect, load
        trips = []
        for n in range(1, 6):
            before = counter.sent
            hold = await ledger.reserve("searchPostsRecent", D("0.05"))
            already = await ledger.seen(day, [f"post:{n - 1}", f"post:{n}"])
            await ledger.settle(hold, paid("0.005", f"post:{n}"))
            total = await ledger.day_total(day)  # the cost line after the call
            trips.append(counter.sent - before)
            assert already == {f"post:{n - 1}"} and total == D("0.005") * (n + 1)
        assert trips == [2] * 5  # reserve: one script; seen: none; settle: the other script; day_total: none
        await client.aclose()

    asyncio.run(test())


@pytest.mark.redis
def test_day_total_reads_other_replicas_once_the_settled_total_is_not_fresh(redis_url: str) -> None:
    async def test(first: aioredis.Redis, second: aioredis.Redis) -> None:
        here = RedisLedger(first, person="alice", now=lambda: START, total_fresh_for=0)
        there = RedisLedger(second, person="alice", now=lambda: START)
        await here.settle(await here.reserve("a", D("0.05")), paid("0.02"))
        await there.settle(await there.reserve("a", D("0.05")), paid("0.03"))
        assert await here.day_total(here.today()) == D("0.05")
        assert await there.day_total(there.today()) == D("0.05")  # its own settle returned the total after both

    with_clients(2, redis_url, test)


@pytest.mark.redis
def test_key_layout_and_lifetimes(redis_url: str) -> None:
    async def test(client: aioredis.Redis) -> None:
        ledger = RedisLedger(client, person="id:42 {x}", deployment_cap=D("100"), now=lambda: START, prefix="t")
        hold = await ledger.reserve("getUsers", D("0.5"))
        await ledger.reserve("getUsers", D("0.25"))  # left held
        await ledger.settle(hold, paid("0.01", "post:1"))
        keys = sorted(k.decode() for k in await client.keys("*"))
        person = "id%3A42%20%7Bx%7D"  # percent-encoded: no ':' or '{' of a person's id reaches the key's shape
        assert keys == [
            "t:held:*:2026-11-30",
            f"t:held:{person}:2026-11-30",
            "t:seen:2026-11-30",
            "t:spend:*:2026-11-30",
            f"t:spend:{person}:2026-11-30",
        ]
        # Lifetimes, from the injected clock (21:15 UTC): charged keys until the day ends (+1 h for calls that
        # straddle midnight), holds RESERVATION_TTL (+1 min), spend kept 35 days after its day.
        assert await client.ttl("t:seen:2026-11-30") == pytest.approx(2 * 3600 + 45 * 60 + 3600, abs=5)
        assert await client.ttl(f"t:held:{person}:2026-11-30") == pytest.approx(11 * 60, abs=5)
        spend_ttl = await client.ttl(f"t:spend:{person}:2026-11-30")
        assert spend_ttl == pytest.approx(35 * 86400 + 2 * 3600 + 45 * 60 + 3600, abs=5)
        assert await client.zcard(f"t:held:{person}:2026-11-30") == 1

    with_clients(1, redis_url, test)


@pytest.mark.redis
def test_a_client_clock_hours_behind_real_time_deletes_nothing_early(redis_url: str) -> None:
    # Lifetimes are relative to the injected clock, never absolute times that may already be past for Redis.
    async def test(client: aioredis.Redis) -> None:
        ledger = RedisLedger(client, now=lambda: datetime(2020, 1, 1, 23, 0, tzinfo=UTC))
        await ledger.settle(await ledger.reserve("a", D("0.1")), paid("0.02", "post:9"))
        assert await ledger.day_total(ledger.today()) == D("0.02")
        assert await client.ttl("xapi-mcp:seen:2020-01-01") > 3600

    with_clients(1, redis_url, test)


def test_redis_down_fails_the_call_with_a_retry_hint_and_no_password() -> None:
    async def test() -> None:
        client = connect(f"redis://:hunter2-not-shown@127.0.0.1:{free_port()}/0", timeout=0.5)
        ledger = RedisLedger(client, budget=D("1"))
        with pytest.raises(StateUnavailable) as refused:
            await ledger.reserve("createPosts", D("0.01"))
        message = str(refused.value)
        assert "did not answer while reserving this call's cost" in message and "Nothing was sent to X." in message
        assert "Try again in a few seconds" in message and "X_MCP_REDIS_URL" in message
        assert "hunter2" not in message
        with pytest.raises(StateUnavailable, match=r"may have billed \$0.010"):
            await ledger.settle(Reservation("0" * 24, "createPosts", D("0.01"), START.date()), paid("0.01"))
        await client.aclose()

    asyncio.run(test())


@pytest.mark.redis
def test_service_resumes_when_redis_is_back_without_a_restart(tmp_path: Path) -> None:
    # A Redis restarted empty (no persistence) on the same address: the same client reconnects, and the
    # reserve script, gone from Redis's cache, is loaded again by itself.
    server = start_redis(redis_server_binary(), tmp_path)
    port = server.port

    async def test() -> None:
        nonlocal server
        client = connect(server.url, timeout=0.5)
        ledger = RedisLedger(client, budget=D("1"), now=lambda: START)
        await ledger.settle(await ledger.reserve("a", D("0.1")), paid("0.02", "post:1"))
        stop_redis(server.process)
        with pytest.raises(StateUnavailable, match="Nothing was sent to X"):
            await ledger.reserve("a", D("0.1"))
        server = start_redis(redis_server_binary(), tmp_path, port)
        assert server.port == port
        await ledger.settle(await ledger.reserve("a", D("0.1")), paid("0.03", "post:2"))
        assert await ledger.day_total(ledger.today()) == D("0.03")  # the first Redis's figures went with it
        await client.aclose()

    try:
        asyncio.run(test())
    finally:
        stop_redis(server.process)
