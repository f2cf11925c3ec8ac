"""search_x_api: ranking quality on a request set, index build time and per-query time (medians).

    python benchmarks/search_bench.py                                  # tests/data/search_tuning.json
    python benchmarks/search_bench.py --set other.json --misses        # another set; list the misses
    python benchmarks/search_bench.py --json out.json

A set is `{"requests": [{"q": "...", "accept": ["operationId", ...]}]}`: a request counts as top-1
when the first tool is one of `accept`, top-3 when one of them is among the first three. Tools are
the bundled 2.159 catalog plus uploadMedia, as a full-allowlist discovery server has them. Build
time is `SearchIndex.build` over those tools (the server builds it once at startup); query time is
one `SearchIndex.search` call, the median over every request of the set, repeated. Each is given as
wall time and as this process's CPU time, which a busy shared machine disturbs less.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from xapi_mcp.spec import load_bundled  # noqa: E402
from xapi_mcp.tools.catalog import build_catalog, upload_tool  # noqa: E402
from xapi_mcp.tools.discovery import SearchIndex  # noqa: E402
from xapi_mcp.tools.tooldef import ToolDef  # noqa: E402

TUNING = REPO / "tests" / "data" / "search_tuning.json"


def served_tools() -> dict[str, ToolDef]:
    tools = dict(build_catalog(load_bundled().document).tools)
    upload = upload_tool(tools)
    if upload is not None:
        tools[upload.name] = upload
    return tools


def quality(index: SearchIndex, tools: dict[str, ToolDef], requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1 / top-3 counts and, per request outside the top 1, what came first."""
    top1 = top3 = 0
    misses = []
    for request in requests:
        names = [name for name, _ in index.search(request["q"], tools, limit=3)]
        accept = set(request["accept"])
        top1 += bool(names[:1] and names[0] in accept)
        top3 += bool(accept & set(names))
        if not (names[:1] and names[0] in accept):
            misses.append({"q": request["q"], "accept": request["accept"], "got": names})
    count = len(requests)
    rates = {"top1_rate": top1 / count, "top3_rate": top3 / count}
    return {"count": count, "top1": top1, "top3": top3, **rates, "misses": misses}


def timings(tools: dict[str, ToolDef], queries: list[str], runs: int) -> dict[str, float]:
    """Medians of wall time and of this process's CPU time (steadier on a shared machine)."""
    builds, build_cpu = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        index = SearchIndex.build(tools)
        builds.append(time.perf_counter() - start)
        build_cpu.append(time.process_time() - cpu)
    per_query, query_cpu = [], []
    for _ in range(max(runs // 4, 1)):
        for query in queries:
            start, cpu = time.perf_counter(), time.process_time()
            index.search(query, tools, limit=8)
            per_query.append(time.perf_counter() - start)
            query_cpu.append(time.process_time() - cpu)
    return {
        "build_ms": statistics.median(builds) * 1000,
        "build_cpu_ms": statistics.median(build_cpu) * 1000,
        "query_ms": statistics.median(per_query) * 1000,
        "query_cpu_ms": statistics.median(query_cpu) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=TUNING, help="request set (JSON)")
    parser.add_argument("--runs", type=int, default=21, help="index builds to time")
    parser.add_argument("--misses", action="store_true", help="print each request whose first tool is wrong")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    tools = served_tools()
    requests = json.loads(args.set.read_text())["requests"]
    index = SearchIndex.build(tools)
    figures = quality(index, tools, requests)
    figures.update(timings(tools, [r["q"] for r in requests], args.runs))
    figures["tools"] = len(tools)
    if args.misses:
        for miss in figures["misses"]:
            print(f"  {miss['q']!r}: want {'|'.join(miss['accept'])}, got {', '.join(miss['got'])}")
    print(
        f"{args.set.name}: {figures['count']} requests over {len(tools)} tools; "
        f"top-1 {figures['top1']}/{figures['count']} ({figures['top1_rate']:.3f}), "
        f"top-3 {figures['top3']}/{figures['count']} ({figures['top3_rate']:.3f}); "
        f"build {figures['build_ms']:.1f} ms ({figures['build_cpu_ms']:.1f} ms CPU), "
        f"query {figures['query_ms']:.3f} ms ({figures['query_cpu_ms']:.3f} ms CPU) (medians)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
