"""Request sets that judge discovery's ranking: load one, score `SearchIndex` on it.

A set is a JSON file `{"requests": [{"q": "...", "accept": ["operationId", ...]}, ...]}`; a request
counts as found at rank r when the r-th result is any of its accepted tools. Shared by
tests/test_search_heldout.py, tests/test_search_quality.py and benchmarks/search_bench.py so all score the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from xapi_mcp.tools.catalog import build_catalog
from xapi_mcp.tools.discovery import SearchIndex
from xapi_mcp.tools.tooldef import ToolDef

DATA = Path(__file__).resolve().parent / "data"
HELDOUT = DATA / "search_heldout.json"
TUNING = DATA / "search_tuning.json"
TUNING2 = DATA / "search_tuning2.json"  # written for issue 16 part 2 before the tool names were read
TUNING3 = DATA / "search_tuning3.json"  # written for issue 16 part 2 (wp-search3) before the ranking code was read
DEPTH = 25  # results read per request; a request not found within them scores 0 in the MRR


@lru_cache(maxsize=1)
def served_tools() -> dict[str, ToolDef]:
    """Every tool a full-profile server serves for the bundled 2.159 spec (uploadMedia included)."""
    from tests.conftest import load_document  # conftest loads pytest plug-ins: import it only when needed

    return dict(build_catalog(load_document("2.159"), workflows=True).tools)


def load_set(path: Path) -> list[dict[str, Any]]:
    """The `requests` of a set file, each checked to have a query and at least one accepted tool name."""
    requests = json.loads(path.read_text(encoding="utf-8")).get("requests")
    if not isinstance(requests, list):
        raise ValueError(f"{path.name}: expected a top-level 'requests' list of {{'q': ..., 'accept': [...]}}")
    for i, item in enumerate(requests):
        ok = isinstance(item, dict) and isinstance(item.get("q"), str) and item["q"].strip()
        accept = item.get("accept") if ok else None
        if not (isinstance(accept, list) and accept and all(isinstance(n, str) and n for n in accept)):
            raise ValueError(f"{path.name}: request {i} needs a non-empty 'q' and a non-empty 'accept' list of names")
    return requests


@dataclass(frozen=True)
class Score:
    count: int
    top1: int
    top3: int
    mrr: float

    def row(self, name: str) -> str:
        return (
            f"{name:<10} {self.count:>5} {self.top1:>5} ({self.top1 / self.count:6.1%}) "
            f"{self.top3:>5} ({self.top3 / self.count:6.1%}) {self.mrr:7.3f}"
        )


HEADER = f"{'set':<10} {'n':>5} {'top-1':>14} {'top-3':>14} {'MRR':>7}"


def ranks(requests: list[dict[str, Any]], tools: dict[str, ToolDef]) -> list[int | None]:
    """Per request, the 1-based rank of its first accepted tool in the search results (None: not in the top DEPTH)."""
    index = SearchIndex.build(tools)
    out: list[int | None] = []
    for item in requests:
        names = [name for name, _ in index.search(item["q"], tools, limit=DEPTH)]
        out.append(next((r for r, name in enumerate(names, 1) if name in item["accept"]), None))
    return out


def score(found: list[int | None]) -> Score:
    return Score(
        count=len(found),
        top1=sum(r == 1 for r in found),
        top3=sum(r is not None and r <= 3 for r in found),
        mrr=sum(1 / r for r in found if r is not None) / len(found),
    )
