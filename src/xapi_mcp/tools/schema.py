"""JSON-Schema work: the compact, client-safe schemas we show, and the full ones we validate with.

Two dialects, on purpose:
- *portable* (shown to clients): self-contained and limited to keywords every major client accepts
  (`type`, `properties`, `required`, `items`, string `enum`, `description`, `pattern`, numeric and
  length bounds, `default`; no `$ref`, top-level `oneOf`/`anyOf`/`allOf`, `format`, `const`,
  `nullable`, `additionalProperties`). Claude, Cursor, OpenAI and Gemini each reject some other
  keyword; a tool list that one of them rejects is a tool list nobody can use.
- *validation* (kept server-side): the spec's own schemas, $refs intact, so nothing the spec
  enforces is lost by compaction.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from typing import Any

from jsonschema import FormatChecker

Schema = dict[str, Any]

# Keywords that survive into the portable dialect; everything else is dropped.
_PORTABLE_SCALAR_KEYS = (
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "default",
)
_MAX_DEPTH = 12
_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_SPACES = re.compile(r"\s+")
# A period, whitespace, then a capital: a sentence end, unless after "e.g." or a lone initial.
_SENTENCE_END = re.compile(r"(?<![A-Za-z]\.[A-Za-z])(?<!\b[A-Za-z])\.\s+(?=[A-Z(\[])")


class RefResolver:
    """Resolves local `#/...` references inside one OpenAPI document."""

    def __init__(self, document: Schema) -> None:
        self.document = document
        self._cache: dict[str, Any] = {}

    def resolve(self, ref: str) -> Any:
        if ref in self._cache:
            return self._cache[ref]
        if not ref.startswith("#/"):
            raise KeyError(f"only local references are supported, got {ref!r}")
        node: Any = self.document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        self._cache[ref] = node
        return node

    def deref(self, node: Any) -> Any:
        """Follow `$ref` chains at the top of `node` (parameters, request bodies)."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise KeyError(f"reference cycle at {ref!r}")
            seen.add(ref)
            node = self.resolve(ref)
        return node


def trim_description(text: object, limit: int = 160) -> str:
    """First sentence, markdown links reduced to their text, at most `limit` characters.

    Models need what an argument means, not the API reference page; every byte here is paid for
    in context on every turn.
    """
    if not isinstance(text, str):
        return ""
    text = _SPACES.sub(" ", _MARKDOWN_LINK.sub(r"\1", text)).strip()
    match = _SENTENCE_END.search(text)
    if match and match.start() + 1 < len(text):
        text = text[: match.start() + 1]
    if len(text) > limit:
        cut = text[: limit - 1].rsplit(" ", 1)[0]
        text = cut.rstrip(",;:") + "…"
    return text


def to_portable(schema: Any, resolver: RefResolver, *, describe: bool = True) -> Schema:
    """Compact `schema` into the portable dialect: refs inlined (cycles cut), composites merged."""
    return _portable(schema, resolver, (), describe)


def _portable(schema: Any, resolver: RefResolver, stack: tuple[str, ...], describe: bool) -> Schema:
    if not isinstance(schema, dict):
        return {}
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in stack or len(stack) >= _MAX_DEPTH:
            return {"type": "object", "description": "Nested object (recursive; see the X API docs)."}
        try:
            target = resolver.resolve(ref)
        except (KeyError, IndexError, ValueError):
            return {}
        resolved = _portable(target, resolver, (*stack, ref), describe)
        if describe and isinstance(schema.get("description"), str):
            resolved["description"] = trim_description(schema["description"])
        return resolved

    if "allOf" in schema:
        parts = [_portable(s, resolver, stack, describe) for s in schema["allOf"]]
        own = {k: v for k, v in schema.items() if k != "allOf"}
        return _merge_all_of([*parts, _portable(own, resolver, stack, describe)])
    for key in ("oneOf", "anyOf"):
        if key in schema:
            variants = [_portable(s, resolver, stack, describe) for s in schema[key]]
            own = {k: v for k, v in schema.items() if k != key}
            merged = _merge_alternatives(variants)
            rest = _portable(own, resolver, stack, describe) if own else {}
            return _merge_all_of([merged, rest]) if rest else merged

    out: Schema = {}
    schema_type = _portable_type(schema)
    if schema_type:
        out["type"] = schema_type
    if describe:
        description = trim_description(schema.get("description"))
        if description:
            out["description"] = description

    enum = schema.get("enum")
    if "const" in schema:
        enum = [schema["const"]]
    if isinstance(enum, list) and enum:
        values = [v for v in enum if v is not None]
        if values and all(isinstance(v, str) for v in values):
            out["enum"] = values
        elif values:
            note = "Allowed values: " + ", ".join(str(v) for v in values) + "."
            out["description"] = f"{out.get('description', '')} {note}".strip()

    for key in _PORTABLE_SCALAR_KEYS:
        if key in schema and not isinstance(schema[key], (dict, list)):
            out[key] = schema[key]

    if schema_type == "array" or "items" in schema:
        out["type"] = "array"
        # Item descriptions mostly restate the array's ("Unique identifier of this User."): drop them
        # when the array has its own.
        out["items"] = _portable(schema.get("items", {}), resolver, stack, describe and "description" not in out)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["type"] = "object"
        props = {
            name: _portable(sub, resolver, stack, describe)
            for name, sub in properties.items()
            if not (isinstance(sub, dict) and sub.get("readOnly"))
        }
        out["properties"] = props
        required = [r for r in schema.get("required", []) if r in props]
        if required:
            out["required"] = required
    return out


def _portable_type(schema: Schema) -> str | None:
    value = schema.get("type")
    if isinstance(value, list):  # OpenAPI 3.1: ["string", "null"]
        non_null = [t for t in value if t != "null"]
        return non_null[0] if non_null else None
    return value if isinstance(value, str) else None


def _merge_all_of(parts: list[Schema]) -> Schema:
    out: Schema = {}
    for part in parts:
        for key, value in part.items():
            if key == "properties":
                out.setdefault("properties", {}).update(value)
            elif key == "required":
                out["required"] = list(dict.fromkeys([*out.get("required", []), *value]))
            elif key not in out:
                out[key] = value
    if "properties" in out:
        out["type"] = "object"
    return out


def _merge_alternatives(variants: list[Schema]) -> Schema:
    """oneOf/anyOf -> one schema. Objects: union of properties; required only where all agree."""
    variants = [v for v in variants if v]
    if not variants:
        return {}
    if len(variants) == 1:
        return variants[0]
    if all(v.get("type") == "object" or "properties" in v for v in variants):
        properties: Schema = {}
        for variant in variants:
            for name, sub in variant.get("properties", {}).items():
                properties.setdefault(name, sub)
        required_sets = [set(v.get("required", [])) for v in variants]
        required = [r for r in properties if all(r in s for s in required_sets)]
        out: Schema = {"type": "object", "properties": properties}
        if required:
            out["required"] = required
        choices = list(dict.fromkeys(", ".join(v.get("required", [])) or "no required fields" for v in variants))
        if len(choices) > 1:  # forms that differ only in a field's encoding need no note
            out["description"] = "Provide one of these combinations: " + " | ".join(choices) + "."
        return out
    types = {v.get("type") for v in variants}
    first = dict(variants[0])
    if len(types) == 1 and all("enum" in v for v in variants):
        first["enum"] = list(dict.fromkeys(e for v in variants for e in v["enum"]))
    elif len(types) > 1:
        kinds = " or ".join(sorted(str(t) for t in types if t))
        first["description"] = f"{first.get('description', '')} Accepts {kinds}.".strip()
    return first


def validation_components(document: Schema, openapi_version: str) -> Schema:
    """A copy of `components` in the validation dialect (OpenAPI 3.0 `nullable` -> JSON Schema null)."""
    components = copy.deepcopy(document.get("components") or {})
    if openapi_version.startswith("3.0"):
        _nullable_to_null(components)
    return components


def for_validation(schema: Any, openapi_version: str) -> Any:
    """One schema in the validation dialect (a copy; the document is never mutated)."""
    schema = copy.deepcopy(schema)
    if openapi_version.startswith("3.0"):
        _nullable_to_null(schema)
    return schema


def _nullable_to_null(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        for value in node.values():
            _nullable_to_null(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_to_null(value)


# Formats X's request schemas use, checked the way X (and Prism) check them. jsonschema skips
# `date-time` without an optional package, and a bad timestamp should fail here, not at X.
FORMATS = FormatChecker(formats=())
_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.I)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or (len(value) == 10 and bool(date.fromisoformat(value)))


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@FORMATS.checks("int32")
def _is_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def _is_int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63
