"""How well discovery's `search_x_api` ranks tools, on the held-out set and the tuning set.

    python benchmarks/search_quality.py

Prints one row per set (tests/data/search_heldout.json, and tests/data/search_tuning.json when it
exists): requests, top-1, top-3 and MRR. A table only: the held-out set's misses are never listed,
so nobody tunes the ranking against the set that judges it.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.search_sets import HEADER, HELDOUT, TUNING, load_set, ranks, score, served_tools  # noqa: E402


def main() -> int:
    tools = served_tools()
    print(HEADER)
    for name, path in (("held-out", HELDOUT), ("tuning", TUNING)):
        if not path.exists():
            print(f"{name:<10} (no {path.relative_to(REPO)})")
            continue
        print(score(ranks(load_set(path), tools)).row(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
