"""Where xapi-mcp's CPU goes under load: py-spy samples of the server process, by layer and library.

    python benchmarks/profile_server.py                  # 50 concurrent mcp Client calls, 10 s
    python benchmarks/profile_server.py --concurrency 1  # sequential calls
    python benchmarks/profile_server.py --protocol 2025-11-25   # a client of the handshake era

Starts the benchmark's fake X and an xapi-mcp server (full profile) and keeps `--concurrency` calls
of the benchmark's tool in flight with the `mcp` client: first unobserved, for the server's CPU
per call (from /proc), then while py-spy (in the dev extras) samples the server. Each sample counts
for the innermost layer its stack passes through (the call to X, the MCP SDK, xapi-mcp's own work,
the HTTP server, else the event loop) and for the library and function that were running; native
code counts under the Python function that called it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench
from mcp import Client

_FRAME = re.compile(r"(?P<function>.*) \((?P<path>.*?)(?::\d+)?\)$")
# A sample belongs to the innermost of these layers its stack passes through (one task runs a whole
# request in JSON-response mode, so its stack reaches from uvicorn down to the socket).
LAYERS = (
    ("Executor._request (", "the call to X: httpx2 + authlib's OAuth 1.0a signature"),
    ("on_call_tool (", "xapi-mcp: validation, building the request, result shaping"),
    ("DirectCalls.answer (", "xapi-mcp's direct path: envelope, checks, context, JSON answer"),
    ("StreamableHTTPASGIApp.__call__ (", "MCP SDK: Streamable HTTP, JSON-RPC, pydantic (and writing the answer)"),
    ("RequestResponseCycle.run_asgi (", "HTTP server: uvicorn, Starlette, middleware"),
)
OUTSIDE = "event loop (uvloop) and I/O callbacks"


def where(frame: str) -> tuple[str, str]:
    """(library, function) of one py-spy frame such as `send (/…/site-packages/anyio/_core.py:12)`."""
    match = _FRAME.match(frame)
    if match is None:
        return "(native)", frame or "(native)"
    path = match["path"]
    if "site-packages/" in path:
        library = path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    elif "/src/xapi_mcp/" in path:
        library = "xapi_mcp"
    elif "/lib/python3" in path:
        library = "stdlib " + path.rsplit("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
    else:
        library = path.rsplit("/", 1)[-1]
    return library, f"{match['function']} ({library})"


def layer(stack: str) -> str:
    return next((name for marker, name in LAYERS if marker in stack), OUTSIDE)


def tally(raw: Path) -> dict[str, collections.Counter[str]]:
    """py-spy's raw (collapsed) output -> samples per layer, and per library and function running."""
    counts: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in ("layer", "library", "function")}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        library, function = where(stack.rsplit(";", 1)[-1])
        for kind, key in (("layer", layer(stack)), ("library", library), ("function", function)):
            counts[kind][key] += int(count)
    return counts


async def measure(
    url: str, server_pid: int, concurrency: int, seconds: float, spy: list[str], mode: str = "auto"
) -> dict[str, float]:
    """Calls, `concurrency` at a time: `seconds` unobserved (CPU per call), then while py-spy samples.

    py-spy pauses the server for each sample (a torn stack would land in the wrong layer), which
    slows it, so the CPU figure comes from the unobserved phase and the samples give only shares.
    """
    async with Client(url, mode=mode) as client:

        async def calls_until(done: Callable[[], bool]) -> int:
            made = 0

            async def worker() -> None:
                nonlocal made
                while not done():
                    result = await client.call_tool(*bench.CALL)
                    assert not result.is_error, result.content
                    made += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return made

        for _ in range(50):  # warm up
            await client.call_tool(*bench.CALL)
        cpu_before, started = bench.cpu_seconds(server_pid), time.perf_counter()
        made = await calls_until(lambda: time.perf_counter() - started > seconds)
        elapsed, cpu_used = time.perf_counter() - started, bench.cpu_seconds(server_pid) - cpu_before
        sampler = subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        await calls_until(lambda: sampler.poll() is not None)
        _, errors = sampler.communicate()
        if sampler.returncode != 0:
            raise SystemExit(f"py-spy failed ({sampler.returncode}): {errors.decode().strip()}")
        return {"calls": made, "seconds": elapsed, "cpu_ms_per_call": cpu_used / max(made, 1) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=50, help="calls in flight (default 50)")
    parser.add_argument("--seconds", type=int, default=10, help="how long py-spy records (default 10)")
    parser.add_argument("--top", type=int, default=15, help="how many functions to list (default 15)")
    parser.add_argument("--protocol", choices=list(bench.VERSIONS), default="2026-07-28", help="the client's version")
    args = parser.parse_args()
    spy_bin = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy_bin is None:
        raise SystemExit("profile_server.py needs py-spy: pip install py-spy (it samples the server from outside).")

    fake, x_url = bench.start_fake()
    server = None
    try:
        server, url, _ = bench.start_server(x_url)
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "samples.txt"
            spy = [spy_bin, "record", "--rate", "200", "--duration", str(args.seconds), "--full-filenames"]
            spy += ["--format", "raw", "--output", str(raw), "--pid", str(server.pid)]
            mode = bench.VERSIONS[args.protocol]
            measured = bench.run_async(measure(url, server.pid, args.concurrency, args.seconds, spy, mode))
            counts = tally(raw)
    finally:
        for proc in (server, fake):
            if proc is not None:
                proc.terminate()
                proc.wait()
    report(measured, counts, args.top)


def report(measured: dict[str, float], counts: dict[str, collections.Counter[str]], top: int) -> None:
    total = sum(counts["layer"].values()) or 1
    calls, seconds, per_call = measured["calls"], measured["seconds"], measured["cpu_ms_per_call"]
    print(f"{calls:.0f} calls in {seconds:.1f} s ({calls / seconds:.0f}/s); server CPU {per_call:.2f} ms per call")
    print(f"py-spy samples of the server, taken afterwards: {total} (ms/call = share x CPU per call)\n")
    for kind, least in (("layer", 0.0), ("library", 0.005)):
        shown = [(name, n / total) for name, n in counts[kind].most_common() if per_call * n / total >= least]
        rows = [(name, f"{share:.1%}", f"{per_call * share:.3f}") for name, share in shown]
        bench.print_rows((f"{kind} (self time)", "share", "ms/call"), rows)
        print()
    rows = [(name, f"{n / total:.1%}") for name, n in counts["function"].most_common(top)]
    bench.print_rows(("function (self time)", "share"), rows)


if __name__ == "__main__":
    main()
