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
    says = {task.name: task.says for task in plain}
    for task in tasks.TASKS:
        assert task.needs <= set(catalog), task.key  # a renamed operation shows up here
        assert task.needs <= set(tasks.FIND), task.key  # every tool an agent may have to search for
        assert says[task.name] == task.says, task.key  # a variant is another way to do a plain task
    variants = {task.key for task in tasks.TASKS if task.via}
    assert variants >= {
        "collect_300 via collect_x_api",
        "thread_with_image via createThread",
        "thread_with_image via media_paths",
    }


def test_the_workflow_variants_run_checked_in_fewer_calls_than_the_plain_way(tasks: ModuleType) -> None:
    """Listed (hybrid) and found by search (discovery): the same X requests and cost, fewer MCP calls."""
    chosen = [task for task in tasks.TASKS if task.name in ("collect_300", "thread_with_image")]
    results = tasks.measure(("hybrid", "discovery"), chosen, reps=1)
    for profile, figures in results["profiles"].items():
        ran = figures["tasks"]
        assert set(ran) == {task.key for task in chosen}, profile
        for task in chosen:
            if not task.via:
                continue
            mine, plain = ran[task.key], ran[task.name]
            assert mine["calls"] < plain["calls"], (profile, task.key)
            assert mine["x_requests"] == plain["x_requests"], (profile, task.key)  # the same work on X
            assert Decimal(mine["cost_usd"]) == Decimal(plain["cost_usd"]), (profile, task.key)
    hybrid, discovery = results["profiles"]["hybrid"]["tasks"], results["profiles"]["discovery"]["tasks"]
    assert hybrid["collect_300 via collect_x_api"]["tool_calls"] == ["collect_x_api"]
    assert hybrid["thread_with_image via createThread"]["tool_calls"] == ["createThread"]
    assert hybrid["thread_with_image via media_paths"]["tool_calls"] == ["createPosts"] * 3
    assert discovery["thread_with_image via createThread"]["tool_calls"] == [
        "search_x_api",
        "describe_x_api",
        "call_x_api",
    ]
    assert discovery["collect_300 via collect_x_api"]["search_ranks"] == {"collect_x_api": 1}


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
