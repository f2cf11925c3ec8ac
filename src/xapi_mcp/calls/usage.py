"""`usage_x_api` and `xapi-mcp usage`: today's spend as this server counted it, beside X's own count.

Our figures are estimates from X's published rates and what X returned; X's `getUsage` (app-only
bearer token) reports posts read per day and the monthly cap. Shown side by side, a drift between
the two is visible instead of discovered on the invoice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from xapi_mcp.calls.arguments import prepare
from xapi_mcp.calls.cost import usd
from xapi_mcp.calls.ledger import next_utc_midnight
from xapi_mcp.calls.results import ToolOutcome, dumps
from xapi_mcp.calls.spending import Spending
from xapi_mcp.calls.workflow import Progress, Workflow
from xapi_mcp.tools.tooldef import ToolDef

X_USAGE = "getUsage"
POSTS_READ = ("Posts: Read",)  # what X's getUsage counts: posts consumed


def check_usage(workflow: Workflow, args: dict[str, Any]) -> None:
    """Nothing can refuse a usage report before it runs (no credential is required)."""


async def run_usage(workflow: Workflow, tool: ToolDef, args: dict[str, Any], progress: Progress | None) -> ToolOutcome:
    if workflow.spending is None:
        return ToolOutcome("usage_x_api: cost is not counted by this server, so there is nothing to report.", True)
    report = await usage_report(workflow.spending, await _x_usage(workflow))
    return ToolOutcome(render(report), note=dumps(report))


async def usage_report(spending: Spending, x_usage: dict[str, Any]) -> dict[str, Any]:
    """Today's spend by tool and by category, the budget left, and X's own numbers (`x_usage`)."""
    ledger = spending.ledger
    day = ledger.today()
    spent = await ledger.day_total(day)
    by_tool = await ledger.by_tool(day)
    categories: dict[str, int] = {}
    for spend in by_tool.values():
        for category, count in spend.resources.items():
            categories[category] = categories.get(category, 0) + count
    budget = ledger.budget
    now = datetime.now(UTC)
    minutes = int((next_utc_midnight(now) - now).total_seconds() // 60)
    ours = sum(categories.get(category, 0) for category in POSTS_READ)
    return {
        "day": day.isoformat(),
        "resets_in": f"{minutes // 60} h {minutes % 60:02d} min",
        "spent_usd": float(spent),
        "budget_usd": None if budget is None else float(budget),
        "left_usd": None if budget is None else float(max(budget - spent, Decimal(0))),
        "by_tool": {
            name: {"usd": float(s.usd), "calls": s.calls, "resources": dict(s.resources)}
            for name, s in sorted(by_tool.items(), key=lambda item: -item[1].usd)
        },
        "by_category": categories,
        "paused": spending.paused(),
        "prices": {"date": spending.prices.date, "override": spending.prices.override_path},
        "x": x_usage,
        "posts_read_today": {"ours": ours, "x": x_usage.get("today")},
    }


def render(report: dict[str, Any]) -> str:
    """The report in a few lines a person (or a model) reads."""
    budget = report["budget_usd"]
    spent = Decimal(str(report["spent_usd"]))
    if budget is None:
        head = f"{usd(spent)} (no daily budget)"
    else:
        head = (
            f"{usd(spent)} of {usd(Decimal(str(budget)))} daily budget ({usd(Decimal(str(report['left_usd'])))} left)"
        )
    lines = [f"X API spend today ({report['day']} UTC, resets in {report['resets_in']}): {head}"]
    billed = {name: s for name, s in report["by_tool"].items() if s["usd"] or s["resources"]}
    if billed:
        tools = [
            f"{name} {usd(Decimal(str(s['usd'])))} ({s['calls']} call{'s' if s['calls'] != 1 else ''}"
            + (": " + ", ".join(f"{n} × {c}" for c, n in s["resources"].items()) if s["resources"] else "")
            + ")"
            for name, s in billed.items()
        ]
        free = sorted(set(report["by_tool"]) - set(billed))
        lines.append("By tool: " + " · ".join(tools) + (f" (and {', '.join(free)}: no known price)" if free else ""))
        lines.append("By category: " + " · ".join(f"{c} {n}" for c, n in report["by_category"].items()))
    else:
        lines.append("No calls that cost money today.")
    if report["paused"]:
        lines.append(f"Paused: {report['paused']}")
    x = report["x"]
    if "unavailable" in x:
        lines.append(f"X's own count: unavailable ({x['unavailable']})")
    else:
        month = f"{x['project_usage']:,}" if isinstance(x.get("project_usage"), int) else "?"
        cap = f" of {x['project_cap']:,}" if isinstance(x.get("project_cap"), int) else ""
        reset = f", cap resets in {x['cap_reset_day']} days" if isinstance(x.get("cap_reset_day"), int) else ""
        today = x.get("today")
        lines.append(
            f"X's own count (getUsage): posts read today {today if today is not None else '?'} "
            f"(this server counted {report['posts_read_today']['ours']}); this month {month}{cap}{reset}"
        )
    lines.append(
        "Our figures are estimates from X's published rates (prices of "
        f"{report['prices']['date']}); the developer console (console.x.com) has the bill."
    )
    return "\n".join(lines)


async def _x_usage(workflow: Workflow) -> dict[str, Any]:
    """X's getUsage answer, condensed; or why it is not available."""
    tool = workflow.tools.get(X_USAGE)
    if tool is None:
        return {"unavailable": "this spec version has no getUsage operation"}
    if workflow.dry_run:
        return {"unavailable": "X_API_DRY_RUN=1: nothing is sent to X"}
    outcome = await workflow.send(tool, prepare(tool, {"days": 1}))
    body = outcome.body if isinstance(outcome.body, dict) else None
    data = body.get("data") if body is not None else None
    if outcome.is_error or not isinstance(data, dict):
        reason = outcome.text if outcome.is_error else "X's answer had no usage data"
        return {"unavailable": reason.removeprefix(f"{X_USAGE}: ")[:300]}
    daily = (data.get("daily_project_usage") or {}).get("usage") or []
    today = datetime.now(UTC).date().isoformat()
    counted = [entry.get("usage") for entry in daily if str(entry.get("date", "")).startswith(today)]
    return {
        "today": counted[0] if counted else None,
        "project_usage": data.get("project_usage"),
        "project_cap": data.get("project_cap"),
        "cap_reset_day": data.get("cap_reset_day"),
    }
