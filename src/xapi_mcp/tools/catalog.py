"""OpenAPI operations -> tool definitions.

Each operation becomes a `ToolDef`: what clients see (name, title, description, portable input
schema, annotations) plus the `RequestPlan` the executor follows to turn arguments into an HTTP
request. All of this is computed once at startup; a tool call only validates and sends.
"""

from __future__ import annotations

import logging
import re
from typing import Any, cast

from jsonschema import Draft4Validator, Draft202012Validator
from jsonschema.protocols import Validator

from xapi_mcp.tools.schema import (
    FORMATS,
    RefResolver,
    Schema,
    for_validation,
    to_portable,
    trim_description,
    validation_components,
)
from xapi_mcp.tools.tooldef import (
    AuthRequirement,
    BodyPlan,
    Catalog,
    CredentialKind,
    Location,
    ParamPlan,
    RequestPlan,
    ToolDef,
    scheme_kinds,
)
from xapi_mcp.tools.workflows import workflow_tools

log = logging.getLogger(__name__)

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
SAFE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Stricter than MCP's 1-128 of [A-Za-z0-9_.-]: Windsurf rejects dots, and Claude Code prefixes
# names with mcp__<server>__, so long names break there.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DESTRUCTIVE_WORDS = re.compile(r"delete|remove|replace|unfollow|unlike|unpin|unmute|unblock|revoke", re.I)


def is_streaming(path: str, operation: dict[str, Any]) -> bool:
    """Streams and webhooks cannot work over request/response MCP tools."""
    tags = set(operation.get("tags") or [])
    return (
        "/stream" in path
        or "/webhooks" in path
        or bool(tags & {"Stream", "Webhooks"})
        or operation.get("x-twitter-streaming") is True
    )


def build_catalog(document: dict[str, Any], *, include_streaming: bool = False, workflows: bool = False) -> Catalog:
    """Every operation of `document` as a tool, in the document's own (deterministic) order.

    With `workflows`, also the workflow tools built on those operations (uploadMedia), after them.
    """
    resolver = RefResolver(document)
    openapi_version = str(document.get("openapi", "3.0"))
    components = validation_components(document, openapi_version)
    validator_cls = Draft4Validator if openapi_version.startswith("3.0") else Draft202012Validator
    global_security = document.get("security")
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    kinds = scheme_kinds(schemes)
    tools: dict[str, ToolDef] = {}
    excluded: list[str] = []
    for path, item in (document.get("paths") or {}).items():
        item = resolver.deref(item)
        if not isinstance(item, dict):
            continue
        shared_params = item.get("parameters") or []
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            name = _unique_name(_tool_name(operation, method, path), tools)
            if not include_streaming and is_streaming(path, operation):
                excluded.append(name)
                continue
            try:
                tools[name] = _build_tool(
                    name,
                    method,
                    path,
                    operation,
                    shared_params,
                    global_security,
                    resolver,
                    components,
                    openapi_version,
                    validator_cls,
                    kinds,
                )
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("Skipping %s %s (%s): cannot read it: %s", method.upper(), path, name, exc)
                excluded.append(name)
    if workflows:
        tools.update({tool.name: tool for tool in workflow_tools(tools)})
    version = str((document.get("info") or {}).get("version", "unknown"))
    return Catalog(tools=tools, spec_version=version, excluded=excluded, security_schemes=schemes)


def _tool_name(operation: dict[str, Any], method: str, path: str) -> str:
    op_id = operation.get("operationId")
    if isinstance(op_id, str) and _TOOL_NAME.match(op_id):
        return op_id
    fallback = re.sub(r"[^A-Za-z0-9]+", "_", op_id if isinstance(op_id, str) and op_id else f"{method}_{path}")
    fallback = fallback.strip("_")[:64] or method
    log.warning("Operation %s %s has no usable operationId (%r); naming it %s", method.upper(), path, op_id, fallback)
    return fallback


def _unique_name(name: str, taken: dict[str, ToolDef]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    log.warning("Duplicate operationId %s; the later one is named %s_%d", name, name, n)
    return f"{name}_{n}"


def _safe_arg(name: str, taken: set[str]) -> str:
    arg = name if SAFE_NAME.match(name) else (re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "arg")
    base, n = arg, 2
    while arg in taken:
        arg = f"{base[:60]}_{n}"
        n += 1
    return arg


def _annotations(method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """MCP hints from the HTTP method. Hints equal to MCP's defaults are left out: every byte of
    tools/list is context on every turn. openWorldHint's default is true, which is what every X tool
    is, so it is never written out."""
    words = f"{operation.get('operationId', '')} {operation.get('summary', '')}"
    if method == "get":
        hints: dict[str, Any] = {"readOnlyHint": True}
    elif method in ("delete", "put"):
        hints = {"destructiveHint": True, "idempotentHint": True}
    else:
        hints = {"destructiveHint": bool(_DESTRUCTIVE_WORDS.search(words))}
    return hints


def _build_tool(
    name: str,
    method: str,
    path: str,
    operation: dict[str, Any],
    shared_params: list[Any],
    global_security: Any,
    resolver: RefResolver,
    components: Schema,
    openapi_version: str,
    validator_cls: type[Validator],
    kinds: dict[str, CredentialKind],
) -> ToolDef:
    # Operation-level parameters override path-level ones with the same (name, in).
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*shared_params, *(operation.get("parameters") or [])]:
        param = resolver.deref(raw)
        if isinstance(param, dict) and param.get("in") in ("path", "query", "header"):
            merged[(param["name"], param["in"])] = param

    properties: Schema = {}
    required: list[str] = []
    check_props: Schema = {}
    aliases: dict[str, str] = {}
    plans: list[ParamPlan] = []
    notes: dict[str, str] = {}
    taken: set[str] = set()
    for (spec_name, location), param in merged.items():
        arg = _safe_arg(spec_name, taken)
        taken.add(arg)
        if arg != spec_name:
            aliases[spec_name] = arg
        schema = param.get("schema") or {}
        shown = to_portable(schema, resolver)
        description = _param_description(param, shown)
        properties[arg] = {**({"description": description} if description else {}), **shown}
        if location == "path" and _OWN_ID.search(description):
            notes[arg] = OWN_ID_NOTE
        is_required = bool(param.get("required")) or location == "path"
        if is_required:
            required.append(arg)
        check_props[arg] = for_validation(schema, openapi_version)
        is_array = shown.get("type") == "array"
        style_explode = param.get("explode", param.get("style", "form") == "form")
        plans.append(
            ParamPlan(
                arg=arg,
                name=spec_name,
                location=cast(Location, location),
                required=is_required,
                is_array=is_array,
                explode=bool(style_explode),
                scalar_type=shown.get("type") if not is_array else (shown.get("items") or {}).get("type"),
            )
        )

    body = _body_plan(operation, resolver, components, openapi_version, validator_cls, taken, properties, required)
    if body is not None:
        for arg in body.args:
            check_props[arg] = {}  # the body validator checks these in their full form
        for arg in body.file_args:
            check_props[arg] = {"type": "string", "minLength": 1}
            notes[arg] = properties[arg]["description"]

    title = str(operation.get("summary") or "").strip()
    description = trim_description(operation.get("description"), limit=300)
    if not description or description.rstrip(".") == title.rstrip("."):
        description = title or name
    if body is not None and body.note:
        description = f"{description} Body: {body.note}"
    input_schema: Schema = {"type": "object", "properties": properties}
    if required:
        input_schema["required"] = required
    args_validator = validator_cls(
        {
            "type": "object",
            "properties": check_props,
            "required": [r for r in required if r in check_props and not (body and r in body.args)],
            "additionalProperties": False,
            "components": components,
        },
        format_checker=FORMATS,
    )
    security = operation.get("security", global_security)
    return ToolDef(
        name=name,
        title=title,
        description=description,
        input_schema=input_schema,
        annotations=_annotations(method, operation),
        plan=RequestPlan(
            method=method.upper(),
            path=path,
            params=tuple(plans),
            body=body,
            security=tuple(security) if isinstance(security, list) else None,
        ),
        tags=tuple(operation.get("tags") or ()),
        operation_id=str(operation.get("operationId") or name),
        args_validator=args_validator,
        auth=AuthRequirement.from_security(security if isinstance(security, list) else None, kinds),
        aliases=aliases,
        arg_types={p.arg: p for p in plans},
        notes=notes,
    )


# X's wording for a path `id` that must be the authenticated user's own ("The ID of the authenticated
# source User that is requesting to like the Post"); other IDs are clear from the name and the tool.
_OWN_ID = re.compile(r"\bauthenticated source user\b", re.I)
OWN_ID_NOTE = "The authenticated user's own ID."
_SAYS_ONLY_LIST_OF = re.compile(r"^A comma[- ]separated list of [^.]*\.?$", re.I)


def _param_description(param: dict[str, Any], shown: Schema) -> str:
    """The parameter's own description, or the schema's; none where an enum already says it all.

    "A comma separated list of Tweet fields to display" on `tweet_fields` (an array with an enum)
    repeats the name and the enum, and misleads: the argument is a list, not a string.
    """
    description = trim_description(param.get("description")) or shown.pop("description", "")
    shown.pop("description", None)
    if shown.get("type") == "array" and "enum" in shown.get("items", {}) and _SAYS_ONLY_LIST_OF.match(description):
        return ""
    return description


def _body_plan(
    operation: dict[str, Any],
    resolver: RefResolver,
    components: Schema,
    openapi_version: str,
    validator_cls: type[Validator],
    taken: set[str],
    properties: Schema,
    required: list[str],
) -> BodyPlan | None:
    """Flatten a JSON body's top-level properties into tool arguments (`body_` prefix on clashes)."""
    request_body = resolver.deref(operation.get("requestBody"))
    if not isinstance(request_body, dict):
        return None
    content = request_body.get("content") or {}
    content_type = next((ct for ct in content if ct == "application/json" or ct.endswith("+json")), None)
    if content_type is None:
        log.info("Operation %s has no JSON request body; its body is not exposed", operation.get("operationId"))
        return None
    raw_schema = (content[content_type] or {}).get("schema") or {}
    shown = to_portable(raw_schema, resolver)
    body_required = bool(request_body.get("required"))
    args: dict[str, str] = {}
    for prop, sub in (shown.get("properties") or {}).items():
        arg = _safe_arg(prop if prop not in taken else f"body_{prop}", taken)
        taken.add(arg)
        args[arg] = prop
        properties[arg] = sub
    # Top-level required body fields are required arguments: X needs them even where the spec
    # leaves `requestBody.required` unset (e.g. followUser's target_user_id).
    for prop in shown.get("required", []):
        arg = next(a for a, p in args.items() if p == prop)
        required.append(arg)
    body_schema = for_validation(raw_schema, openapi_version)
    validator = (
        validator_cls({**body_schema, "components": components}, format_checker=FORMATS)
        if isinstance(body_schema, dict)
        else None
    )
    file_args = _file_arguments(content, resolver, args, taken, properties, required)
    # A body is sent whenever an empty one would be invalid: a DM or a follow without its body can
    # only fail at X, whatever `requestBody.required` says.
    needs_body = body_required or (validator is not None and not validator.is_valid({}))
    return BodyPlan(
        content_type=content_type,
        args=args,
        required=needs_body,
        validator=validator,
        note=shown.get("description", "") if shown.get("description", "").startswith("Provide one of") else "",
        file_args=file_args,
    )


def _file_arguments(
    content: dict[str, Any],
    resolver: RefResolver,
    args: dict[str, str],
    taken: set[str],
    properties: Schema,
    required: list[str],
) -> dict[str, str]:
    """Where the body may also be multipart with a binary field, offer `<field>_path`: a local file.

    The JSON body takes such a field base64-encoded, which a model cannot produce from a file on disk
    (and should not have to carry through its context).
    """
    multipart = (content.get("multipart/form-data") or {}).get("schema")
    if multipart is None:
        return {}
    file_args: dict[str, str] = {}
    for prop in _binary_properties(multipart, resolver):
        arg = next((a for a, p in args.items() if p == prop), None)
        if arg is None:
            continue
        path_arg = _safe_arg(f"{arg}_path", taken)
        taken.add(path_arg)
        file_args[path_arg] = prop
        properties[path_arg] = {
            "type": "string",
            "description": f"A file inside X_MEDIA_DIR to send as {arg} (multipart upload), instead of {arg}.",
        }
        if arg in required:
            required.remove(arg)
    return file_args


def _binary_properties(schema: Any, resolver: RefResolver) -> list[str]:
    schema = resolver.deref(schema)
    variants = [resolver.deref(s) for s in (schema.get("anyOf") or schema.get("oneOf") or [schema])]
    found: list[str] = []
    for variant in variants:
        for name, sub in (variant.get("properties") or {}).items():
            sub = resolver.deref(sub)
            options = [resolver.deref(s) for s in (sub.get("anyOf") or sub.get("oneOf") or [sub])]
            if any(o.get("format") == "binary" for o in options) and name not in found:
                found.append(name)
    return found
