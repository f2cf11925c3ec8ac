"""xapi-mcp against a direct httpx baseline, in one run, on loopback.

    python benchmarks/bench.py            # full run (500 sequential calls, 2000 concurrent)
    python benchmarks/bench.py --quick    # a few calls, to prove it works (CI)

A fake X API runs in its own process. The baseline is a direct httpx2 call to the same fake
endpoint with the same OAuth 1.0a signature, so the difference is what xapi-mcp adds: the MCP
client and server, argument validation and result shaping. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mcp import Client  # noqa: E402

from tests import fake_x as fx  # noqa: E402
from tests.servers import SPEC_159, free_port, server_env  # noqa: E402
from xapi_mcp.auth.credentials import CredentialKind, TokenStore  # noqa: E402

FAKE = (
    "import sys, uvicorn; sys.path.insert(0, {repo!r}); from tests.fake_x import FakeX; "
    "uvicorn.run(FakeX().app(), host='127.0.0.1', port={port}, log_level='warning')"
)
CALL = ("getUsersByUsername", {"username": "XDevelopers", "user_fields": ["id", "name"]})
PATH = "/2/users/by/username/XDevelopers?user.fields=id,name"


def run_async(coroutine: Any) -> Any:
    """The harness runs on the same event loop as the servers it measures (uvloop where available)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{url} not ready in {timeout} s")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(x_url: str, **env: str) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "server.py"), "--spec", str(SPEC_159), "--port", str(port)],
        env=server_env(x_url, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO / "benchmarks",
    )
    wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
    return proc, f"http://127.0.0.1:{port}/mcp", time.perf_counter() - started


async def measure_mcp(url: str, sequential: int, concurrent_total: int) -> dict[str, Any]:
    async with Client(url) as client:
        for _ in range(20):  # warm up connections and code paths
            await client.call_tool(*CALL)
        listed = await listing_stats(client)
        latencies = []
        for _ in range(sequential):
            t = time.perf_counter()
            result = await client.call_tool(*CALL)
            latencies.append(time.perf_counter() - t)
            assert not result.is_error, result.content[0].text
        gate = asyncio.Semaphore(50)

        async def one() -> None:
            async with gate:
                await client.call_tool(*CALL)

        t = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrent_total)))
        throughput = concurrent_total / (time.perf_counter() - t)
    return {
        **listed,
        "call_median_ms": statistics.median(latencies) * 1000,
        "call_p99_ms": percentile(latencies, 0.99) * 1000,
        "calls_per_s_50_concurrent": throughput,
    }


async def measure_direct(x_url: str, sequential: int, concurrent_total: int) -> dict[str, Any]:
    store = TokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    auth = store.signer(CredentialKind.OAUTH1_USER)
    async with httpx.AsyncClient(auth=auth, limits=httpx.Limits(max_connections=100)) as http:
        for _ in range(20):
            await http.get(x_url + PATH)
        latencies = []
        for _ in range(sequential):
            t = time.perf_counter()
            response = await http.get(x_url + PATH)
            response.json()
            latencies.append(time.perf_counter() - t)
        gate = asyncio.Semaphore(50)

        async def one() -> None:
            async with gate:
                (await http.get(x_url + PATH)).json()

        t = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrent_total)))
        throughput = concurrent_total / (time.perf_counter() - t)
    return {
        "call_median_ms": statistics.median(latencies) * 1000,
        "call_p99_ms": percentile(latencies, 0.99) * 1000,
        "calls_per_s_50_concurrent": throughput,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few calls: proves the benchmark works")
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results.json"), help="where to write results")
    args = parser.parse_args()
    sequential, concurrent_total, starts = (20, 100, 1) if args.quick else (500, 2000, 5)

    x_port = free_port()
    fake = subprocess.Popen([sys.executable, "-c", FAKE.format(repo=str(REPO), port=x_port)])
    x_url = f"http://127.0.0.1:{x_port}"
    results: dict[str, Any] = {"quick": args.quick, "cpus": os.cpu_count()}
    try:
        wait_healthy(f"{x_url}/2/openapi.json", fake)
        results["direct_httpx"] = run_async(measure_direct(x_url, sequential, concurrent_total))
        ready = []
        for _ in range(starts):
            proc, _, seconds = start_server(x_url)
            ready.append(seconds)
            proc.terminate()
            proc.wait()
        results["ready_s_median"] = statistics.median(ready)
        for profile in ("full", "lean", "discovery"):
            proc, url, _ = start_server(x_url, X_API_TOOL_PROFILE=profile)
            try:
                if profile == "discovery":
                    measured = run_async(measure_listing(url))
                else:
                    measured = run_async(measure_mcp(url, sequential, concurrent_total))
                measured["peak_rss_mb"] = peak_rss_mb(proc.pid)
            finally:
                proc.terminate()
                proc.wait()
            results[f"xapi_mcp_{profile}"] = measured
    finally:
        fake.terminate()
        fake.wait()
    Path(args.json).write_text(json.dumps(results, indent=2))
    print_table(results)


async def measure_listing(url: str) -> dict[str, Any]:
    async with Client(url) as client:
        return await listing_stats(client)


async def listing_stats(client: Client) -> dict[str, Any]:
    """tools/list size and median latency over 10 fresh (uncached) listings."""
    samples = []
    for _ in range(10):
        t = time.perf_counter()
        listing = await client.list_tools(cache_mode="refresh")
        samples.append(time.perf_counter() - t)
    size = len(listing.model_dump_json(by_alias=True, exclude_none=True))
    return {"tools_list_bytes": size, "tools_list_ms": statistics.median(samples) * 1000}


def print_table(r: dict[str, Any]) -> None:
    direct, full, lean, disc = r["direct_httpx"], r["xapi_mcp_full"], r["xapi_mcp_lean"], r["xapi_mcp_discovery"]
    sizes = f"{full['tools_list_bytes']:,} / {lean['tools_list_bytes']:,} / {disc['tools_list_bytes']:,}"
    times = f"{full['tools_list_ms']:.1f} / {lean['tools_list_ms']:.1f} / {disc['tools_list_ms']:.1f}"
    rows = [
        ("ready from a local spec (s)", f"{r['ready_s_median']:.2f}", "", "<= 1.5"),
        ("tools/list bytes full / lean / discovery", sizes, "", "128 KB / 48 KB / 4 KB"),
        ("tools/list ms full / lean / discovery", times, "", "<= 50 (full)"),
    ]
    for label, m in (("full", full), ("lean", lean)):
        extra = m["call_median_ms"] - direct["call_median_ms"]
        rows += [
            (
                f"tools/call median ms ({label})",
                f"{m['call_median_ms']:.2f}",
                f"{direct['call_median_ms']:.2f}",
                f"<= direct + 2 (+{extra:.2f})",
            ),
            (f"tools/call p99 ms ({label})", f"{m['call_p99_ms']:.2f}", f"{direct['call_p99_ms']:.2f}", "<= 10"),
            (
                f"calls/s, 50 concurrent ({label})",
                f"{m['calls_per_s_50_concurrent']:.0f}",
                f"{direct['calls_per_s_50_concurrent']:.0f}",
                ">= 400",
            ),
            (f"peak RSS MB ({label})", f"{m['peak_rss_mb']:.0f}", "", "<= 90"),
        ]
    width = max(len(row[0]) for row in rows)
    print(f"| {'measure':<{width}} | {'xapi-mcp':>24} | {'direct httpx':>12} | target |")
    print(f"|{'-' * (width + 2)}|{'-' * 26}|{'-' * 14}|---|")
    for name, ours, base, target in rows:
        print(f"| {name:<{width}} | {ours:>24} | {base:>12} | {target} |")


if __name__ == "__main__":
    main()
