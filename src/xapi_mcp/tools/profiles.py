"""How much of each tool the tool list shows (X_API_TOOL_PROFILE).

Every byte of a tool list is paid for in context on every turn, so each profile shows the least that
lets a model call the tool right, and the server enforces the rest:
- full: every tool with every enum and constraint, titles and descriptions, and X's argument
  descriptions while the whole list fits in FULL_BUDGET with them. Past that (the whole 2.159
  catalog) arguments are described only where the name and schema cannot say it (`ToolDef.notes`);
  X's wording stays in describe_x_api and the error messages.
- lean: the same tools as title, argument names, types, `required` and short enums. Query lists
  (`ids`, the `*_fields` and `expansions` value lists) are shown as comma-separated strings, which
  is how X takes them; a wrong value gets the allowed ones back.
- discovery: three tools (search, describe, call) in place of the catalog.
Only what is *shown* changes: validation always uses the spec's full schemas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from xapi_mcp.tools.schema import Schema, trim_description
from xapi_mcp.tools.tooldef import ToolDef

Profile = Literal["full", "lean", "discovery"]
PROFILES: tuple[Profile, ...] = ("full", "lean", "discovery")

LEAN_NOTE = (
    " Tool schemas are abbreviated: list arguments such as ids, *_fields and expansions take comma-separated "
    "values, and when an argument is wrong the error names what is allowed."
)
FULL_BUDGET = 128_000  # bytes of tools/list JSON the full profile may fill with X's argument descriptions
_LEAN_KEYS = {"type", "properties", "required", "items", "enum"}
_SHORT_ENUM = 8


def view(tool: ToolDef, profile: Profile, *, describe_args: bool = False) -> tuple[str | None, str, Schema]:
    """(title, description, input schema) as `profile` shows them."""
    if profile == "lean":
        return None, _lean_description(tool), _with_notes(tool, _lean_schema(tool))
    if describe_args:
        return tool.title or None, tool.description, tool.input_schema
    return tool.title or None, tool.description, _with_notes(tool, _undescribed(tool.input_schema))


def _with_notes(tool: ToolDef, schema: Schema) -> Schema:
    for arg, note in tool.notes.items():
        schema["properties"][arg] = {"description": note, **schema["properties"][arg]}
    return schema


def _undescribed(schema: Schema) -> Schema:
    return _pruned(schema, lambda key, _: key != "description")


def _lean_description(tool: ToolDef) -> str:
    text = tool.title or trim_description(tool.description, 60)
    note = tool.plan.body.note if tool.plan.body is not None else ""
    return f"{text}. Body: {note}" if note else text


def _lean_schema(tool: ToolDef) -> Schema:
    listed = {p.arg for p in tool.plan.params if p.location == "query" and p.is_array}
    properties = {
        name: {"type": "string"} if name in listed else _slim(schema)
        for name, schema in tool.input_schema["properties"].items()
    }
    schema: Schema = {"type": "object", "properties": properties}
    if "required" in tool.input_schema:
        schema["required"] = tool.input_schema["required"]
    return schema


def _slim(schema: Schema) -> Schema:
    return _pruned(schema, lambda key, value: key in _LEAN_KEYS and not (key == "enum" and len(value) > _SHORT_ENUM))


def _pruned(schema: Schema, keep: Callable[[str, Any], bool]) -> Schema:
    """`schema` with only the keywords `keep` accepts, at every level (property *names* are not keywords)."""
    out: Schema = {}
    for key, value in schema.items():
        if not keep(key, value):
            continue
        if key == "properties":
            value = {name: _pruned(sub, keep) for name, sub in value.items()}
        elif key == "items":
            value = _pruned(value, keep)
        out[key] = value
    return out


def discovery_schemas() -> dict[str, Any]:
    from xapi_mcp.tools.discovery import discovery_tools

    return {tool["name"]: tool["inputSchema"] for tool in discovery_tools()}
