"""Tool arguments -> the parts of an HTTP request, validated before anything is sent.

Pure functions, no I/O: the executor only sends what `prepare` returns. Validation uses the
spec's full schemas (see schema.py), so compaction of what clients see never loosens what we
accept.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from jsonschema import ValidationError
from jsonschema.exceptions import best_match

from xapi_mcp.errors import ArgumentError
from xapi_mcp.tools.schema import RefResolver, Schema
from xapi_mcp.tools.streams import call_caps
from xapi_mcp.tools.tooldef import ParamPlan, StreamCaps, ToolDef

_MAX_MESSAGES = 6
_MAX_MESSAGE_CHARS = 400
MAX_ARGUMENT_BYTES = 1_000_000  # X's largest JSON bodies are far smaller; media goes by file or chunks
MAX_DEPTH = 32
# Past 2^53 - 1 a JSON number is rounded by JavaScript and by any client that reads numbers as
# doubles: an ID sent as a number that large has probably lost its last digits before reaching us.
MAX_SAFE_INTEGER = 2**53 - 1
_FORMAT_EXAMPLES = {"date-time": "2024-05-01T12:00:00Z", "date": "2024-05-01", "uri": "https://example.com/x"}


@dataclass
class PreparedRequest:
    method: str
    path: str  # path parameters already substituted and percent-encoded
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    has_body: bool = False
    file_paths: dict[str, str] = field(default_factory=dict)  # body field -> a local path (X_MEDIA_DIR)
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)  # body field -> (name, bytes, type)
    stream: StreamCaps | None = None  # a stream tool's bounds for this call (not sent to X)

    @property
    def multipart(self) -> bool:
        return bool(self.file_paths or self.files)

    def query_string(self) -> str:
        """The query as httpx would encode `params=query` (form encoding, repeated names grouped where each
        first appears), by the standard library in one pass: httpx's own encoder costs twice as much per call."""
        grouped: dict[str, list[str]] = {}
        for name, value in self.query:
            grouped.setdefault(name, []).append(value)
        return urlencode([(name, value) for name, values in grouped.items() for value in values])


def prepare(tool: ToolDef, arguments: Mapping[str, Any] | None) -> PreparedRequest:
    """Normalise, validate and place `arguments`; raises ArgumentError with every problem found."""
    args, problems = _checked(tool, arguments)
    body = tool.plan.body
    body_value: dict[str, Any] = {}
    file_paths: dict[str, str] = {}
    if body is not None:
        body_value = {prop: args[arg] for arg, prop in body.args.items() if arg in args}
        file_paths = {prop: args[arg] for arg, prop in body.file_args.items() if arg in args}
        if set(file_paths) & set(body_value):
            problems.append(f"give either {', '.join(file_paths)} or its _path argument, not both")
        body_value.update({prop: "-" for prop in file_paths})  # the file stands in for the field
        if (body_value or body.required) and body.validator is not None:
            reverse = {prop: arg for arg, prop in body.args.items()}
            problems += [
                _describe(err, reverse, body.note, body.validator.schema)
                for err in sorted(body.validator.iter_errors(body_value), key=_error_order)
            ]
    if problems:
        raise ArgumentError(_problem_report(tool, problems))

    request = PreparedRequest(method=tool.plan.method, path=tool.plan.path, stream=call_caps(tool, args))
    for param in tool.plan.params:
        if param.arg in args:
            _place(request, param, args[param.arg])
    if body is not None and (body_value or body.required):
        request.body = {k: v for k, v in body_value.items() if k not in file_paths}
        request.has_body, request.file_paths = True, file_paths
    return request


def validate_arguments(tool: ToolDef, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """Normalise and validate against the tool's own schema, for tools that are not one request."""
    args, problems = _checked(tool, arguments)
    if problems:
        raise ArgumentError(_problem_report(tool, problems))
    return args


def _checked(tool: ToolDef, arguments: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The normalised arguments and what the tool's schema finds wrong with them (junk raises at once)."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise ArgumentError(f"Arguments for {tool.name} must be a JSON object, got {type(arguments).__name__}.")
    _check_size(tool, arguments)
    args = _normalise(tool, arguments)
    problems = [
        _describe(err, root=tool.args_validator.schema)
        for err in sorted(tool.args_validator.iter_errors(args), key=_error_order)
    ]
    return args, problems


def _check_size(tool: ToolDef, arguments: Mapping[str, Any]) -> None:
    """Refuse junk before any work: megabytes of arguments or nesting no X operation has."""
    depth = _depth(arguments)
    if depth > MAX_DEPTH:
        raise ArgumentError(
            f"Arguments for {tool.name} are nested {depth} levels deep; at most {MAX_DEPTH} are accepted."
        )
    size = len(json.dumps(arguments, ensure_ascii=False).encode())
    if size > MAX_ARGUMENT_BYTES:
        raise ArgumentError(
            f"Arguments for {tool.name} are {size:,} bytes; at most {MAX_ARGUMENT_BYTES:,} are accepted. "
            "Nothing was sent to X."
        )


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (a recursive walk would itself overflow on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _normalise(tool: ToolDef, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Map spec spellings (`tweet.fields`) to argument names, drop nulls, coerce obvious strings."""
    known = set(tool.arg_names)
    args: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in arguments.items():
        name = key if key in known else tool.aliases.get(key)
        if name is None:
            unknown.append(str(key))
            continue
        if name in args:
            raise ArgumentError(f"{tool.name}: argument '{name}' was given twice (as '{key}' and '{name}').")
        if value is None:
            continue  # several clients send null for optional arguments they leave out
        param = tool.arg_types.get(name)
        args[name] = _coerce(param, value) if param is not None else value
    if unknown:
        raise ArgumentError(_unknown_report(tool, unknown))
    return args


def _coerce(param: ParamPlan, value: Any) -> Any:
    """Accept what models commonly send for query/path parameters: "a,b" for lists, "10" for 10, 10 for "10"."""
    if param.is_array:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]  # one ID as a number, like one ID as a string
        if isinstance(value, list) and param.scalar_type == "string":
            return [_as_string(item) for item in value]
        return value
    if isinstance(value, str):
        text = value.strip()
        if param.scalar_type == "integer" and text.lstrip("-").isdigit():
            return int(text)
        if param.scalar_type == "number":
            try:
                return float(text)
            except ValueError:
                return value
        if param.scalar_type == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
    elif param.scalar_type == "string":
        return _as_string(value)
    return value


def _as_string(value: Any) -> Any:
    """A numeric ID sent as a JSON number, as its digits: only while the number is exact.

    A larger one stays a number, which validation refuses with its own message (`_describe`).
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_SAFE_INTEGER:
        return str(value)
    return value


def _is_unsafe_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) > MAX_SAFE_INTEGER and (isinstance(value, int) or value.is_integer())


def _place(request: PreparedRequest, param: ParamPlan, value: Any) -> None:
    if param.location == "path":
        text = _scalar(value)
        if text in ("", ".", ".."):
            raise ArgumentError(f"Argument '{param.arg}' cannot be {text!r}: it is part of the URL path.")
        request.path = request.path.replace("{" + param.name + "}", quote(text, safe=""))
    elif param.location == "query":
        if isinstance(value, list) and not param.explode:
            request.query.append((param.name, ",".join(_scalar(v) for v in value)))
        elif isinstance(value, list):
            request.query.extend((param.name, _scalar(v)) for v in value)
        else:
            request.query.append((param.name, _scalar(value)))
    else:
        request.headers[param.name] = _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _error_order(error: ValidationError) -> tuple[str, ...]:
    return tuple(str(p) for p in error.absolute_path)


def _describe(
    error: ValidationError, reverse: Mapping[str, str] | None = None, note: str = "", root: Schema | None = None
) -> str:
    """One line per problem, naming the argument (`poll.duration_minutes`) and what is allowed.

    `reverse` maps body properties to argument names; `root` is the validator's schema, to read
    the alternatives of an anyOf/oneOf.
    """
    if error.validator in ("anyOf", "oneOf") and isinstance(error.instance, dict):
        text = _alternatives(error, reverse, note, root)
        if text:
            return _clip(text)
    if error.validator in ("anyOf", "oneOf") and error.context:
        detail = best_match(error.context)
        error, note = detail, note or ""
    where = _where(error, reverse)
    if error.validator == "type" and _is_unsafe_number(error.instance) and "string" in _types(error.validator_value):
        return (
            f"argument '{where}': IDs must be strings, like \"{int(error.instance)}\" (in quotes); got the number "
            f"{_short(error.instance)}. Numbers above {MAX_SAFE_INTEGER:,} lose their last digits in most JSON "
            "clients, so this may no longer be the ID you meant: send it as a string, copied exactly from X's response."
        )
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        missing = (reverse or {}).get(missing, missing) if not where else missing
        text = f"missing required argument '{f'{where}.' if where else ''}{missing}'"
    elif error.validator == "enum" and isinstance(error.validator_value, list):
        allowed = ", ".join(str(v) for v in error.validator_value if v is not None)
        return f"argument '{where}': {_short(error.instance)} is not allowed; choose from: {allowed}"
    else:
        text = f"argument '{where}': {error.message}" if where else error.message
    if error.validator == "format" and error.validator_value in _FORMAT_EXAMPLES:
        text += f" (expected like {_FORMAT_EXAMPLES[error.validator_value]})"
    if note and error.validator in ("required", "anyOf", "oneOf", "additionalProperties"):
        text += f" ({note})"
    return _clip(text)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


def _where(error: ValidationError, reverse: Mapping[str, str] | None) -> str:
    """The argument at fault, as the tool names it (`body_id`, `poll.options`)."""
    path = [str(p) for p in error.absolute_path]
    if path and reverse:
        path[0] = reverse.get(path[0], path[0])
    return ".".join(path)


def _types(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _alternatives(
    error: ValidationError, reverse: Mapping[str, str] | None, note: str, root: Schema | None
) -> str | None:
    """An object that fits none (or, for oneOf, several) of its forms, in plain words.

    Forms that differ by their required fields ("text or attachments") are named as such; when the
    fields of a form are all given, what is wrong inside that form is said instead. None: no object
    forms to speak of, the caller falls back to the best single error.
    """
    resolver = RefResolver(root or {})
    try:
        variants = [resolver.deref(v) for v in error.validator_value]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if not variants or not all(isinstance(v, dict) for v in variants):
        return None
    where = _where(error, reverse)
    prefix = f"argument '{where}': " if where else ""

    def name(prop: str) -> str:  # top-level body properties go by their argument names
        return f"`{prop if where else (reverse or {}).get(prop, prop)}`"

    forms = list(dict.fromkeys(tuple(v.get("required") or ()) for v in variants))
    choices = [" with ".join(name(p) for p in form) for form in forms if form]
    given = [i for i, v in enumerate(variants) if all(p in error.instance for p in v.get("required") or ())]
    if error.validator == "oneOf" and not error.context:  # valid under more than one form
        present = [name(p) for form in forms for p in form if p in error.instance]
        return f"{prefix}give exactly one of {_or(choices)}, not {' and '.join(dict.fromkeys(present))} together"
    if len(choices) > 1 and len(choices) == len(forms) and not given:
        if error.validator == "oneOf":
            return f"{prefix}give exactly one of {_or(choices)}"
        if len(choices) == 2:
            return f"{prefix}give {choices[0]}, or {choices[1]}, or both"
        return f"{prefix}give at least one of {_or(choices)}"
    messages: list[str] = []
    for index in given or range(len(variants)):
        errors = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == index]
        if errors:
            messages.append(_describe(best_match(errors), reverse, note, root))
    messages = list(dict.fromkeys(messages))
    if len(messages) == 1:
        return messages[0]
    if messages:
        return f"{prefix}fits none of its {len(messages)} allowed forms; either " + "; or ".join(messages)
    return None


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


def _problem_report(tool: ToolDef, problems: list[str]) -> str:
    shown = list(dict.fromkeys(problems))
    more = len(shown) - _MAX_MESSAGES
    lines = "\n".join(f"- {p}" for p in shown[:_MAX_MESSAGES])
    tail = f"\n- …and {more} more" if more > 0 else ""
    return (
        f"Invalid arguments for {tool.name}; nothing was sent to X.\n{lines}{tail}\n"
        "Fix these and call the tool again (its input schema lists what each argument accepts)."
    )


def _unknown_report(tool: ToolDef, unknown: list[str]) -> str:
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, [*tool.arg_names, *tool.aliases], n=1, cutoff=0.6)
        hint = f" (did you mean '{tool.aliases.get(close[0], close[0])}'?)" if close else ""
        parts.append(f"'{key[:80]}'{hint}")
    accepted = ", ".join(tool.arg_names) or "none"
    return (
        f"Unknown argument{'s' if len(parts) > 1 else ''} for {tool.name}: {', '.join(parts)}; nothing was "
        f"sent to X. Arguments this tool accepts: {accepted}."
    )
