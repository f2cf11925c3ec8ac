"""How much of each tool the tool list shows (X_API_TOOL_PROFILE).

- full: every tool with every enum and constraint.
- lean: the same tools, shown briefly: one-line descriptions, no titles, types and `required` kept,
  short enums kept, long enums (the `*_fields`/`expansions` lists) and other constraints left to
  the server, which enforces them all and names the allowed values when a call gets one wrong.
- discovery: three tools (search, describe, call) in place of the catalog.
Only what is *shown* changes: validation always uses the spec's full schemas.
"""

from __future__ import annotations

from typing import Any, Literal

from xapi_mcp.catalog import ToolDef
from xapi_mcp.schema import Schema, trim_description

Profile = Literal["full", "lean", "discovery"]
PROFILES: tuple[Profile, ...] = ("full", "lean", "discovery")

LEAN_NOTE = (
    " Tool schemas are abbreviated: *_fields and expansions take field names, and when an argument "
    "is wrong the error names what is allowed."
)
_LEAN_KEYS = {"type", "properties", "required", "items", "enum", "description"}
_SHORT_ENUM = 8


def lean_view(tool: ToolDef) -> tuple[str, Schema]:
    """(description, input schema) as the lean profile shows them."""
    required = set(tool.input_schema.get("required", []))
    properties = {
        name: _slim(schema, describe=name in required) for name, schema in tool.input_schema["properties"].items()
    }
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = tool.input_schema["required"]
    return trim_description(tool.description, 80), schema


def _slim(schema: Schema, *, describe: bool) -> Schema:
    out: Schema = {}
    for key, value in schema.items():
        if key not in _LEAN_KEYS or (key == "description" and not describe):
            continue
        if key == "enum" and len(value) > _SHORT_ENUM:
            continue
        if key == "properties":
            value = {name: _slim(sub, describe=False) for name, sub in value.items()}
        elif key == "items":
            value = _slim(value, describe=False)
        elif key == "description":
            value = trim_description(value, 60)
        out[key] = value
    return out


def discovery_schemas() -> dict[str, Any]:
    from xapi_mcp.discovery import discovery_tools

    return {tool["name"]: tool["inputSchema"] for tool in discovery_tools()}
