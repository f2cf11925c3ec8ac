"""The MCP server: tools/list from the catalog, tools/call through the executor.

Built on the SDK's low-level `Server` because the tools are data (from the spec), not Python
functions. The tool list is built once; a call does a dict lookup, validation and the HTTP request.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from xapi_mcp import __version__
from xapi_mcp.catalog import ToolDef
from xapi_mcp.executor import Executor

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Tools for the X (Twitter) API v2, one per API operation. IDs are numeric strings. Ask for extra "
    "data with the *_fields and expansions arguments; page with pagination_token. Tools that write "
    "(post, like, follow, DM) act as the authorised user."
)


def to_mcp_tool(tool: ToolDef) -> types.Tool:
    return types.Tool(
        name=tool.name,
        title=tool.title or None,
        description=tool.description,
        input_schema=tool.input_schema,
        annotations=types.ToolAnnotations.model_validate(tool.annotations),
    )


def unknown_tool_error(name: str, tools: dict[str, ToolDef]) -> MCPError:
    """The same answer for a tool that never existed and one the allowlist removed."""
    close = difflib.get_close_matches(name, list(tools), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(close)}?" if close else " Call tools/list for the available tools."
    return MCPError(types.INVALID_PARAMS, f"Unknown tool: '{name}'.{hint}")


def build_server(tools: dict[str, ToolDef], executor: Executor, *, spec_version: str = "") -> Server[Any]:
    listing = types.ListToolsResult(tools=[to_mcp_tool(tool) for tool in tools.values()])

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listing

    async def on_call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = tools.get(params.name)
        if tool is None:
            raise unknown_tool_error(params.name, tools)

        async def progress(done: float, total: float | None, message: str) -> None:
            await ctx.session.report_progress(done, total, message)  # a no-op unless the client asked

        try:
            outcome = await executor.call(tool, params.arguments, progress)
        except Exception:
            # The SDK would turn this into a bare JSON-RPC -32603; the model deserves a result it can read.
            log.exception("Unexpected error in %s", tool.name)
            return types.CallToolResult(
                content=[types.TextContent(text=f"{tool.name}: internal error in xapi-mcp (see its log).")],
                is_error=True,
            )
        content: list[types.ContentBlock] = [types.TextContent(text=outcome.text)]
        if outcome.note:
            content.append(types.TextContent(text=outcome.note))
        return types.CallToolResult(content=content, is_error=outcome.is_error)

    def input_schema(name: str) -> dict[str, Any] | None:
        # Lets the SDK check Mcp-Param-* headers without re-running tools/list on every call.
        tool = tools.get(name)
        return tool.input_schema if tool else None

    return Server(
        "xapi-mcp",
        version=__version__,
        title="X API",
        description=f"The X API v2 as MCP tools (spec {spec_version})".strip(),
        instructions=INSTRUCTIONS,
        get_tool_input_schema=input_schema,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )
