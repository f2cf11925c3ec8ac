"""benchmarks/tasks.py: its tasks name real tools, and one runs end to end (search, describe, call; its cost)."""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from types import ModuleType

import pytest

from tests.servers import REPO
from xapi_mcp.spec import load_bundled
from xapi_mcp.tools.catalog import build_catalog


@pytest.fixture(scope="module")
def tasks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tasks_bench", REPO / "benchmarks" / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_tasks_use_real_tools_and_say_how_to_find_them(tasks: ModuleType) -> None:
    catalog = build_catalog(load_bundled().document, workflows=True).tools
    plain = [task for task in tasks.TASKS if not task.via]
    assert len(plain) >= 10 and len({task.name for task in plain}) == len(plain)
    for task in plain:
        assert task.needs <= set(catalog), task.name  # a renamed operation shows up here
        assert task.needs <= set(tasks.FIND), task.name  # every tool an agent may have to search for


def test_a_task_runs_through_search_describe_call_and_a_variant_waits_for_its_tool(tasks: ModuleType) -> None:
    (link,) = [task for task in tasks.TASKS if task.name == "post_with_link"]
    later = tasks.Task("post_with_link", link.says, frozenset({"postWithPreview"}), link.run, via="postWithPreview")
    results = tasks.measure(("discovery",), [link, later], reps=1)
    assert list(results["tasks"]) == ["post_with_link"]  # the server has no postWithPreview: not run
    figures = results["profiles"]["discovery"]["tasks"]["post_with_link"]
    assert figures["tool_calls"] == ["search_x_api", "describe_x_api", "call_x_api"]
    assert figures["search_ranks"] == {"createPosts": 1} and figures["x_requests"] == 1
    assert Decimal(figures["cost_usd"]) == Decimal("0.2")  # a post with a URL, as X prices it
    assert figures["read_bytes"] == results["profiles"]["discovery"]["tools_list_bytes"] + figures["result_bytes"]
