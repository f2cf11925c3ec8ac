"""Startup time offline: from launching `python server.py` until a served tools/list answers.

    python benchmarks/startup.py              # 7 runs per mode, medians
    python benchmarks/startup.py --runs 3     # fewer
    python benchmarks/startup.py --json out.json

Each run starts the server the way a fresh machine would: an empty HOME (no cached spec), no
XDG_CACHE_HOME, no credentials, and the spec from one of two modes:
- `bundled`: X_API_SPEC=bundled, the snapshot shipped in the package, no download tried;
- `default`: X_API_SPEC unset, so the live document is tried first and, with no network (or none
  reaching api.x.com), the bundled snapshot serves. This prices the failed attempt.
Time runs from just before the process is launched to the first tools/list answer (polled every
5 ms with one JSON-RPC POST), so it includes the interpreter, imports, the spec, the catalog and
the HTTP server coming up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers import free_port  # noqa: E402

LIST_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/list",
}
LIST_BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/list",
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "startup-bench", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        },
    }
)
MODES = {"bundled": {"X_API_SPEC": "bundled"}, "default": {}}


def fresh_env(home: str, mode: str) -> dict[str, str]:
    """The caller's environment minus every xapi-mcp setting and cache location."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("X_", "MCP_", "XAI_")) and k not in ("HOME", "XDG_CACHE_HOME", "CLIENT_ID")
    }
    env.update(HOME=home, **MODES[mode])
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (a figure less moved by other load than wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(mode: str) -> tuple[float, float, int]:
    """Seconds from launch to the first tools/list answer, the server's CPU seconds by then, and
    how many tools it listed."""
    with tempfile.TemporaryDirectory(prefix="xapi-mcp-empty-home-") as home:
        port = free_port()
        url = f"http://127.0.0.1:{port}/mcp"
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "server.py"), "--port", str(port)],
            env=fresh_env(home, mode),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=home,
        )
        try:
            with httpx.Client(timeout=5) as client:
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"server exited with {proc.returncode}: {proc.communicate()[1].decode()}")
                    if time.perf_counter() - started > 60:
                        raise RuntimeError("no tools/list answer in 60 s")
                    try:
                        response = client.post(url, content=LIST_BODY, headers=LIST_HEADERS)
                    except httpx.TransportError:
                        time.sleep(0.005)
                        continue
                    elapsed = time.perf_counter() - started
                    tools = response.json()["result"]["tools"]
                    return elapsed, cpu_seconds(proc.pid), len(tools)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stderr:
                proc.stderr.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per mode (default 7)")
    parser.add_argument("--mode", choices=[*MODES, "all"], default="all")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for mode in MODES if args.mode == "all" else [args.mode]:
        samples, cpu, counts = [], [], set()
        for _ in range(args.runs):
            seconds, cpu_s, count = one_run(mode)
            samples.append(seconds)
            cpu.append(cpu_s)
            counts.add(count)
        results[mode] = {
            "median_s": statistics.median(samples),
            "min_s": min(samples),
            "max_s": max(samples),
            "runs": len(samples),
            "tools": sorted(counts),
            "samples_s": [round(s, 3) for s in samples],
            "server_cpu_median_s": statistics.median(cpu),
        }
        print(
            f"{mode:<8} median {statistics.median(samples):.2f} s (min {min(samples):.2f}, max {max(samples):.2f}, "
            f"{len(samples)} runs; server CPU median {statistics.median(cpu):.2f} s) until tools/list answered "
            f"with {'/'.join(map(str, sorted(counts)))} tools"
        )
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} CPUs (wall times stretch with it)")
    if args.json:
        args.json.write_text(json.dumps({"startup": results, "cpus": os.cpu_count(), "load": load}, indent=2))


if __name__ == "__main__":
    main()
