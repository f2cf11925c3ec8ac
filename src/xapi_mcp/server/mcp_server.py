"""The MCP server: tools/list from the catalog (per profile), tools/call through the executor.

Built on the SDK's low-level `Server` because the tools are data (from the spec), not Python
functions. The tool list is built once; a call does a dict lookup, validation and the HTTP request.
In the discovery profile, `call_x_api` reaches exactly the same executor path as a direct call.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from xapi_mcp import __version__
from xapi_mcp.calls import confirm
from xapi_mcp.calls.executor import Checked, Executor, ToolOutcome
from xapi_mcp.calls.results import snippet
from xapi_mcp.calls.spending import META_KEY as COST_META
from xapi_mcp.errors import StateUnavailable
from xapi_mcp.logs import redact, redact_value, redactor
from xapi_mcp.tools.discovery import (
    CALL,
    DESCRIBE,
    SEARCH,
    SearchIndex,
    describe_result,
    discovery_tools,
    search_result,
)
from xapi_mcp.tools.profiles import FULL_BUDGET, LEAN_NOTE, Profile, hybrid_direct, view
from xapi_mcp.tools.tooldef import ToolDef

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Tools for the X (Twitter) API v2, one per API operation. IDs are numeric strings. Ask for extra "
    "data with the *_fields and expansions arguments; page with pagination_token. Tools that write "
    "(post, like, follow, DM) act as the authorised user."
)
DISCOVERY_INSTRUCTIONS = (
    "The X (Twitter) API v2 through three tools: search_x_api finds the tool for a task, describe_x_api "
    "shows its arguments, call_x_api runs it. Writes act as the authorised user."
)
HYBRID_INSTRUCTIONS = (
    "The most used X (Twitter) API v2 operations are tools here; search_x_api finds any other one (and these), "
    "describe_x_api shows its arguments, call_x_api runs it. Writes act as the authorised user."
)


class ToolServer(Server[Any]):
    """The SDK's low-level server, plus what the HTTP layer's direct path must know of a call (server/direct.py)."""

    may_ask: Callable[[str, Mapping[str, Any]], bool] | None = None


def to_mcp_tool(tool: ToolDef, profile: Profile = "full", *, describe_args: bool = False) -> types.Tool:
    title, description, schema = view(tool, profile, describe_args=describe_args)
    return types.Tool(
        name=tool.name,
        title=title,
        description=description,
        input_schema=schema,
        annotations=types.ToolAnnotations.model_validate(tool.annotations),
    )


# The list is read once at startup and is the same for every caller: 2026-07-28 clients may keep it
# a day (the longest the SDK's client cache keeps anything) and share it across callers.
LIST_CACHE: dict[str, Any] = {"ttl_ms": 24 * 60 * 60 * 1000, "cache_scope": "public"}


def listing(tools: dict[str, ToolDef], profile: Profile, direct: Sequence[str] | None = None) -> types.ListToolsResult:
    """What tools/list answers; `direct`: hybrid's direct tools (default: profiles.hybrid_direct)."""
    if profile in ("discovery", "hybrid"):
        shown = [types.Tool.model_validate(tool) for tool in discovery_tools()]
        if profile == "hybrid":
            picked = {name: tools[name] for name in (hybrid_direct(tools) if direct is None else direct)}
            shown += listing(picked, "full").tools
        return types.ListToolsResult(tools=shown, **LIST_CACHE)
    if profile == "full":
        # X's argument descriptions while they fit: an allowlisted catalog keeps every word.
        shown = [to_mcp_tool(t, profile, describe_args=True) for t in tools.values()]
        described = types.ListToolsResult(tools=shown, **LIST_CACHE)
        if len(described.model_dump_json(by_alias=True, exclude_none=True)) <= FULL_BUDGET:
            return described
    return types.ListToolsResult(tools=[to_mcp_tool(tool, profile) for tool in tools.values()], **LIST_CACHE)


def unknown_tool_message(name: str, tools: dict[str, ToolDef]) -> str:
    """The same answer for a tool that never existed and one the allowlist removed."""
    close = difflib.get_close_matches(name, list(tools), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(close)}?" if close else " Call tools/list for the available tools."
    return f"Unknown tool: '{name}'.{hint}"


def build_server(
    tools: dict[str, ToolDef],
    executor: Executor,
    *,
    spec_version: str = "",
    profile: Profile = "full",
    direct: Sequence[str] | None = None,
    confirm_writes: bool = True,
) -> ToolServer:
    listed = listing(tools, profile, direct)
    schemas = {tool.name: tool.input_schema for tool in listed.tools}
    index = SearchIndex.build(tools) if profile in ("discovery", "hybrid") else None

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listed

    async def on_call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Every tools/call answer leaves through here, and so through redaction."""
        return redact_result(await call_tool(ctx, params))

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        if params.name not in schemas:
            log.info("Tool call failed: %s (unknown tool)", params.name)
            message = redact(unknown_tool_message(params.name, schemas))  # type: ignore[arg-type]
            if index is not None and params.name in tools:  # hybrid: allowed, not listed directly
                message = (
                    f'\'{params.name}\' is not listed directly: run it with call_x_api {{"name": "{params.name}"}}.'
                )
            raise MCPError(types.INVALID_PARAMS, message)

        async def progress(done: float, total: float | None, message: str) -> None:
            await ctx.session.report_progress(done, total, message)  # a no-op unless the client asked

        try:
            if index is not None and params.name in (SEARCH, DESCRIBE, CALL):
                target = _discovery_target(params.name, params.arguments or {}, tools, index)
            else:
                target = (tools[params.name], params.arguments or {})
            if isinstance(target, ToolOutcome):
                outcome = target
            else:
                tool, arguments = target
                asked = await _checked_and_asked(ctx, params, tool, arguments, executor, confirm_writes)
                if isinstance(asked, types.InputRequiredResult):
                    return asked
                if isinstance(asked, ToolOutcome):
                    outcome = asked
                else:
                    try:
                        outcome = await executor.call(tool, arguments, progress, checked=asked)
                    except anyio.get_cancelled_exc_class():
                        if confirm.needs_confirmation(tool):  # a write the person will not hear back about
                            log.warning(
                                "%s was cancelled by the client while it was being sent to X: X may already have "
                                "acted on it; check before repeating it (it was not retried).",
                                tool.name,
                            )
                        raise
        except StateUnavailable as exc:  # raised before anything was sent (after a send, Spending keeps X's answer)
            outcome = ToolOutcome(f"{params.name}: {exc}", True)
        except Exception:
            # The SDK would turn this into a bare JSON-RPC -32603; the model deserves a result it can read.
            log.exception("Unexpected error in %s", params.name)
            outcome = ToolOutcome(f"{params.name}: internal error in xapi-mcp (see its log).", True)
        if outcome.is_error:
            status = f"HTTP {outcome.status}" if outcome.status else "no answer from X"
            log.info("Tool call failed: %s (%s): %s", params.name, status, snippet(outcome.text, 240))
        content: list[types.ContentBlock] = [types.TextContent(text=outcome.text)]
        if outcome.note:
            content.append(types.TextContent(text=outcome.note))
        if outcome.cost is None:
            return types.CallToolResult(content=content, is_error=outcome.is_error)
        cost, line = outcome.cost
        content.append(types.TextContent(text=line))
        result = types.CallToolResult(content=content, is_error=outcome.is_error)
        result.meta = {COST_META: cost}
        return result

    def may_ask(name: str, arguments: Mapping[str, Any]) -> bool:
        """Whether call_tool may ask the person before answering (the write confirmation, as it decides it):
        a 2025-11-25 client hears the question on the call's SSE stream, so such a call is not answered
        as plain JSON. A read asks when its price may pass X_API_CONFIRM_COST_USD."""
        if executor.dry_run:
            return False
        if index is not None and name == CALL:
            target, inner = arguments.get("name"), arguments.get("arguments")
            tool = tools.get(target) if isinstance(target, str) else None
            arguments = inner if isinstance(inner, Mapping) else {}
        else:
            tool = tools.get(name) if name in schemas else None
        if tool is None:
            return False
        if confirm_writes and confirm.needs_confirmation(tool):
            return True
        return executor.spending is not None and executor.spending.may_need_confirmation(tool, arguments)

    instructions = {"discovery": DISCOVERY_INSTRUCTIONS, "hybrid": HYBRID_INSTRUCTIONS}.get(profile, INSTRUCTIONS)
    if profile == "lean":
        instructions += LEAN_NOTE
    server = ToolServer(
        "xapi-mcp",
        version=__version__,
        title="X API",
        description=f"The X API v2 as MCP tools (spec {spec_version})".strip(),
        instructions=instructions,
        # Lets the SDK check Mcp-Param-* headers without re-running tools/list on every call.
        get_tool_input_schema=schemas.get,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )
    # The SDK installs an OpenTelemetry span middleware that does nothing without an exporter but
    # still costs every request; tracing is not something this server offers.
    server.middleware.clear()
    server.may_ask = may_ask
    return server


async def _checked_and_asked(
    ctx: ServerRequestContext[Any],
    params: types.CallToolRequestParams,
    tool: ToolDef,
    arguments: dict[str, Any],
    executor: Executor,
    confirm_writes: bool,
) -> Checked | ToolOutcome | types.InputRequiredResult:
    """The checked call to send; or why not (refused, declined); or the question for the person.

    Writes (X_API_CONFIRM_WRITES) and calls estimated above X_API_CONFIRM_COST_USD are asked about,
    with their price; everything that would refuse the call after a "yes" (the budget included) is
    said before anyone is asked, and the checked request travels with the "yes" to the executor.
    """
    checked = await executor.preflight(tool, arguments)
    if isinstance(checked, ToolOutcome) or executor.dry_run:
        return checked
    write = confirm_writes and confirm.needs_confirmation(tool)
    costly = executor.spending is not None and executor.spending.needs_confirmation(checked.estimate)
    if not (write or costly):
        return checked
    refused = await executor.budget_refusal(tool, checked)
    if refused is not None:
        return refused
    price = executor.price(tool, checked)
    asked = await confirm.ask(ctx, params, tool, arguments, executor.store.screen_name, price=price, costly=costly)
    return checked if asked is None else asked


def redact_result(
    result: types.CallToolResult | types.InputRequiredResult,
) -> types.CallToolResult | types.InputRequiredResult:
    """The tool result without any secret (logs.redact): its text, structured content and `_meta`.

    X's error bodies can echo credentials (an Authorization header in `detail`, a proxy's page), and a
    consent flow adds tokens at run time; whatever produced the result, this is the one way out.
    """
    scrub = redactor()
    if isinstance(result, types.InputRequiredResult):  # a question for the person: small, rare, walk it all
        shown = result.model_dump(by_alias=True, exclude_none=True)
        return types.InputRequiredResult.model_validate(redact_value(shown, scrub))
    for block in result.content:
        if isinstance(block, types.TextContent):
            block.text = scrub(block.text)
        elif isinstance(block, types.EmbeddedResource) and isinstance(block.resource, types.TextResourceContents):
            block.resource.text = scrub(block.resource.text)
        if block.meta:
            block.meta = redact_value(block.meta, scrub)
    if result.structured_content is not None:
        result.structured_content = redact_value(result.structured_content, scrub)
    if result.meta:
        result.meta = redact_value(result.meta, scrub)
    return result


def _discovery_target(
    name: str, arguments: dict[str, Any], tools: dict[str, ToolDef], index: SearchIndex
) -> ToolOutcome | tuple[ToolDef, dict[str, Any]]:
    """search/describe answers, or the (tool, arguments) that call_x_api runs like a direct call."""
    if name == SEARCH:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            return ToolOutcome('search_x_api: give a query, e.g. {"query": "recent posts about AI"}.', True)
        limit = arguments.get("limit", 8)
        limit = limit if isinstance(limit, int) and 1 <= limit <= 25 else 8
        return ToolOutcome(search_result(index, tools, query, limit))
    target = arguments.get("name")
    tool = tools.get(target) if isinstance(target, str) else None
    if tool is None:
        return ToolOutcome(f"{name}: {unknown_tool_message(str(target), tools)} Use search_x_api to find tools.", True)
    if name == DESCRIBE:
        return ToolOutcome(describe_result(tool))
    inner = arguments.get("arguments", {})
    if not isinstance(inner, dict):
        return ToolOutcome(f"call_x_api: 'arguments' must be an object of {tool.name}'s arguments.", True)
    return tool, inner
