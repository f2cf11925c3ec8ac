"""Workflow tools: one tool call that runs several of the catalog's own operations (run in calls/).

`uploadMedia` (X's chunked upload), `usage_x_api` (today's spend beside X's own count),
`collect_x_api` (every page of one list operation), `createThread` (posts replying to each other)
and createPosts' `media_paths` (upload, then post) are built from the operations they use, so they
take those operations' credentials and validation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jsonschema import Draft202012Validator

from xapi_mcp.stores import PREFERENCE, CredentialKind
from xapi_mcp.tools.tooldef import AuthRequirement, ParamPlan, RequestPlan, ToolDef

UPLOAD_STEPS = ("initializeMediaUpload", "appendMediaUpload", "finalizeMediaUpload")
USAGE = "usage_x_api"
COLLECT = "collect_x_api"
THREAD = "createThread"
POST = "createPosts"
POST_WITH_MEDIA = "createPosts+media_paths"  # the workflow createPosts runs when media_paths is given
MEDIA_PATHS = "media_paths"
PAGE_TOKENS = ("pagination_token", "next_token")  # X's page token parameters, preferred first
MAX_MEDIA = 4  # X attaches at most 4 media to a post
MAX_THREAD_POSTS = 25
DEFAULT_COLLECT_ITEMS = 100
_ID = {"type": "string", "pattern": "^[0-9]{1,19}$"}


def workflow_tools(tools: dict[str, ToolDef]) -> list[ToolDef]:
    """The workflow tools the catalog's operations allow (and createPosts with media_paths, replacing it)."""
    made = (upload_tool(tools), usage_tool(tools), collect_tool(tools), thread_tool(tools), posts_with_media(tools))
    return [tool for tool in made if tool is not None]


def page_token(tool: ToolDef) -> ParamPlan | None:
    """The query parameter that takes X's `meta.next_token` for the next page, when `tool` pages."""
    params = {p.name: p for p in tool.plan.params if p.location == "query"}
    return next((params[name] for name in PAGE_TOKENS if name in params), None)


def pageable(tools: dict[str, ToolDef]) -> list[str]:
    """The operations collect_x_api can page through: reads that take a page token."""
    return [
        name for name, tool in tools.items() if tool.workflow is None and tool.plan.method == "GET" and page_token(tool)
    ]


def collect_tool(tools: dict[str, ToolDef]) -> ToolDef | None:
    """`collect_x_api`: one list operation, page after page, in one call (calls/collect.py runs it)."""
    if not pageable(tools):
        return None
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "tool": {
                "type": "string",
                "description": "The list operation to page through: one that takes pagination_token or next_token, "
                "e.g. searchPostsRecent, getUsersPosts, getUsersFollowers, getListsMembers.",
            },
            "arguments": {
                "type": "object",
                "description": "Its arguments, as for a direct call. max_results sets the page size (default: the "
                "largest X allows); pagination_token/next_token resumes where a collection stopped.",
            },
            "max_items": {
                "type": "integer",
                "minimum": 1,
                "default": DEFAULT_COLLECT_ITEMS,
                "description": "Stop after this many items (at most X_API_COLLECT_MAX_ITEMS, 1000 unless set).",
            },
            "max_cost_usd": {
                "type": "number",
                "minimum": 0,
                "description": "Stop before a page that could take this collection's cost above this many USD.",
            },
        },
        "required": ["tool"],
    }
    return ToolDef(
        name=COLLECT,
        title="Collect pages of an X list",
        description=(
            "Page through one list operation in one call, up to max_items or max_cost_usd. Returns merged data and "
            "includes, and stopped (reason, next_token to resume)."
        ),
        input_schema=schema,
        annotations={"readOnlyHint": True},
        # Each page is a request of the chosen operation: credentials, rate limits and price are its own.
        plan=RequestPlan(
            method="GET", path="(each page: the chosen operation's path)", params=(), body=None, security=None
        ),
        tags=("Collection",),
        operation_id=COLLECT,
        args_validator=Draft202012Validator({**schema, "additionalProperties": False}),
        auth=AuthRequirement(accepted=(*PREFERENCE, CredentialKind.NONE)),
        workflow=COLLECT,
        notes={"tool": "An operation taking pagination_token, e.g. searchPostsRecent, getUsersFollowers."},
    )


def _media_paths(note: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_MEDIA, "description": note}


def thread_tool(tools: dict[str, ToolDef]) -> ToolDef | None:
    """`createThread`: posts in order, each replying to the one before, after one confirmation."""
    post = tools.get(POST)
    if post is None:
        return None
    item: dict[str, Any] = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "The post's text."},
            "media_ids": {
                "type": "array",
                "items": _ID,
                "maxItems": MAX_MEDIA,
                "description": "Media already uploaded (uploadMedia).",
            },
        },
    }
    if all(name in tools for name in UPLOAD_STEPS):
        item["properties"][MEDIA_PATHS] = _media_paths("Files inside X_MEDIA_DIR to attach (uploaded first).")
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "posts": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_THREAD_POSTS,
                "items": item,
                "description": "The thread in order: each post replies to the one before it.",
            },
            "reply_to": {**_ID, "description": "A post ID the first post replies to (to continue a thread)."},
        },
        "required": ["posts"],
    }
    checked = {**schema, "properties": {**schema["properties"]}, "additionalProperties": False}
    checked["properties"]["posts"] = {**schema["properties"]["posts"], "items": {**item, "additionalProperties": False}}
    return ToolDef(
        name=THREAD,
        title="Post a thread",
        # Worded so that a request for one post still finds createPosts first (search_x_api).
        description=(
            "A thread in one call: its texts go out in order, each under the one before; files uploaded first; one "
            "confirmation; on a failure, what went out (IDs) and what did not."
        ),
        input_schema=schema,
        annotations={"destructiveHint": False},
        plan=post.plan,
        tags=post.tags,
        operation_id=THREAD,
        args_validator=Draft202012Validator(checked),
        auth=post.auth,
        workflow=THREAD,
    )


def posts_with_media(tools: dict[str, ToolDef]) -> ToolDef | None:
    """createPosts with an optional `media_paths`: given, the files are uploaded first, then the post is sent.

    Without it the tool is the operation itself: same arguments, same request, same checks.
    """
    post = tools.get(POST)
    if post is None or post.workflow is not None or not all(name in tools for name in UPLOAD_STEPS):
        return None
    note = "Files inside X_MEDIA_DIR to upload and attach."
    prop = _media_paths(note)
    validator_schema = post.args_validator.schema
    return replace(
        post,
        input_schema={**post.input_schema, "properties": {**post.input_schema["properties"], MEDIA_PATHS: prop}},
        args_validator=post.args_validator.evolve(
            schema={**validator_schema, "properties": {**validator_schema["properties"], MEDIA_PATHS: prop}}
        ),
        notes={**post.notes, MEDIA_PATHS: note},
        routes={**post.routes, MEDIA_PATHS: POST_WITH_MEDIA},
    )


def upload_tool(tools: dict[str, ToolDef]) -> ToolDef | None:
    """The `uploadMedia` tool, when the spec has the chunked-upload operations it builds on."""
    if not all(name in tools for name in UPLOAD_STEPS):
        return None
    init = tools["initializeMediaUpload"]
    init_props = init.input_schema.get("properties", {})
    properties: dict[str, Any] = {
        "path": {"type": "string", "description": "A file inside X_MEDIA_DIR (absolute, or relative to it)."},
        "data": {"type": "string", "description": "The file's bytes, base64-encoded (instead of path)."},
    }
    for name, note in (
        ("media_type", "MIME type; guessed from the file name when omitted."),
        ("media_category", "How the media will be used; guessed from the type when omitted."),
    ):
        if name in init_props:
            properties[name] = {
                **{k: v for k, v in init_props[name].items() if k != "description"},
                "description": note,
            }
    schema = {"type": "object", "properties": properties}
    return ToolDef(
        name="uploadMedia",
        title="Upload media (chunked)",
        description=(
            "Upload an image, GIF, video or subtitle file in one call (INIT, APPEND chunks, FINALIZE, and waiting "
            "while X processes video). Returns media_id for createPosts' media.media_ids."
        ),
        input_schema=schema,
        annotations={"destructiveHint": False},
        plan=init.plan,
        tags=("Media",),
        operation_id="uploadMedia",
        args_validator=Draft202012Validator({**schema, "additionalProperties": False}),
        auth=init.auth,
        workflow="uploadMedia",
        notes={name: prop["description"] for name, prop in properties.items()},
    )


def usage_tool(tools: dict[str, ToolDef]) -> ToolDef | None:
    """`usage_x_api`: the spend this server counted today, and X's own getUsage figures when it can ask."""
    usage = tools.get("getUsage")
    if usage is None:
        return None
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    return ToolDef(
        name=USAGE,
        title="X API spend today",
        description=(
            "Today's X API spend as counted by this server (by tool and billing category), the daily budget left, "
            "and X's own count of posts read (getUsage) side by side. Free: it costs nothing."
        ),
        input_schema=schema,
        annotations={"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False},
        plan=usage.plan,
        tags=("Usage",),
        operation_id=USAGE,
        args_validator=Draft202012Validator({**schema, "additionalProperties": False}),
        # Reports from the local ledger with no credential at all; X's figures need the bearer token.
        auth=AuthRequirement(accepted=(*usage.auth.accepted, CredentialKind.NONE)),
        workflow=USAGE,
    )
