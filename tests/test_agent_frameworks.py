"""Every tool we list, through what the agent frameworks people load MCP tools into do with it.

The full and lean profiles (the 2.159 catalog plus uploadMedia) and the three discovery tools go
through two kinds of check:
- each client's documented rules (Claude, OpenAI, Gemini, Cursor and Windsurf; see "Client quirks"
  in the project's reference notes), as functions that return what that client would reject;
  `test_the_rules_catch_what_each_client_rejects` shows each rule failing on the schema it is about;
- the frameworks' own converters, installed with the dev extras: openai-agents (an MCP tool to a
  function tool, strict or not) and google-genai (an MCP tool to a Gemini function declaration, what
  `generate_content(tools=[session])` runs on every listed tool).

Tools without arguments are `{"type": "object", "properties": {}}`, *without*
`"additionalProperties": false`. openai-agents' strict mode (opt-in for MCP tools:
`mcp_config={"convert_schemas_to_strict": True}`) wants that keyword on them and, without it, keeps
them non-strict: they load and work. google-genai 3.6's MCP converter instead fails on a boolean
`additionalProperties` anywhere in a tool list (AttributeError in `_filter_to_supported_schema`,
googleapis/python-genai#2393 and #2476), so adding it would cost Gemini users every tool, and
Gemini's own API has rejected the keyword. Three tools non-strict in one framework's opt-in mode
beat a tool list another framework cannot load.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import mcp_types as types
import pytest
from agents.mcp import MCPServerStdio
from agents.mcp.util import MCPUtil
from google.genai._mcp_utils import mcp_to_gemini_tool

from tests.conftest import catalog_for
from xapi_mcp.server.mcp_server import listing
from xapi_mcp.tools.profiles import PROFILES, Profile
from xapi_mcp.tools.tooldef import ToolDef
from xapi_mcp.tools.workflows import upload_tool

Schema = dict[str, Any]


@lru_cache(maxsize=1)
def _catalog() -> dict[str, ToolDef]:
    tools = dict(catalog_for("2.159").tools)
    upload = upload_tool(tools)
    assert upload is not None
    tools[upload.name] = upload
    return tools


@lru_cache(maxsize=3)
def listed(profile: Profile) -> tuple[types.Tool, ...]:
    return tuple(listing(_catalog(), profile).tools)


def _nodes(schema: Schema, path: str = "$") -> Iterator[tuple[str, Schema]]:
    """Every subschema, wherever a client would read one."""
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or []):
            yield from _nodes(sub, f"{path}.{key}[{i}]")
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            yield from _nodes(sub, f"{path}.{key}.{name}")


def _types(node: Schema) -> list[Any]:
    value = node.get("type")
    return value if isinstance(value, list) else [value]


# --- each client's documented rules: what it would reject, one line per problem -----------------

FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # Anthropic's and OpenAI's tool names
CLAUDE_PROPERTY = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
CLAUDE_CODE_NAME_MAX = 48  # Claude Code calls a tool mcp__<server>__<name>, within 64 characters
COMBINATORS = ("oneOf", "anyOf", "allOf")


def claude(name: str, schema: Schema) -> list[str]:
    problems = [f"top-level {key}" for key in COMBINATORS if key in schema]
    if not FUNCTION_NAME.match(name):
        problems.append(f"tool name {name!r} outside ^[a-zA-Z0-9_-]{{1,64}}$")
    if len(name) > CLAUDE_CODE_NAME_MAX:
        problems.append(f"tool name longer than {CLAUDE_CODE_NAME_MAX} characters (Claude Code prefixes it)")
    if schema.get("type") != "object":
        problems.append("input schema is not an object")
    for path, node in _nodes(schema):
        problems += [
            f"{path}: property key {key!r}" for key in node.get("properties") or {} if not CLAUDE_PROPERTY.match(key)
        ]
    return problems


def openai_function(name: str, schema: Schema) -> list[str]:
    """OpenAI's (and OpenAI-compatible APIs') function tools, non-strict."""
    problems = [f"top-level {key}" for key in (*COMBINATORS, "enum", "not") if key in schema]
    if not FUNCTION_NAME.match(name):
        problems.append(f"function name {name!r} outside ^[a-zA-Z0-9_-]{{1,64}}$")
    if schema.get("type") != "object":
        problems.append("parameters are not an object")
    problems += [
        f"{path}: array without items"
        for path, node in _nodes(schema)
        if "array" in _types(node) and "items" not in node
    ]
    return problems


# exclusiveMaximum and `definitions` are the same family as the documented exclusiveMinimum and $defs.
GEMINI_REJECTS = ("$defs", "definitions", "$ref", "additionalProperties", "exclusiveMinimum", "exclusiveMaximum")
GEMINI_REJECTS += ("uniqueItems", "const")


def gemini(name: str, schema: Schema) -> list[str]:
    problems = []
    for path, node in _nodes(schema):
        problems += [f"{path}: {key}" for key in GEMINI_REJECTS if key in node]
        if "enum" in node and not all(isinstance(v, str) for v in node["enum"]):
            problems.append(f"{path}: non-string enum")
    return problems


def cursor_windsurf(name: str, schema: Schema) -> list[str]:
    problems = [f"dot in tool name {name!r} (Windsurf)"] if "." in name else []
    for path, node in _nodes(schema):
        nullable = node.get("nullable") is True or "null" in _types(node)
        nullable = nullable or any(_types(sub) == ["null"] for key in COMBINATORS for sub in node.get(key) or [])
        if nullable:
            problems.append(f"{path}: nullable parameter (Cursor)")
    return problems


RULES = {"claude": claude, "openai": openai_function, "gemini": gemini, "cursor/windsurf": cursor_windsurf}


@pytest.mark.parametrize("client", RULES)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_tool_meets_each_clients_documented_rules(profile: Profile, client: str) -> None:
    rejected = {
        tool.name: problems for tool in listed(profile) if (problems := RULES[client](tool.name, tool.input_schema))
    }
    assert rejected == {}


def test_tool_counts_fit_client_limits() -> None:
    assert "uploadMedia" in {tool.name for tool in listed("full")}
    # OpenAI-compatible chat APIs (xAI's too) take at most 128 tools per request.
    assert len(listed("full")) == len(listed("lean")) <= 128
    # Cursor sent only the first 40 tools (later versions warn at 80): discovery fits any of them.
    assert len(listed("discovery")) <= 40


OK_SCHEMA: Schema = {"type": "object", "properties": {"id": {"type": "string"}}}


@pytest.mark.parametrize(
    ("client", "name", "schema", "expected"),
    [
        ("claude", "t", {**OK_SCHEMA, "anyOf": [{"required": ["id"]}]}, "top-level anyOf"),
        ("claude", "t", {"type": "object", "properties": {"a b": {"type": "string"}}}, "$: property key 'a b'"),
        ("claude", "x" * 49, OK_SCHEMA, "longer than 48"),
        ("openai", "t", {"type": "object", "properties": {"ids": {"type": "array"}}}, "$.ids: array without items"),
        ("openai", "t", {"oneOf": [OK_SCHEMA]}, "top-level oneOf"),
        ("gemini", "t", {**OK_SCHEMA, "additionalProperties": False}, "$: additionalProperties"),
        ("gemini", "t", {**OK_SCHEMA, "$defs": {"Id": {"type": "string"}}}, "$: $defs"),
        ("gemini", "t", {"type": "object", "properties": {"id": {"$ref": "#/$defs/Id"}}}, "$.id: $ref"),
        (
            "gemini",
            "t",
            {"type": "object", "properties": {"n": {"type": "integer", "exclusiveMinimum": 0}}},
            "exclusiveMinimum",
        ),
        (
            "gemini",
            "t",
            {"type": "object", "properties": {"a": {"type": "array", "items": {}, "uniqueItems": True}}},
            "uniqueItems",
        ),
        ("gemini", "t", {"type": "object", "properties": {"a": {"type": "string", "const": "x"}}}, "$.a: const"),
        (
            "gemini",
            "t",
            {"type": "object", "properties": {"a": {"type": "integer", "enum": [1, 2]}}},
            "non-string enum",
        ),
        ("cursor/windsurf", "get.thing", OK_SCHEMA, "dot in tool name"),
        (
            "cursor/windsurf",
            "t",
            {"type": "object", "properties": {"a": {"type": ["string", "null"]}}},
            "$.a: nullable",
        ),
        (
            "cursor/windsurf",
            "t",
            {"type": "object", "properties": {"a": {"anyOf": [{"type": "null"}]}}},
            "$.a: nullable",
        ),
    ],
)
def test_the_rules_catch_what_each_client_rejects(client: str, name: str, schema: Schema, expected: str) -> None:
    problems = RULES[client](name, schema)
    assert any(expected in problem for problem in problems), problems
    assert RULES[client]("t", OK_SCHEMA) == []


# --- openai-agents: its own MCP tool -> function tool conversion ---------------------------------


def _function_tool(tool: types.Tool, *, strict: bool) -> Any:
    # Never started: the converter only reads the server's settings (approval policy, error handler).
    server = MCPServerStdio(params={"command": sys.executable}, name="xapi")
    return MCPUtil.to_function_tool(tool, server, convert_schemas_to_strict=strict)


def _has_open_object(schema: Schema) -> bool:
    """An object that declares no properties: strict mode cannot close it without changing what it accepts."""
    return any(
        "object" in _types(node) and not node.get("properties") and node.get("additionalProperties") is not False
        for _, node in _nodes(schema)
    )


# What OpenAI's strict mode does not take (openai-agents passes them on; the API drops or refuses them).
OPENAI_STRICT_UNSUPPORTED = ("minLength", "maxLength", "default")


@pytest.mark.parametrize("profile", PROFILES)
def test_openai_agents_loads_every_tool_strict_where_it_can(profile: Profile) -> None:
    not_strict = set()
    for tool in listed(profile):
        loose = _function_tool(tool, strict=False)
        assert (loose.name, loose.params_json_schema, loose.strict_json_schema) == (tool.name, tool.input_schema, False)
        converted = _function_tool(tool, strict=True)
        if not converted.strict_json_schema:
            not_strict.add(tool.name)
            assert converted.params_json_schema == tool.input_schema  # it falls back to the schema as listed
            continue
        strict = converted.params_json_schema
        # What strict mode does to our schemas: closed objects, and every argument required (no
        # optional arguments in strict mode, and ours are not nullable: Cursor mishandles those).
        assert strict["additionalProperties"] is False
        assert strict["required"] == list(tool.input_schema["properties"])
        if profile == "lean":  # lean shows only type, properties, required, items and short enums
            keys = {key for _, node in _nodes(strict) for key in node}
            assert not keys & set(OPENAI_STRICT_UNSUPPORTED), tool.name
    # Left non-strict (still loaded, as listed): exactly the schemas with an object that declares no
    # properties: the tools without arguments, and call_x_api, whose `arguments` are any tool's.
    assert not_strict == {tool.name for tool in listed(profile) if _has_open_object(tool.input_schema)}
    no_arguments = {tool.name for tool in listed(profile) if not tool.input_schema["properties"]}
    assert not_strict == ({"call_x_api"} if profile == "discovery" else no_arguments)


# --- google-genai: its own MCP tool -> Gemini function declaration conversion ---------------------

# google-genai 3.6 keeps only keywords spelled like its snake_case fields, so these camelCase bounds
# never reach Gemini; the server still enforces them (validation uses the spec's full schemas).
GEMINI_CONVERTER_DROPS = {"minLength", "maxLength", "minItems", "maxItems"}


def _lost(ours: Schema, theirs: Schema, path: str = "$") -> list[str]:
    """Keywords of `ours` that the converted schema lacks or changed, as `path: keyword`."""
    lost = []
    for key, value in ours.items():
        if key not in theirs:
            lost.append(f"{path}: {key}")
        elif key == "properties":
            for name, sub in value.items():
                lost += _lost(sub, theirs[key].get(name, {}), f"{path}.{name}")
            if list(value) != list(theirs[key]):
                lost.append(f"{path}: properties")
        elif key == "items":
            lost += _lost(value, theirs[key], f"{path}[]")
        elif key == "type":
            if str(theirs[key]).lower() != value:
                lost.append(f"{path}: type")
        elif theirs[key] != value:
            lost.append(f"{path}: {key}")
    return lost


def _gemini_parameters(tool: types.Tool) -> Schema:
    declaration = mcp_to_gemini_tool(tool).function_declarations[0]
    assert declaration.name == tool.name
    return declaration.parameters.model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.mark.parametrize("profile", PROFILES)
def test_google_genai_loads_every_tool_and_keeps_what_a_model_needs(profile: Profile) -> None:
    lost = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydantic warns when an enum is not strings
        for tool in listed(profile):
            missing = [
                item
                for item in _lost(tool.input_schema, _gemini_parameters(tool))
                if item.rsplit(": ", 1)[1] not in GEMINI_CONVERTER_DROPS
            ]
            if missing:
                lost[tool.name] = missing
    assert lost == {}  # names, types, required, enums, patterns, bounds and descriptions all arrive


def test_the_gemini_comparison_catches_what_the_converter_drops() -> None:
    tool = types.Tool(name="t", input_schema={"type": "object", "properties": {"a": {"type": "string", "const": "x"}}})
    assert _lost(tool.input_schema, _gemini_parameters(tool)) == ["$.a: const"]
