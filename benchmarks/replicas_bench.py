"""Remote mode on Redis: 1 replica against 2, 50 people calling at once (issue 18's load benchmark).

    python benchmarks/replicas_bench.py           # 50 people, 2,000 calls per setup, 3 rounds
    python benchmarks/replicas_bench.py --quick   # 6 people, a few calls: proves it works (CI)

What runs, all on 127.0.0.1 and started here: a redis-server (no persistence), the fake X in its own
process, and xapi-mcp replicas (`server.py`, remote mode `X_MCP_AUTH=oauth`, one Redis, the same
token keys), each its own process. Each person signs in once through the fake X's consent (the
OAuth flow by hand: register, /authorize, X's callback, /token with PKCE); then every person makes
the same read (`getUsersByUsername`, signed with that person's X token, held against that
person's budget and charged after) as a plain 2026-07-28 JSON-RPC POST, person i on replica
i mod n, 50 at a time. The setups alternate in rounds, so a slow spell of the machine hits both.

Redis round trips per call come from Redis's own counters (`INFO commandstats`) over the load
phase only: EVALSHA (the ledger's reserve and settle scripts) and GET (a person's tokens and
rate-limit marks, each read at most once a second per replica) are the commands replicas send on
the hot path; the commands the scripts run inside Redis are listed apart (they are not round trips).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench import CALL, cpu_seconds, percentile, start_fake, wait_healthy  # noqa: E402
from benchmarks.bench import MCP_HEADERS as HEADERS  # noqa: E402
from benchmarks.bench import RPC_BODY as BODY  # noqa: E402
from tests.redis_server import redis_server_binary, start_redis, stop_redis  # noqa: E402
from tests.replicas import exchange, register  # noqa: E402
from tests.replicas import sign_in as sign_in_by_hand  # noqa: E402
from tests.servers import SPEC_159, free_port, server_env  # noqa: E402

PEOPLE = "fake.next_people = [(str(10_000 + i), f'person{i}') for i in range(100_000)]"  # who signs in next
HOT = ("evalsha", "get")  # what a replica sends Redis on a tool call's path


@contextmanager
def fake_x() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    proc, url = start_fake(PEOPLE)
    try:
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def replicas(count: int, x_url: str, redis_url: str, keys: dict[str, str]) -> Iterator[list[tuple[int, str]]]:
    """`count` replicas on free ports, the first one's address being the public URL; yields (pid, base URL)."""
    ports = [free_port() for _ in range(count)]
    public = f"http://127.0.0.1:{ports[0]}"
    env = server_env(
        x_url,
        X_MCP_AUTH="oauth",
        X_MCP_PUBLIC_URL=public,
        X_MCP_SIGNIN_ALLOW="*",
        X_MCP_REDIS_URL=redis_url,
        X_API_TOOL_ALLOWLIST=CALL[0],
        X_API_BUDGET_USD="1000",  # a budget, so every call is held and charged in Redis
        **keys,
    )
    for name in ("X_OAUTH_ACCESS_TOKEN", "X_OAUTH_ACCESS_TOKEN_SECRET"):
        env.pop(name)
    procs = []
    try:
        for port in ports:
            command = [sys.executable, str(REPO / "server.py"), "--spec", str(SPEC_159), "--port", str(port)]
            procs.append(
                subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
            )
        for port, proc in zip(ports, procs, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        yield [(proc.pid, f"http://127.0.0.1:{port}") for proc, port in zip(procs, ports, strict=True)]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)


def sign_in(public: str) -> str:
    """One person through the whole OAuth flow (the fake X clicks Authorize): their access token."""
    client_id = register(public)
    code, verifier = sign_in_by_hand(None, public, client_id, None)
    return str(exchange(public, client_id, code, verifier).json()["access_token"])


def command_calls(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def load(urls: list[str], tokens: list[str], calls: int, concurrency: int) -> list[float]:
    """`calls` tool calls, `concurrency` at a time, person i on replica i mod n: each call's seconds."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:

        async def one(n: int) -> None:
            person = n % len(tokens)
            url = f"{urls[person % len(urls)]}/mcp"
            headers = {**HEADERS, "authorization": f"Bearer {tokens[person]}"}
            async with gate:
                started = time.perf_counter()
                answer = await http.post(url, content=BODY, headers=headers)
                latencies.append(time.perf_counter() - started)
            result = answer.json().get("result") or {}
            if answer.status_code != 200 or result.get("isError") is not False:
                raise RuntimeError(f"call {n} failed: {answer.status_code} {answer.text[:300]}")

        await asyncio.gather(*(one(n) for n in range(calls)))
    return latencies


def run_setup(
    count: int, x_url: str, redis_url: str, keys: dict[str, str], people: int, calls: int, pids: dict[str, int]
) -> dict[str, Any]:
    """One setup: `count` replicas started, `people` signed in, `calls` made 50 at a time; its figures."""
    raw = redis.Redis.from_url(redis_url)
    raw.flushall()
    with replicas(count, x_url, redis_url, keys) as running:
        urls = [url for _, url in running]
        tokens = [sign_in(urls[0]) for _ in range(people)]
        asyncio.run(load(urls, tokens, people * 2, people))  # warm: connections, code paths, each person once
        others: dict[str, int | None] = {"fake X": pids["fake X"], "Redis": pids["Redis"], "load (this process)": None}
        roles = {f"replica {n + 1}": pid for n, (pid, _) in enumerate(running)} | others
        cpu_before = {role: cpu_seconds(pid) for role, pid in roles.items()}
        before = command_calls(raw)
        started = time.perf_counter()
        samples = asyncio.run(load(urls, tokens, calls, min(50, people)))
        seconds = time.perf_counter() - started
        after = command_calls(raw)
        cpu = {role: cpu_seconds(pid) - cpu_before[role] for role, pid in roles.items()}
    raw.close()
    made = len(samples)
    sent = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    return {
        "replicas": count,
        "people": people,
        "calls": made,
        "calls_per_s": made / seconds,
        "p50_ms": statistics.median(samples) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "redis_round_trips_per_call": sum(sent.get(name, 0) for name in HOT) / made,
        "redis_hot_commands_per_call": {name: sent.get(name, 0) / made for name in HOT},
        "redis_other_commands_per_call": {
            name: round(value / made, 3) for name, value in sorted(sent.items()) if name not in HOT and value
        },
        "cpu_ms_per_call": {role: used / made * 1000 for role, used in cpu.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few people and calls: proves it works")
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2000, help="tool calls per setup and round set")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two setups")
    parser.add_argument("--json", help="write the results here (a full run also writes benchmarks/replicas.json)")
    args = parser.parse_args()
    people, calls, rounds = (6, 60, 1) if args.quick else (args.people, args.calls, args.rounds)
    keys = {"X_MCP_TOKEN_KEY": secrets.token_urlsafe(48), "X_MCP_TOKEN_KEYS": base64.b64encode(os.urandom(32)).decode()}
    results: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="xapi-mcp-bench-redis-") as folder:
        server = start_redis(redis_server_binary(), Path(folder))
        stack.callback(stop_redis, server.process)
        fake_proc, x_url = stack.enter_context(fake_x())
        for _ in range(rounds):  # alternate: 1, 2, 1, 2, ...
            for count in (1, 2):
                pids = {"fake X": fake_proc.pid, "Redis": server.process.pid}
                results[count].append(run_setup(count, x_url, server.url, keys, people, calls // rounds, pids))
    summary = {count: merge(runs) for count, runs in results.items()}
    summary_json = {
        "machine_cores": os.cpu_count(),
        "setups": {str(count): value for count, value in summary.items()},
        "speedup_2_vs_1": summary[2]["calls_per_s"] / summary[1]["calls_per_s"],
    }
    print_table(summary, summary_json["speedup_2_vs_1"])
    out = Path(args.json) if args.json else (None if args.quick else REPO / "benchmarks" / "replicas.json")
    if out is not None:
        out.write_text(json.dumps(summary_json, indent=2) + "\n")
        print(f"\nwrote {out}")


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one setup: medians of the rates and latencies, round trips over every call."""
    made = sum(run["calls"] for run in runs)
    return {
        "replicas": runs[0]["replicas"],
        "people": runs[0]["people"],
        "calls": made,
        "calls_per_s": statistics.median(run["calls_per_s"] for run in runs),
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p99_ms": statistics.median(run["p99_ms"] for run in runs),
        "redis_round_trips_per_call": sum(run["redis_round_trips_per_call"] * run["calls"] for run in runs) / made,
        "redis_hot_commands_per_call": {
            name: sum(run["redis_hot_commands_per_call"][name] * run["calls"] for run in runs) / made for name in HOT
        },
        "redis_other_commands_per_call": runs[-1]["redis_other_commands_per_call"],
        "cpu_ms_per_call": {
            role: statistics.median(run["cpu_ms_per_call"][role] for run in runs) for role in runs[0]["cpu_ms_per_call"]
        },
    }


def print_table(summary: dict[int, dict[str, Any]], speedup: float) -> None:
    columns = [("replicas", 8), ("people", 6), ("calls", 6), ("calls/s", 8), ("p50 ms", 7), ("p99 ms", 7)]
    columns.append(("Redis RT/call", 13))
    print("\n" + " ".join(f"{name:>{width}}" for name, width in columns))
    for count, row in summary.items():
        print(
            f"{count:>8} {row['people']:>6} {row['calls']:>6} {row['calls_per_s']:>8.0f} {row['p50_ms']:>7.1f} "
            f"{row['p99_ms']:>7.1f} {row['redis_round_trips_per_call']:>13.2f}"
        )
    print(f"2 replicas / 1: {speedup:.2f}x throughput")
    cores = os.cpu_count() or 1
    for count, row in summary.items():
        total = sum(row["cpu_ms_per_call"].values())
        print(
            f"  {count} replica(s): {total:.2f} ms of CPU per call in all processes together: at most "
            f"{cores * 1000 / total:.0f} calls/s on {cores} cores, whatever the number of replicas"
        )
    for count, row in summary.items():
        cpu = ", ".join(f"{role} {ms:.2f}" for role, ms in row["cpu_ms_per_call"].items())
        hot = ", ".join(f"{name.upper()} {value:.2f}" for name, value in row["redis_hot_commands_per_call"].items())
        print(f"  {count} replica(s): CPU ms per call: {cpu}; Redis per call: {hot}")
        print(f"    inside Redis scripts, per call: {row['redis_other_commands_per_call']}")


if __name__ == "__main__":
    main()
