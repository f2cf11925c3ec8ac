"""The held-out set of plain-language X requests (issue 16): well-formed, and scored for the record.

tests/data/search_heldout.json was written before its labels and before anyone tuned the ranking
against it; nobody tunes against it. This file asserts that the set is sound and that the ranking
does not fall below the figures measured when it last changed (as counts only: a failure never names
a request). `pytest -s tests/test_search_heldout.py` prints today's top-1 / top-3 / MRR.
"""

from __future__ import annotations

import json

from tests.search_sets import HEADER, HELDOUT, load_set, ranks, score, served_tools

MIN_LABELLED = 150
# Measured 156 / 169 of 179 (2026-11-30, after the tuning2 and tuning3 rounds); floors a little under.
TOP1_FLOOR, TOP3_FLOOR = 0.86, 0.93


def test_heldout_set_is_well_formed() -> None:
    doc = json.loads(HELDOUT.read_text(encoding="utf-8"))
    assert isinstance(doc.get("written"), str) and doc["written"], "the set says when it was written"
    assert isinstance(doc.get("how"), str) and doc["how"], "the set says how it was written and labelled"
    requests = load_set(HELDOUT)
    assert len(requests) >= MIN_LABELLED, f"{len(requests)} labelled requests, at least {MIN_LABELLED} wanted"
    queries = [item["q"].strip().lower() for item in requests]
    repeated = {q for q in queries if queries.count(q) > 1}
    assert not repeated, f"requests appear twice: {sorted(repeated)}"
    tools = served_tools()
    unknown = {(item["q"], name) for item in requests for name in item["accept"] if name not in tools}
    assert not unknown, f"accepted names that are not tools of the 2.159 catalog: {sorted(unknown)}"
    assert all(len(set(item["accept"])) == len(item["accept"]) for item in requests), "an accept list repeats a name"
    assert all(isinstance(item.get("note", ""), str) for item in requests)
    dropped = doc.get("dropped", [])
    assert all(isinstance(d.get("q"), str) and isinstance(d.get("why"), str) and d["why"] for d in dropped), (
        "each dropped request says why no tool serves it"
    )
    assert not {d["q"].strip().lower() for d in dropped} & set(queries), "a request is both labelled and dropped"


def test_heldout_scores_are_printed() -> None:
    requests = load_set(HELDOUT)
    found = ranks(requests, served_tools())
    result = score(found)
    print(f"\n{HEADER}\n{result.row('held-out')}")
    assert result.count == len(requests) and 0 <= result.top1 <= result.top3 <= result.count
    top1, top3 = result.top1 / result.count, result.top3 / result.count
    assert top1 >= TOP1_FLOOR and top3 >= TOP3_FLOOR, (
        f"held-out ranking fell to top-1 {top1:.3f} / top-3 {top3:.3f} (floors {TOP1_FLOOR} / {TOP3_FLOOR}); "
        "find the cause on the tuning sets (benchmarks/search_bench.py --set ... --misses), never on this one"
    )
