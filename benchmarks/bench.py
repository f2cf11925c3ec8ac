"""xapi-mcp against a direct httpx baseline, the SDK's floor and XMCP, in one run, on loopback.

    python benchmarks/bench.py            # full run (500 sequential calls, 3000 concurrent, per series)
    python benchmarks/bench.py --quick    # a few calls, to prove it works (CI); writes no results
    python benchmarks/bench.py --xmcp DIR --before DIR   # with XMCP's row and the code before a change

A full run writes benchmarks/results.json (the README's figures); a quick run writes only to
`--json PATH`, so it never replaces the committed full-run figures.

A fake X API runs in its own process. The baseline is a direct httpx2 call to the same fake
endpoint with the same OAuth 1.0a signature, so the difference is what a server adds. Every MCP
server is called by the `mcp` client with its defaults, in both protocol versions: `Client(url)`
(which negotiates 2026-07-28) and `Client(url, mode="legacy")` (the 2025-11-25 handshake most
clients shipped today speak). Servers measured:
- floor_sse / floor_json: the thinnest `mcp` 2.3 server, one decorated tool doing the same GET
  (`floor.py`), answering over SSE and as plain JSON: what the SDK itself costs;
- xmcp: the official XMCP (`--xmcp DIR`, a checkout of github.com/xdevplatform/xmcp, run by
  `--xmcp-python`, an interpreter with its requirements; see `xmcp_run.py`). Without it the row is
  skipped, and the run says so. Its 3 MB tools/list is more than the legacy client's default 1 MiB
  SSE event limit allows, so its legacy client lifts that limit (the default one fails);
- xapi_mcp_before: `--before DIR`, a checkout of xapi-mcp to compare with (its server.py and src/);
- xapi_mcp_full / xapi_mcp_lean: this code.
- relay: a bare relay (`relay.py`: the same server stack and signed call, no MCP work; the handshake
  is forwarded to xapi-mcp) called by the same `mcp` clients: the best any Python server on this
  stack can do, since every server also pays the client, one HTTP hop and one signed call.
Two more series split the difference: raw JSON-RPC POSTs to the relay price the extra HTTP hop,
and raw POSTs to xapi-mcp price the `mcp` client apart from the server; and an stdio series. All
series run in the same process, interleaved in rounds, with the CPU time each process used per
call. Prints tables, writes JSON.
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
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx2 as httpx
import mcp_types as types

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

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
XMCP_CALL = ("getUsersByUsername", {"username": "XDevelopers", "user.fields": ["id", "name"]})  # X's own names
PATH = "/2/users/by/username/XDevelopers?user.fields=id,name"
VERSIONS = {"2025-11-25": "legacy", "2026-07-28": "auto"}  # protocol version -> the client's default mode for it
SERVERS = ("relay", "floor_sse", "floor_json", "xmcp", "xapi_mcp_before", "xapi_mcp_full", "xapi_mcp_lean")
TARGET = "xapi_mcp_full"


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


def start_fake(setup: str = "") -> tuple[subprocess.Popen[bytes], str]:
    """The fake X in its own process; (process, base URL) once it answers. `setup`: Python run on `fake` first."""
    port = free_port()
    code = FAKE.format(repo=str(REPO), port=port, keep_alive=KEEP_ALIVE_SECONDS)
    if setup:
        code = code.replace("uvicorn.run(", f"{setup}; uvicorn.run(", 1)
    proc = subprocess.Popen([sys.executable, "-c", code])
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


def start_server(x_url: str, repo: Path = REPO, **env: str) -> tuple[subprocess.Popen[bytes], str, float]:
    """xapi-mcp from `repo` (this checkout, or the code before a change) on a free port."""
    port = free_port()
    started = time.perf_counter()
    environment = server_env(x_url, **env)
    if repo != REPO:  # its own package first, ahead of this checkout's editable install
        environment["PYTHONPATH"] = str(repo / "src")
    proc = subprocess.Popen(
        [sys.executable, str(repo / "server.py"), "--spec", str(SPEC_159), "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO / "benchmarks",
    )
    wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
    return proc, f"http://127.0.0.1:{port}/mcp", time.perf_counter() - started


def start_peer(command: list[str], env: dict[str, str] | None = None, timeout: float = 30) -> tuple[Any, str]:
    """A floor server or XMCP on a free port (appended to `command`); ready once /mcp answers at all."""
    port = free_port()
    proc = subprocess.Popen([*command, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_healthy(url, proc, timeout)
    except BaseException:
        proc.terminate()
        raise
    return proc, url


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
# Sequential series that split one call, in the order of the "where the time goes" table.
BREAKDOWN = {
    "direct_httpx": "httpx2 -> fake X (signed)",
    "relay": "httpx2 -> bare relay -> fake X (any Python hop)",
    "xapi_mcp_raw": "httpx2 JSON-RPC POST (2026-07-28) -> xapi-mcp -> fake X",
    **{f"{TARGET}@{v}": f"mcp Client ({v}) -> xapi-mcp -> fake X" for v in VERSIONS},
    "xapi_mcp_stdio": "mcp Client over stdio (2026-07-28) -> xapi-mcp -> fake X",
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


def mcp_client(server: str, url: str, mode: str) -> Client:
    """The `mcp` client with its defaults; XMCP's legacy row needs the SSE event limit lifted to work at all."""
    if server == "xmcp" and mode == "legacy":
        return Client(streamable_http_client(url, max_sse_event_size=None), mode=mode)
    return Client(url, mode=mode)


async def measure_calls(
    x_url: str, urls: dict[str, str], pids: dict[str, int], sequential: int, concurrent_total: int, rounds: int
) -> dict[str, Any]:
    """Every series in the same run, interleaved in rounds so that drift hits them all alike."""
    store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    # Every client as it comes: httpx's default pool (100 connections, 20 kept alive) and the `mcp`
    # client's own. Keeping 100 alive avoids reconnections under 50 concurrent calls but costs more:
    # httpcore probes every idle connection on each request (in one run, 367 vs 444 calls/s).
    async with AsyncExitStack() as stack:
        signed = await stack.enter_async_context(
            httpx.AsyncClient(auth=Signers(store).signer(CredentialKind.OAUTH1_USER))
        )
        plain = await stack.enter_async_context(httpx.AsyncClient())

        async def direct() -> None:
            (await signed.get(x_url + PATH)).raise_for_status()

        async def relayed() -> None:
            (await plain.post(urls["relay"], content=RPC_BODY)).raise_for_status()

        async def raw() -> None:
            answer = (await plain.post(urls[TARGET], content=RPC_BODY, headers=MCP_HEADERS)).json()
            assert answer["result"]["isError"] is False, answer

        def via(client: Client, call: tuple[str, dict[str, Any]]) -> Callable[[], Awaitable[None]]:
            async def one() -> None:
                result = await client.call_tool(*call)
                assert not result.is_error, result.content[0].text

            return one

        calls: dict[str, Callable[[], Awaitable[None]]] = {"direct_httpx": direct, "relay": relayed}
        calls["xapi_mcp_raw"] = raw
        server_of = {"relay": "relay", "xapi_mcp_raw": TARGET, "xapi_mcp_stdio": "stdio"}
        for server in (s for s in SERVERS if s in urls):
            for version, mode in VERSIONS.items():
                client = await stack.enter_async_context(mcp_client(server, urls[server], mode))
                assert client.protocol_version == version, (server, client.protocol_version)
                calls[f"{server}@{version}"] = via(client, XMCP_CALL if server == "xmcp" else CALL)
                server_of[f"{server}@{version}"] = server
        stdio = await stack.enter_async_context(Client(stdio_server(x_url)))
        pids["stdio"] = child_pid("--transport")
        calls["xapi_mcp_stdio"] = via(stdio, CALL)

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
        busy = {name: 0.0 for name in calls if name == "direct_httpx" or "@" in name}
        per_round = concurrent_total // rounds
        for _ in range(rounds):  # interleaved too: a slow spell of the machine hits every series
            for name in busy:
                busy[name] += await concurrently(calls[name], per_round)
        for name, seconds in busy.items():
            results[name]["calls_per_s_50_concurrent"] = per_round * rounds / seconds
    return results


async def concurrently(call: Callable[[], Awaitable[None]], total: int) -> float:
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
    parser.add_argument("--xmcp", default=os.environ.get("XMCP_DIR"), help="an XMCP checkout (env XMCP_DIR)")
    parser.add_argument(
        "--xmcp-python",
        default=os.environ.get("XMCP_PYTHON", sys.executable),
        help="the interpreter with XMCP's requirements (env XMCP_PYTHON; default: this one)",
    )
    parser.add_argument("--before", help="an xapi-mcp checkout to measure beside this one (its server.py and src/)")
    parser.add_argument("--sequential", type=int, help="sequential calls per series (full run: 500)")
    parser.add_argument("--concurrent", type=int, help="calls per series, 50 at a time (full run: 3000)")
    args = parser.parse_args()
    sequential, concurrent_total, starts, rounds = (20, 100, 1, 2) if args.quick else (500, 3000, 5, 10)
    partial = args.sequential is not None or args.concurrent is not None
    sequential, concurrent_total = args.sequential or sequential, args.concurrent or concurrent_total
    output = results_path(args.quick or partial, args.json)  # only a full run replaces results.json

    fake, x_url = start_fake()
    procs: dict[str, subprocess.Popen[bytes]] = {"fake": fake}
    results: dict[str, Any] = {"quick": args.quick, "cpus": os.cpu_count(), "skipped": {}}
    try:
        ready = []
        for _ in range(starts):
            proc, _, seconds = start_server(x_url)
            ready.append(seconds)
            proc.terminate()
            proc.wait()
        results["ready_s_median"] = statistics.median(ready)
        urls: dict[str, str] = {}
        for kind in ("sse", "json"):
            procs[f"floor_{kind}"], urls[f"floor_{kind}"] = start_peer(
                [sys.executable, str(REPO / "benchmarks" / "floor.py"), x_url, kind]
            )
        if args.xmcp:
            command = [args.xmcp_python, str(REPO / "benchmarks" / "xmcp_run.py"), args.xmcp, str(SPEC_159)]
            procs["xmcp"], urls["xmcp"] = start_peer(command, server_env(x_url), timeout=180)
        else:
            results["skipped"]["xmcp"] = "no XMCP checkout given (--xmcp DIR or XMCP_DIR)"
        if args.before:
            procs["xapi_mcp_before"], urls["xapi_mcp_before"], _ = start_server(x_url, Path(args.before))
        else:
            results["skipped"]["xapi_mcp_before"] = "no earlier checkout given (--before DIR)"
        for profile in ("full", "lean", "discovery"):
            procs[f"xapi_mcp_{profile}"], urls[f"xapi_mcp_{profile}"], _ = start_server(
                x_url, X_API_TOOL_PROFILE=profile
            )
        # The relay answers the handshake through xapi-mcp (not measured) and relays each tools/call.
        relay = [sys.executable, str(REPO / "benchmarks" / "relay.py"), x_url + PATH]
        procs["relay"], urls["relay"] = start_peer([*relay, urls[TARGET]])
        for server in ("xmcp", "xapi_mcp_before", "xapi_mcp_full", "xapi_mcp_lean", "xapi_mcp_discovery"):
            for version, mode in VERSIONS.items():
                if server in urls:
                    listings = 3 if server == "xmcp" else 10
                    measured = run_async(measure_listing(mcp_client(server, urls[server], mode), listings))
                    results[f"{server}@{version}"] = measured
        pids = {name: proc.pid for name, proc in procs.items()}
        for name, measured in run_async(measure_calls(x_url, urls, pids, sequential, concurrent_total, rounds)).items():
            results.setdefault(name, {}).update(measured)
        results["peak_rss_mb"] = {name: peak_rss_mb(proc.pid) for name, proc in procs.items() if name != "fake"}
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait()
    if output is not None:
        output.write_text(json.dumps(results, indent=2))
    print_tables(results)
    print(f"\nResults written to {output}." if output else "\nQuick run: nothing written (--json PATH keeps it).")


def results_path(quick: bool, given: str | None) -> Path | None:
    """Where the results go: --json PATH, else results.json for a full run; a quick run keeps none."""
    if given:
        return Path(given)
    return None if quick else REPO / "benchmarks" / "results.json"


async def measure_listing(client: Client, listings: int = 10) -> dict[str, Any]:
    """tools/list size and median latency over fresh (uncached) listings."""
    async with client:
        samples = []
        for _ in range(listings):
            t = time.perf_counter()
            listing = await client.list_tools(cache_mode="refresh")
            samples.append(time.perf_counter() - t)
    # The tools/list result as the server builds it, as `xapi-mcp tools` counts it; and as received,
    # with what the 2026-07-28 protocol adds around it (server info, cache hints).
    size = len(types.ListToolsResult(tools=listing.tools).model_dump_json(by_alias=True, exclude_none=True))
    received = len(listing.model_dump_json(by_alias=True, exclude_none=True))
    ms = statistics.median(samples) * 1000
    return {"tools_list_bytes": size, "tools_list_received_bytes": received, "tools_list_ms": ms}


def print_tables(r: dict[str, Any]) -> None:
    direct = r["direct_httpx"]
    rows = [("direct httpx", "", f"{direct['call_median_ms']:.2f}", f"{direct['call_p99_ms']:.2f}",
             f"{direct['calls_per_s_50_concurrent']:.0f}", "", "")]  # fmt: skip
    for server in SERVERS:
        for version in VERSIONS:
            m = r.get(f"{server}@{version}")
            if m is None or "call_median_ms" not in m:
                continue
            listed = f"{m['tools_list_ms']:.1f}" if "tools_list_ms" in m else ""
            rss = f"{r['peak_rss_mb'][server]:.0f}"
            rows.append((server, version, f"{m['call_median_ms']:.2f}", f"{m['call_p99_ms']:.2f}",
                         f"{m['calls_per_s_50_concurrent']:.0f}", rss, listed))  # fmt: skip
    header = ("server", "protocol", "median ms", "p99 ms", "calls/s at 50", "peak RSS MB", "tools/list ms")
    print_rows(header, rows)
    for name, why in r["skipped"].items():
        print(f"{name}: skipped, {why}.")
    print(f"\nready from a local spec: {r['ready_s_median']:.2f} s (target <= 1.5)")
    print("\nGoals (tools/call median <= direct + 2 ms and <= 0.4x XMCP; calls/s >= 3x XMCP and >= 400; RSS <= 90 MB):")
    goals = []
    for server in (TARGET, "relay"):  # the relay: what any Python server on this stack can reach at best
        for version in VERSIONS:
            m, x = r[f"{server}@{version}"], r.get(f"xmcp@{version}")
            vs = "" if x is None else f"{m['call_median_ms'] / x['call_median_ms']:.2f}x"
            tput = "" if x is None else f"{m['calls_per_s_50_concurrent'] / x['calls_per_s_50_concurrent']:.1f}x"
            extra = m["call_median_ms"] - direct["call_median_ms"]
            goals.append((server, version, f"+{extra:.2f} ms", vs, f"{m['calls_per_s_50_concurrent']:.0f}", tput))
    header = ("server", "protocol", "median over direct", "median vs XMCP", "calls/s", "calls/s vs XMCP")
    print_rows(header, goals)
    print("\nWhere the time of one sequential call goes (same run, interleaved):")
    breakdown = []
    for name, label in BREAKDOWN.items():
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
