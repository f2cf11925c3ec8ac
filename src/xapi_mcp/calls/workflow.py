"""What a workflow tool (several requests of the catalog's operations in one call) is given to run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from xapi_mcp.calls.arguments import PreparedRequest
from xapi_mcp.calls.cost import Estimate
from xapi_mcp.calls.results import ToolOutcome
from xapi_mcp.calls.spending import Spending, Tally
from xapi_mcp.tools.tooldef import ToolDef

Progress = Callable[[float, float | None, str], Awaitable[None]]


def _unpriced(tool: ToolDef, request: PreparedRequest) -> Estimate | None:
    return None


@dataclass(frozen=True)
class Workflow:
    """The catalog's operations, and `send` for one prepared request of one of them (credentials, rate
    limits, retries, dry runs and cost accounting as for any tool call)."""

    send: Callable[[ToolDef, PreparedRequest], Awaitable[ToolOutcome]]
    tools: dict[str, ToolDef]
    media_dir: Path | None
    dry_run: bool
    spending: Spending | None = None  # prices and the spend ledger (usage_x_api reports them)
    tally: Tally = field(default_factory=Tally)  # what this tool call's requests cost so far
    # The worst-case price of one request before it is sent (None: cost is not counted).
    estimate: Callable[[ToolDef, PreparedRequest], Estimate | None] = _unpriced
    allowed: Collection[str] | None = None  # the tools this server offers (None: all): what collect_x_api may page
    max_result_bytes: int = 100_000
    collect_max_items: int = 1000  # X_API_COLLECT_MAX_ITEMS


# A workflow's parts. `check` raises what it would refuse before anything is sent (ArgumentError,
# MediaError) and returns the operation whose credentials and rate limit apply when they are not the
# tool's own; `estimate` gives (the worst case a person is asked about, what today's budget must hold
# before the first request: all of a thread, the first page of a collection).
Run = Callable[[Workflow, ToolDef, dict[str, Any], Progress | None], Awaitable[ToolOutcome]]
Check = Callable[[Workflow, dict[str, Any]], ToolDef | None]
EstimateHook = Callable[[Workflow, ToolDef, dict[str, Any]], tuple[Estimate, Estimate] | None]


class Steps(NamedTuple):
    run: Run
    check: Check
    estimate: EstimateHook | None = None
