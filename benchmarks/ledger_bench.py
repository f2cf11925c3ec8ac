"""What cost control adds to one tool call: estimate, reserve, dedup lookup, charge, settle.

    python benchmarks/ledger_bench.py             # 2,000 calls per series, in interleaved rounds
    python benchmarks/ledger_bench.py --quick     # a few calls, to prove it works (CI)
    python benchmarks/ledger_bench.py --dir PATH  # put the SQLite file there (default: the temp dir)

Each "call" is the bookkeeping of a `searchPostsRecent` with `max_results=10` and `author_id`: the
estimate, the reservation against the budget, the lookup of which returned posts/users X already
charged today, the charge, and the settlement (which marks them charged). Every answer has 10 posts
(2 of them seen before) and 3 users, so the dedup table grows as it would through a day. Series:
`pricing only` (estimate + charge, no ledger), `memory`, `sqlite` (a fresh file, WAL), and
`2 bare txns`: two one-row write transactions, the floor under the SQLite ledger's two;
`wired memory` / `wired sqlite`: everything the executor runs around one request (`Spending.send`:
posting-rule and pause checks, the estimate from the prepared request, reserve, dedup, charge,
settle; then the result's cost line, which reads the day's total), with the request itself faked;
and `redis` / `wired redis`: the same on the Redis ledger (calls/ledger_redis.py), on a
redis-server the bench starts on loopback (tests/redis_server.py: no persistence), person "bench",
no deployment cap, its round trips to Redis counted per call (goal: at most 2). Its time is mostly
waiting for Redis, during which the loop serves other calls; `cpu` is what this thread ran. The
SQLite statements run inline on the event loop (see ledger.py), so the per-operation times below
are also how long one call blocks the loop. Goal: at most 0.2 ms median added per call (memory,
SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import catalog_for, load_document  # noqa: E402
from tests.redis_server import RedisUnavailable, counting_client, redis_server_binary, start_redis, stop_redis  # noqa: E402
from xapi_mcp.calls.arguments import PreparedRequest, prepare  # noqa: E402
from xapi_mcp.calls.billing import BillingRule, billing_rules  # noqa: E402
from xapi_mcp.calls.cost import charge, estimate, resource_keys  # noqa: E402
from xapi_mcp.calls.ledger import MemoryLedger, SpendLedger, SqliteLedger  # noqa: E402
from xapi_mcp.calls.ledger_redis import RedisLedger  # noqa: E402
from xapi_mcp.calls.prices import PriceTable, shipped_prices  # noqa: E402
from xapi_mcp.calls.results import ToolOutcome  # noqa: E402
from xapi_mcp.calls.spending import Spending, Tally  # noqa: E402
from xapi_mcp.stores import CredentialKind  # noqa: E402
from xapi_mcp.tools.tooldef import ToolDef  # noqa: E402

ARGUMENTS = {"query": "from:xdevelopers", "max_results": 10, "expansions": ["author_id"]}
BUDGET = Decimal("1000000")  # never reached: every call pays for the full check


def answer(n: int) -> dict[str, Any]:
    """The n-th search answer: 8 new posts, 2 from the previous answer, 3 users."""
    posts = [{"id": str(10_000_000 + n * 8 + i), "text": "hello", "author_id": str(i % 3)} for i in range(8)]
    posts += [{"id": str(10_000_000 + max(n - 1, 0) * 8 + i), "text": "again"} for i in range(2)]
    return {"data": posts, "includes": {"users": [{"id": str(i)} for i in range(3)]}, "meta": {"result_count": 10}}


# One call's bookkeeping for one X answer: nanoseconds per part.
Step = Callable[[int, dict[str, Any]], Awaitable[dict[str, int]]]


def pricing_only(rule: BillingRule, prices: PriceTable) -> Step:
    async def call(n: int, response: dict[str, Any]) -> dict[str, int]:
        t0 = time.perf_counter_ns()
        estimate(rule, ARGUMENTS, prices)
        charge(rule, response, set(), prices)
        return {"total": time.perf_counter_ns() - t0}

    return call


def with_ledger(rule: BillingRule, prices: PriceTable, ledger: SpendLedger) -> Step:
    async def call(n: int, response: dict[str, Any]) -> dict[str, int]:
        t0 = time.perf_counter_ns()
        guess = estimate(rule, ARGUMENTS, prices)
        hold = await ledger.reserve("searchPostsRecent", guess.usd, guess.why)
        t1 = time.perf_counter_ns()
        day = ledger.today()
        already = await ledger.seen(day, resource_keys(rule, response))
        t2 = time.perf_counter_ns()
        cost = charge(rule, response, already, prices)
        t3 = time.perf_counter_ns()
        await ledger.settle(hold, cost)
        t4 = time.perf_counter_ns()
        return {"total": t4 - t0, "reserve": t1 - t0, "seen": t2 - t1, "settle": t4 - t3}

    return call


def counted(step: Step, counter: type, trips: list[int]) -> Step:
    """`step`, recording how many round trips to Redis each call made."""

    async def call(n: int, response: dict[str, Any]) -> dict[str, int]:
        before = counter.sent  # type: ignore[attr-defined]
        parts = await step(n, response)
        trips.append(counter.sent - before)  # type: ignore[attr-defined]
        return parts

    return call


def wired(spending: Spending) -> Step:
    """What the executor runs around each request: `Spending.send` (refusal checks, estimate from the prepared
    request, reserve, dedup lookup, charge, settle) and the result's cost line (`summary`)."""
    tool = catalog_for("2.159").tools["searchPostsRecent"]
    request = prepare(tool, ARGUMENTS)

    async def call(n: int, response: dict[str, Any]) -> dict[str, int]:
        async def send(tool: ToolDef, request: PreparedRequest, kind: CredentialKind) -> ToolOutcome:
            return ToolOutcome("{}", body=response)

        t0 = time.perf_counter_ns()
        tally = Tally()
        await spending.send(tool, request, CredentialKind.BEARER, send, tally)
        t1 = time.perf_counter_ns()
        await spending.summary(tally)
        t2 = time.perf_counter_ns()
        return {"total": t2 - t0, "send": t1 - t0, "summary": t2 - t1}

    return call


def bare_transactions(db: sqlite3.Connection) -> Step:
    """The floor under the SQLite ledger: two write transactions of one row each (hold, then free)."""

    async def call(n: int, response: dict[str, Any]) -> dict[str, int]:
        t0 = time.perf_counter_ns()
        for statement in ("INSERT INTO hold VALUES (?)", "DELETE FROM hold WHERE id = ?"):
            db.execute("BEGIN IMMEDIATE")
            db.execute(statement, (n,))
            db.execute("COMMIT")
        return {"total": time.perf_counter_ns() - t0}

    return call


async def measure(series: dict[str, Step], calls: int, rounds: int) -> dict[str, dict[str, list[int]]]:
    """Per series and part, nanoseconds per call; series interleaved round by round against drift."""
    samples: dict[str, dict[str, list[int]]] = {name: {} for name in series}
    per_round = max(1, calls // rounds)
    counter = 0
    for step in series.values():  # warm-up: imports, caches, SQLite pages
        for _ in range(min(200, per_round)):
            counter += 1
            await step(counter, answer(counter))
    for _ in range(rounds):
        for name, step in series.items():
            for _ in range(per_round):
                counter += 1
                response = answer(counter)
                cpu = time.thread_time_ns()
                parts = await step(counter, response)
                parts["cpu"] = time.thread_time_ns() - cpu  # what this thread ran: the wall time less waiting
                for part, ns in parts.items():
                    samples[name].setdefault(part, []).append(ns)
    return samples


def summary(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_us": statistics.median(ordered) / 1000,
        "p90_us": ordered[int(len(ordered) * 0.9)] / 1000,
        "p99_us": ordered[int(len(ordered) * 0.99)] / 1000,
        "max_us": ordered[-1] / 1000,
    }


def redis_series(rule: BillingRule, prices: PriceTable, document: dict[str, Any], url: str) -> dict[str, Step]:
    """`redis` and `wired redis`, each on its own client, their round trips counted into TRIPS."""
    bare, bare_counter = counting_client(url)
    full, full_counter = counting_client(url)
    ledger = RedisLedger(bare, person="bench", budget=BUDGET)
    wired_ledger = RedisLedger(full, person="wired", budget=BUDGET)
    return {
        "redis": counted(with_ledger(rule, prices, ledger), bare_counter, TRIPS.setdefault("redis", [])),
        "wired redis": counted(
            wired(Spending(document, prices, wired_ledger)), full_counter, TRIPS.setdefault("wired redis", [])
        ),
    }


TRIPS: dict[str, list[int]] = {}  # series -> Redis round trips of each call, warm-up first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 calls per series")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--dir", type=Path, default=None, help="directory for the SQLite file")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    calls = 200 if args.quick else args.calls
    rule = billing_rules(load_document("2.159"))["searchPostsRecent"]
    prices = shipped_prices()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="ledger-bench-") as folder:
        sqlite = SqliteLedger(Path(folder) / "spend.sqlite3", BUDGET)
        wired_sqlite = SqliteLedger(Path(folder) / "wired.sqlite3", BUDGET)
        document = load_document("2.159")
        bare = sqlite3.connect(Path(folder) / "bare.sqlite3", isolation_level=None)
        bare.execute("PRAGMA journal_mode=WAL")
        bare.execute("PRAGMA synchronous=NORMAL")
        bare.execute("CREATE TABLE hold (id INTEGER PRIMARY KEY)")
        series = {
            "2 bare txns": bare_transactions(bare),
            "pricing only": pricing_only(rule, prices),
            "memory": with_ledger(rule, prices, MemoryLedger(BUDGET)),
            "sqlite": with_ledger(rule, prices, sqlite),
            "wired memory": wired(Spending(document, prices, MemoryLedger(BUDGET))),
            "wired sqlite": wired(Spending(document, prices, wired_sqlite)),
        }
        with contextlib.ExitStack() as stack:
            try:
                server = start_redis(redis_server_binary(), Path(folder))
            except RedisUnavailable as exc:
                print(f"No redis series: {exc}")
            else:
                stack.callback(stop_redis, server.process)
                series.update(redis_series(rule, prices, document, server.url))
            samples = asyncio.run(measure(series, calls, args.rounds))
        sqlite.close()
        wired_sqlite.close()
        bare.close()
        where = folder
    results = {name: {part: summary(v) for part, v in parts.items()} for name, parts in samples.items()}
    print(f"{calls} calls per series, {args.rounds} interleaved rounds; SQLite file in {where}")
    print(f"{'series':14} {'part':8} {'median µs':>10} {'p90 µs':>9} {'p99 µs':>9} {'max µs':>9}")
    for name, parts in results.items():
        for part, s in parts.items():
            row = f"{s['median_us']:10.1f} {s['p90_us']:9.1f} {s['p99_us']:9.1f} {s['max_us']:9.1f}"
            print(f"{name:14} {part:8} {row}")
    for name in ("memory", "sqlite", "wired memory", "wired sqlite"):
        median = results[name]["total"]["median_us"]
        print(f"{name}: {median:.1f} µs median per call, goal ≤ 200 µs: {'met' if median <= 200 else 'NOT met'}")
    warm_up = min(200, max(1, calls // args.rounds))  # calls of each series before the measured ones (see measure)
    redis_trips = {}
    for name, trips in TRIPS.items():
        measured = trips[warm_up:]  # past connecting and loading the scripts
        redis_trips[name] = {"median": statistics.median(measured), "max": max(measured)}
        verdict = "met" if max(measured) <= 2 else "NOT met"
        print(
            f"{name}: {results[name]['total']['median_us']:.1f} µs median per call over loopback; round trips per "
            f"call: median {statistics.median(measured):g}, max {max(measured)}, goal ≤ 2: {verdict}"
        )
    if args.json:
        figures = {"calls": calls, "rounds": args.rounds, "results": results, "redis_round_trips": redis_trips}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
