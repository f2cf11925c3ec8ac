"""The README's tool-list sizes, computed from the spec instead of typed.

    python benchmarks/readme_figures.py          # rewrite the figures in README.md
    python benchmarks/readme_figures.py --check  # exit 1, naming each figure that differs

Every figure in README.md sits between `<!-- figure:NAME -->` and `<!-- /figure -->`. The sizes are
those `xapi-mcp tools` prints for X's spec 2.159 with every tool allowed (`uploadMedia` included),
computed by the same function (`cli.listing_size`): the bytes of the tools/list result's JSON as the
server builds it, compact, per profile. tests/test_readme_figures.py fails when README.md differs.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import mcp_types as types  # noqa: E402

from tests.servers import SPEC_159  # noqa: E402
from xapi_mcp.cli import listing_size  # noqa: E402
from xapi_mcp.server.mcp_server import to_mcp_tool  # noqa: E402
from xapi_mcp.spec import load_spec  # noqa: E402
from xapi_mcp.tools.catalog import build_catalog  # noqa: E402

README = REPO / "README.md"
FIGURE = re.compile(r"(<!-- figure:([a-z_]+) -->)(.*?)(<!-- /figure -->)")


def compute(spec: Path = SPEC_159) -> dict[str, str]:
    """Each figure's text as README shows it: bytes with thousands commas, KB (1,000 bytes) to one decimal."""
    with tempfile.TemporaryDirectory() as cache:  # a local file: the spec cache is never used
        document = load_spec(str(spec), Path(cache)).document
    tools = build_catalog(document, workflows=True).tools  # as `xapi-mcp tools` and the server have them
    sizes = {profile: listing_size(tools, profile) for profile in ("full", "lean", "discovery")}
    described = types.ListToolsResult(tools=[to_mcp_tool(t, "full", describe_args=True) for t in tools.values()])
    described_bytes = len(described.model_dump_json(by_alias=True, exclude_none=True))
    full = sizes["full"][0]
    return {
        "full": f"{full:,}",
        "lean": f"{sizes['lean'][0]:,}",
        "discovery": f"{sizes['discovery'][0]:,}",
        "largest": f"{max(sizes['full'][1].values()):,}",
        "full_kb": f"{full / 1000:.1f}",
        "lean_kb": f"{sizes['lean'][0] / 1000:.1f}",
        "described_kb": f"{described_bytes / 1000:.1f}",
        "wording_kb": f"{(described_bytes - full) / 1000:.1f}",
    }


def stale(text: str, figures: dict[str, str]) -> list[str]:
    """One line per figure in `text` that differs from `figures` (or that nothing computes)."""
    problems = []
    for match in FIGURE.finditer(text):
        name, shown = match.group(2), match.group(3)
        if name not in figures:
            problems.append(f"README figure '{name}' is not one this script computes ({', '.join(figures)})")
        elif shown != figures[name]:
            problems.append(f"README figure '{name}' says {shown}, the catalog gives {figures[name]}")
    if not FIGURE.search(text):
        problems.append("README.md has no <!-- figure:NAME --> markers")
    return problems


def rewrite(text: str, figures: dict[str, str]) -> str:
    """`text` with every known figure replaced by its computed value."""
    return FIGURE.sub(lambda m: m.group(1) + figures.get(m.group(2), m.group(3)) + m.group(4), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a figure differs")
    args = parser.parse_args()
    figures = compute()
    text = README.read_text()
    problems = stale(text, figures)
    if args.check:
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("Fix: python benchmarks/readme_figures.py", file=sys.stderr)
        return 1 if problems else 0
    unknown = [p for p in problems if "is not one" in p or "no <!--" in p]
    if unknown:
        print("\n".join(unknown), file=sys.stderr)
        return 1
    README.write_text(rewrite(text, figures))
    print(f"README.md: {len(problems)} figure(s) updated" if problems else "README.md: figures already current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
