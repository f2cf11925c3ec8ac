"""Developer tools: the README's tool-list sizes are computed, and a quick benchmark keeps no results."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.servers import REPO, SPEC_157, SPEC_159

WORKFLOWS = {"uploadMedia", "usage_x_api", "collect_x_api", "createThread"}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures_module() -> ModuleType:
    return load("readme_figures")


@pytest.fixture(scope="module")
def figures(figures_module: ModuleType) -> dict[str, str]:
    computed: dict[str, str] = figures_module.compute()
    return computed


def test_readme_figures_are_the_computed_ones(figures_module: ModuleType, figures: dict[str, str]) -> None:
    text = (REPO / "README.md").read_text()
    assert figures_module.stale(text, figures) == [], "README.md is stale: run python benchmarks/readme_figures.py"
    shown = {match.group(2) for match in figures_module.FIGURE.finditer(text)}
    assert shown == set(figures)  # every computed figure is in the README, none typed by hand


def test_figures_are_what_xapi_mcp_tools_prints(tmp_path: Path, figures: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "MCP_"))}
    env["X_API_TOOL_PROFILE"] = "full"  # every tool a row (past 128 tools the default is hybrid)

    def printed(spec: Path) -> dict[str, Any]:
        return json.loads(
            subprocess.run(
                [sys.executable, "-m", "xapi_mcp", "tools", "--json", "--spec", str(spec)],
                env=env,
                cwd=tmp_path,  # no .env here: every tool allowed
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )

    listing = printed(SPEC_159)
    profiles = {profile: f"{size:,}" for profile, size in listing["profiles"].items()}
    assert profiles == {p: figures[p] for p in ("full", "lean", "discovery", "hybrid")}
    assert f"{max(row['bytes'] for row in listing['tools']):,}" == figures["largest"]
    # Operation tools per spec version: what it lists, less the workflow tools.
    for spec, figure in ((SPEC_159, "tools"), (SPEC_157, "tools_older")):
        rows = printed(spec)["tools"] if spec != SPEC_159 else listing["tools"]
        assert f"{sum(1 for row in rows if row['name'] not in WORKFLOWS)}" == figures[figure]
    assert int(figures["operations"]) == int(figures["tools"]) and int(figures["streams"]) == 15


def test_check_names_stale_figures_and_rewrite_fixes_them(figures_module: ModuleType, figures: dict[str, str]) -> None:
    text = "| size | <!-- figure:full -->127,680<!-- /figure --> bytes |\n"
    assert figures_module.stale(text, figures) == [
        f"README figure 'full' says 127,680, the catalog gives {figures['full']}"
    ]
    fixed = figures_module.rewrite(text, figures)
    assert fixed == f"| size | <!-- figure:full -->{figures['full']}<!-- /figure --> bytes |\n"
    assert figures_module.stale(fixed, figures) == []
    assert "not one this script computes" in figures_module.stale("<!-- figure:nope -->1<!-- /figure -->", figures)[0]


def test_quick_benchmark_writes_no_results_unless_asked() -> None:
    bench = load("bench")
    committed = REPO / "benchmarks" / "results.json"
    assert bench.results_path(quick=True, given=None) is None
    assert bench.results_path(quick=False, given=None) == committed
    assert bench.results_path(quick=True, given="/tmp/quick.json") == Path("/tmp/quick.json")
