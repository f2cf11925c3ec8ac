"""Ask the person before a tool writes to X (X_API_CONFIRM_WRITES, on by default).

X's developer rules make the person answerable for every post, like, follow and DM an agent sends.
Every tool that is not read-only asks first, through MCP elicitation:
- 2026-07-28 clients: the call returns `InputRequiredResult` with the question; the client asks
  the person and calls again carrying the answer (MRTR).
- 2025-11-25 clients that declare elicitation: a pushed `elicitation/create` during the call.
- clients without elicitation: an error result saying how to turn confirmation off. Never a
  silent send.
Calls estimated above X_API_CONFIRM_COST_USD (reads that page 100 posts) are asked about the same
way, and every question states the price (and why, for a post whose URL makes it cost $0.200).
Nobody is asked about a call that cannot go: `Executor.preflight` (arguments, files, credentials
or the consent URL, a rate limit X reported exhausted, the budget, X's posting rules) answers first.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from mcp.server import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from xapi_mcp.calls.results import ToolOutcome
from xapi_mcp.tools.tooldef import ToolDef

KEY = "confirm"
_BLOB_CHARS = 2_000  # longer strings are media data, not words a person reads
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Send it?", "default": True}},
    "required": ["confirm"],
}


def needs_confirmation(tool: ToolDef) -> bool:
    return tool.plan.method != "GET"


def describe_action(tool: ToolDef, arguments: dict[str, Any], who: str | None) -> str:
    """What the person is agreeing to, in their terms: "Create or Edit Post as @jack: «hello»"."""
    actor = f"@{who}" if who else "the authorised X account"
    text = arguments.get("text")
    rest = {k: _shown(v) for k, v in arguments.items() if k != "text"}
    shown = json.dumps(rest, ensure_ascii=False, separators=(", ", ": ")) if rest else ""
    if isinstance(text, str):  # the whole post: a person approves what is sent, not its first line
        return f"{tool.title or tool.name} as {actor}: «{text}»" + (f" with {shown}" if rest else "")
    return f"{tool.title or tool.name} as {actor}: {shown or '{}'}"


def _shown(value: Any) -> Any:
    """Arguments as the person should see them: every value whole, except blobs (base64 media) by size."""
    if isinstance(value, str) and len(value) > _BLOB_CHARS:
        return f"<{len(value):,} characters>"
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _supports_elicitation(ctx: ServerRequestContext[Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def _accepted(result: Any) -> bool:
    if not isinstance(result, types.ElicitResult) or result.action != "accept":
        return False
    return (result.content or {}).get(KEY, True) is not False


async def ask(
    ctx: ServerRequestContext[Any],
    params: types.CallToolRequestParams,
    tool: ToolDef,
    arguments: dict[str, Any],
    who: str | None,
    *,
    price: str | None = None,
    costly: bool = False,
) -> types.InputRequiredResult | ToolOutcome | None:
    """None: go ahead. An InputRequiredResult: return it (the client will ask and call again).
    A ToolOutcome: the answer to return instead of sending (declined, or no way to ask).

    `price` is stated in the question; `costly`: asked because the price is over X_API_CONFIRM_COST_USD.
    """
    message = describe_action(tool, arguments, who) + (f". Price: {price}" if price else "")
    declined = ToolOutcome(f"{tool.name}: the person declined ({message}). Nothing was sent to X.", True)
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        answer = (params.input_responses or {}).get(KEY)
        if answer is not None:
            return None if _accepted(answer) else declined
        if _supports_elicitation(ctx):
            request = types.ElicitRequest(
                params=types.ElicitRequestFormParams(message=message, requested_schema=SCHEMA)
            )
            return types.InputRequiredResult(input_requests={KEY: request})
    elif _supports_elicitation(ctx):
        result = await ctx.session.elicit_form(message, SCHEMA, related_request_id=ctx.request_id)
        return None if _accepted(result) else declined
    if costly and not needs_confirmation(tool):
        return ToolOutcome(
            f"{tool.name} may cost more than X_API_CONFIRM_COST_USD ({message}) and needs the person's "
            "confirmation, but this MCP client cannot ask (it does not support elicitation). Nothing was sent. "
            "Ask for less (a lower max_results, fewer IDs or expansions), or start xapi-mcp with a higher "
            "X_API_CONFIRM_COST_USD (or off); the daily budget X_API_BUDGET_USD still applies.",
            True,
        )
    return ToolOutcome(
        f"{tool.name} writes to X ({message}) and needs the person's confirmation, but this MCP client cannot "
        "ask (it does not support elicitation). Nothing was sent. To let this client write without asking, "
        "start xapi-mcp with X_API_CONFIRM_WRITES=0 (you are then answerable for what the agent sends)"
        + (" and X_API_CONFIRM_COST_USD above its price (or off)." if costly else "."),
        True,
    )
