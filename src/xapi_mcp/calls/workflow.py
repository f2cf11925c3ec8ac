"""What a workflow tool (several requests of the catalog's operations in one call) is given to run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from xapi_mcp.calls.arguments import PreparedRequest
from xapi_mcp.calls.results import ToolOutcome
from xapi_mcp.calls.spending import Spending
from xapi_mcp.tools.tooldef import ToolDef

Progress = Callable[[float, float | None, str], Awaitable[None]]


@dataclass(frozen=True)
class Workflow:
    """The catalog's operations, and `send` for one prepared request of one of them (credentials, rate
    limits, retries, dry runs and cost accounting as for any tool call)."""

    send: Callable[[ToolDef, PreparedRequest], Awaitable[ToolOutcome]]
    tools: dict[str, ToolDef]
    media_dir: Path | None
    dry_run: bool
    spending: Spending | None = None  # prices and the spend ledger (usage_x_api reports them)
