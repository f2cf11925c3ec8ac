"""xapi-mcp against a direct httpx baseline, in one run, on loopback.

    python benchmarks/bench.py            # full run (500 sequential calls, 3000 concurrent, per series)
    python benchmarks/bench.py --quick    # a few calls, to prove it works (CI); writes no results

A full run writes benchmarks/results.json (the README's figures); a quick run writes only to
`--json PATH`, so it never replaces the committed full-run figures.

A fake X API runs in its own process. The baseline is a direct httpx2 call to the same fake
endpoint with the same OAuth 1.0a signature, so the difference is what xapi-mcp adds: the MCP
client and server, argument validation and result shaping. Two more series split that difference:
a bare relay (`relay.py`: the same server stack and signed call, no MCP) prices the extra HTTP
hop any server between client and X costs, and raw JSON-RPC POSTs to xapi-mcp price the `mcp`
client apart from the server. All series run in the same process, interleaved in rounds, with the
CPU time each process used per call. Every client runs with its defaults (the `mcp` client as
`Client(url)` makes it). Prints tables and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import mcp_types as types

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from tests import fake_x as fx  # noqa: E402
from tests.servers import SPEC_159, free_port, server_env  # noqa: E402
from xapi_mcp.auth.credentials import Signers  # noqa: E402
from xapi_mcp.server.run import KEEP_ALIVE_SECONDS  # noqa: E402
from xapi_mcp.stores import CredentialKind, MemoryTokenStore  # noqa: E402

# The tests' fake X keeps every request for its assertions; over thousands of benchmark calls that
# list would grow its heap (and its garbage collector's work) through the run, so keep the last few.
FAKE = (
    "import collections, sys, uvicorn; sys.path.insert(0, {repo!r}); from tests.fake_x import FakeX; "
    "fake = FakeX(); fake.requests = collections.deque(maxlen=100); "
    "uvicorn.run(fake.app(), host='127.0.0.1', port={port}, log_level='warning', timeout_keep_alive={keep_alive})"
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


def start_fake() -> tuple[subprocess.Popen[bytes], str]:
    """The fake X in its own process; (process, base URL) once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE.format(repo=str(REPO), port=port, keep_alive=KEEP_ALIVE_SECONDS)]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{url}/2/openapi.json", proc)
    except BaseException:
        proc.terminate()
        raise
    return proc, url


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


MCP_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": CALL[0],
}
RPC_BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": CALL[0],
            "arguments": CALL[1],
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
)
# Sequential series, in the order of the "where the time goes" table: each adds one thing.
SERIES = {
    "direct_httpx": "httpx2 -> fake X (signed)",
    "relay": "httpx2 -> bare relay -> fake X (any Python hop)",
    "xapi_mcp_raw": "httpx2 JSON-RPC POST -> xapi-mcp -> fake X",
    "xapi_mcp_full": "mcp Client -> xapi-mcp (full) -> fake X",
    "xapi_mcp_lean": "mcp Client -> xapi-mcp (lean) -> fake X",
    "xapi_mcp_stdio": "mcp Client -> xapi-mcp over stdio (full) -> fake X",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def stdio_server(x_url: str) -> StdioServerParameters:
    args = [str(REPO / "server.py"), "--transport", "stdio", "--spec", str(SPEC_159)]
    return StdioServerParameters(command=sys.executable, args=args, env=server_env(x_url), cwd=str(REPO / "benchmarks"))


def child_pid(marker: str) -> int:
    """The pid of this process's child whose command line holds `marker` (the stdio server)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == os.getpid() and marker.encode() in (stat.parent / "cmdline").read_bytes():
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue
    raise RuntimeError(f"no child process with {marker!r} in its command line")


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process has used: this one when pid is None."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def measure_calls(
    x_url: str, urls: dict[str, str], pids: dict[str, int], sequential: int, concurrent_total: int, rounds: int
) -> dict[str, Any]:
    """Every series in the same run, interleaved in rounds so that drift hits them all alike."""
    store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    # Every client as it comes: httpx's default pool (100 connections, 20 kept alive) and the `mcp`
    # client's own. Keeping 100 alive avoids reconnections under 50 concurrent calls but costs more:
    # httpcore probes every idle connection on each request (in one run, 367 vs 444 calls/s).
    async with (
        httpx.AsyncClient(auth=Signers(store).signer(CredentialKind.OAUTH1_USER)) as signed,
        httpx.AsyncClient() as plain,
        Client(urls["full"]) as full,
        Client(urls["lean"]) as lean,
        Client(stdio_server(x_url)) as stdio,
    ):
        pids["stdio"] = child_pid("--transport")

        async def direct() -> None:
            (await signed.get(x_url + PATH)).raise_for_status()

        async def relayed() -> None:
            (await plain.post(urls["relay"], content=RPC_BODY)).raise_for_status()

        async def raw() -> None:
            answer = (await plain.post(urls["full"], content=RPC_BODY, headers=MCP_HEADERS)).json()
            assert answer["result"]["isError"] is False, answer

        async def via(client: Client) -> None:
            result = await client.call_tool(*CALL)
            assert not result.is_error, result.content[0].text

        calls = {
            "direct_httpx": direct,
            "relay": relayed,
            "xapi_mcp_raw": raw,
            "xapi_mcp_full": lambda: via(full),
            "xapi_mcp_lean": lambda: via(lean),
            "xapi_mcp_stdio": lambda: via(stdio),
        }
        server_of = {
            "relay": "relay",
            "xapi_mcp_raw": "full",
            "xapi_mcp_full": "full",
            "xapi_mcp_lean": "lean",
            "xapi_mcp_stdio": "stdio",
        }
        for call in calls.values():
            for _ in range(20):  # warm up connections and code paths
                await call()
        latencies: dict[str, list[float]] = {name: [] for name in calls}
        cpu: dict[str, dict[str, float]] = {name: {} for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                processes = {"client": None, "fake_x": pids["fake"]}
                if name in server_of:
                    processes["server"] = pids[server_of[name]]
                before = {role: cpu_seconds(pid) for role, pid in processes.items()}
                for _ in range(sequential // rounds):
                    started = time.perf_counter()
                    await call()
                    latencies[name].append(time.perf_counter() - started)
                for role, pid in processes.items():
                    cpu[name][role] = cpu[name].get(role, 0.0) + cpu_seconds(pid) - before[role]
        results: dict[str, Any] = {
            name: {
                "call_median_ms": statistics.median(samples) * 1000,
                "call_p99_ms": percentile(samples, 0.99) * 1000,
                "cpu_ms_per_call": {role: used / len(samples) * 1000 for role, used in cpu[name].items()},
            }
            for name, samples in latencies.items()
        }
        busy = {name: 0.0 for name in ("direct_httpx", "xapi_mcp_full", "xapi_mcp_lean")}
        per_round = concurrent_total // rounds
        for _ in range(rounds):  # interleaved too: a slow spell of the machine hits every series
            for name in busy:
                busy[name] += await concurrently(calls[name], per_round)
        for name, seconds in busy.items():
            results[name]["calls_per_s_50_concurrent"] = per_round * rounds / seconds
    return results


async def concurrently(call: Any, total: int) -> float:
    """Seconds to make `total` calls, 50 at a time."""
    gate = asyncio.Semaphore(50)

    async def one() -> None:
        async with gate:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few calls: proves the benchmark works")
    parser.add_argument("--json", help="where to write results (default: benchmarks/results.json, full runs only)")
    args = parser.parse_args()
    output = results_path(args.quick, args.json)
    sequential, concurrent_total, starts, rounds = (20, 100, 1, 2) if args.quick else (500, 3000, 5, 10)

    relay_port = free_port()
    fake, x_url = start_fake()
    relay = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "relay.py"), x_url + PATH, str(relay_port)])
    servers: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, Any] = {"quick": args.quick, "cpus": os.cpu_count()}
    try:
        ready = []
        for _ in range(starts):
            proc, _, seconds = start_server(x_url)
            ready.append(seconds)
            proc.terminate()
            proc.wait()
        results["ready_s_median"] = statistics.median(ready)
        urls = {"relay": f"http://127.0.0.1:{relay_port}/"}
        for profile in ("full", "lean", "discovery"):
            servers[profile], urls[profile], _ = start_server(x_url, X_API_TOOL_PROFILE=profile)
            results[f"xapi_mcp_{profile}"] = run_async(measure_listing(urls[profile]))
        pids = {name: proc.pid for name, proc in (*servers.items(), ("relay", relay), ("fake", fake))}
        calls = run_async(measure_calls(x_url, urls, pids, sequential, concurrent_total, rounds))
        for name, measured in calls.items():
            results.setdefault(name, {}).update(measured)
        for profile, proc in servers.items():
            results[f"xapi_mcp_{profile}"]["peak_rss_mb"] = peak_rss_mb(proc.pid)
    finally:
        for proc in (*servers.values(), relay, fake):
            proc.terminate()
            proc.wait()
    if output is not None:
        output.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nResults written to {output}." if output else "\nQuick run: nothing written (--json PATH keeps it).")


def results_path(quick: bool, given: str | None) -> Path | None:
    """Where the results go: --json PATH, else results.json for a full run; a quick run keeps none."""
    if given:
        return Path(given)
    return None if quick else REPO / "benchmarks" / "results.json"


async def measure_listing(url: str) -> dict[str, Any]:
    """tools/list size and median latency over 10 fresh (uncached) listings."""
    async with Client(url) as client:
        samples = []
        for _ in range(10):
            t = time.perf_counter()
            listing = await client.list_tools(cache_mode="refresh")
            samples.append(time.perf_counter() - t)
    # The tools/list result as the server builds it, as `xapi-mcp tools` counts it; and as received,
    # with what the 2026-07-28 protocol adds around it (server info, cache hints).
    size = len(types.ListToolsResult(tools=listing.tools).model_dump_json(by_alias=True, exclude_none=True))
    received = len(listing.model_dump_json(by_alias=True, exclude_none=True))
    ms = statistics.median(samples) * 1000
    return {"tools_list_bytes": size, "tools_list_received_bytes": received, "tools_list_ms": ms}


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
    print_rows(("measure", "xapi-mcp", "direct httpx", "target"), rows)
    print("\nWhere the time of one sequential call goes (same run, interleaved):")
    breakdown = []
    for name, label in SERIES.items():
        m, cpu = r[name], r[name]["cpu_ms_per_call"]
        used = " / ".join(f"{cpu[k]:.2f}" if k in cpu else "-" for k in ("client", "server", "fake_x"))
        breakdown.append((label, f"{m['call_median_ms']:.2f}", used))
    print_rows(("path", "median ms", "CPU ms/call client / server / fake X"), breakdown)


def print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("| " + " | ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")


if __name__ == "__main__":
    main()
