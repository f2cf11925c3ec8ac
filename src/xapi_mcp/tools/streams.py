"""X's streams as bounded tools: the operation's own arguments plus `max_items` and `max_seconds`.

An agent cannot hold a connection open, but it can ask "collect what arrives for up to N seconds or N
items". Both bounds are finite and capped by settings (X_API_STREAM_MAX_ITEMS, X_API_STREAM_MAX_SECONDS);
calls/streams.py opens the stream, collects and closes it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from xapi_mcp.tools.tooldef import StreamCaps, ToolDef

ITEMS_ARG, SECONDS_ARG = "max_items", "max_seconds"
# The largest values the settings may take: a call is a tool call, not a consumer that runs for hours.
ITEMS_CEILING, SECONDS_CEILING = 1000, 300.0
FILTERED_STREAM = "/2/tweets/search/stream"


def stream_tool(tool: ToolDef, caps: StreamCaps) -> ToolDef:
    """`tool` (a stream operation) as a bounded collection: two more arguments, validated like the rest."""
    extra: dict[str, dict[str, Any]] = {
        ITEMS_ARG: {"type": "integer", "minimum": 1, "maximum": caps.max_items, "default": caps.max_items},
        SECONDS_ARG: {"type": "number", "minimum": 1, "maximum": caps.max_seconds, "default": caps.max_seconds},
    }
    notes = {
        ITEMS_ARG: f"Stop after this many items (1-{caps.max_items}); each one that arrives is billed.",
        SECONDS_ARG: f"Stop after this many seconds (1-{caps.max_seconds:g}), whatever arrived by then.",
    }
    properties = {**tool.input_schema.get("properties", {})}
    properties.update({name: {"description": notes[name], **schema} for name, schema in extra.items()})
    checked = dict(tool.args_validator.schema)
    checked["properties"] = {**checked.get("properties", {}), **extra}
    validator = type(tool.args_validator)(checked, format_checker=tool.args_validator.format_checker)
    one_app = ""
    if tool.plan.path == FILTERED_STREAM:
        one_app = " X allows one connection per app to the filtered stream: set its rules first with updateRules."
    description = (
        f"{tool.description.rstrip()} Collects what arrives for up to max_items items or max_seconds seconds, then "
        f"closes the stream; returns data, includes and why it stopped.{one_app}"
    )
    return dataclasses.replace(
        tool,
        description=description,
        input_schema={**tool.input_schema, "properties": properties},
        args_validator=validator,
        notes={**tool.notes, **notes},
        stream=caps,
    )


def call_caps(tool: ToolDef, args: dict[str, Any]) -> StreamCaps | None:
    """This call's bounds (the tool's caps where the arguments leave them out); None for other tools."""
    if tool.stream is None:
        return None
    items = args.get(ITEMS_ARG, tool.stream.max_items)
    seconds = args.get(SECONDS_ARG, tool.stream.max_seconds)
    return StreamCaps(max_items=int(items), max_seconds=float(seconds))
