"""Discovery mode: the whole X API behind three small tools.

`search_x_api` ranks the allowed tools for a plain-language request, `describe_x_api` gives one
tool's full input schema and credential needs, `call_x_api` runs it through the same executor path
as a direct tool call (validation, allowlist, credentials, retries). The tool list stays a few
kilobytes whatever the size of the catalog. The ranking is in search.py.
"""

from __future__ import annotations

import json
from typing import Any

from xapi_mcp.tools.schema import trim_description
from xapi_mcp.tools.search import SearchIndex
from xapi_mcp.tools.tooldef import ToolDef

__all__ = ["CALL", "DESCRIBE", "SEARCH", "SearchIndex", "describe_result", "discovery_tools", "search_result"]

SEARCH, DESCRIBE, CALL = "search_x_api", "describe_x_api", "call_x_api"


def discovery_tools() -> list[dict[str, Any]]:
    """The three tools as plain dicts (name, description, inputSchema, annotations)."""
    return [
        {
            "name": SEARCH,
            "description": (
                "Find X API tools for a task in plain words (e.g. 'recent posts about AI', 'who follows @jack'). "
                "Returns tool names with one-line summaries; then describe_x_api or call_x_api."
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What you want to do."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 25, "default": 8},
                },
                "required": ["query"],
            },
            "annotations": {"readOnlyHint": True, "openWorldHint": False},
        },
        {
            "name": DESCRIBE,
            "description": "The full input schema, method, path and credential needs of one X API tool.",
            "inputSchema": {
                "type": "object",
                "properties": {"name": {"type": "string", "description": "A tool name from search_x_api."}},
                "required": ["name"],
            },
            "annotations": {"readOnlyHint": True, "openWorldHint": False},
        },
        {
            "name": CALL,
            "description": (
                "Call an X API tool by name with its arguments (see describe_x_api). Writes act as the authorised user."
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The tool name."},
                    "arguments": {"type": "object", "description": "The tool's arguments."},
                },
                "required": ["name"],
            },
            "annotations": {"destructiveHint": True},
        },
    ]


def search_result(index: SearchIndex, tools: dict[str, ToolDef], query: str, limit: int) -> str:
    hits = index.search(query, tools, limit)
    if not hits:
        return json.dumps({"tools": [], "hint": "No tool matched; try other words (e.g. post, user, follow, list)."})
    rows = [
        {"name": name, "summary": trim_description(tools[name].description, 100), "method": tools[name].plan.method}
        for name, _ in hits
    ]
    return json.dumps({"tools": rows}, separators=(",", ":"), ensure_ascii=False)


def describe_result(tool: ToolDef) -> str:
    auth = [kind.value for kind in tool.auth.accepted]
    body: dict[str, Any] = {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "method": tool.plan.method,
        "path": tool.plan.path,
        "credentials": auth,
        "inputSchema": tool.input_schema,
        "readOnly": tool.plan.method == "GET",
    }
    if tool.auth.scopes:
        body["oauth2_scopes"] = list(tool.auth.scopes)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
