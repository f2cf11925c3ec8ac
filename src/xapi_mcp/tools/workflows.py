"""Workflow tools: one tool call that runs several of the catalog's own operations (run in calls/).

`uploadMedia` (X's chunked upload) and `usage_x_api` (today's spend beside X's own count) are built
from the operations they use, so they take those operations' credentials and validation.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from xapi_mcp.stores import CredentialKind
from xapi_mcp.tools.tooldef import AuthRequirement, ToolDef

UPLOAD_STEPS = ("initializeMediaUpload", "appendMediaUpload", "finalizeMediaUpload")
USAGE = "usage_x_api"


def workflow_tools(tools: dict[str, ToolDef]) -> list[ToolDef]:
    """The workflow tools the catalog's operations allow."""
    return [tool for tool in (upload_tool(tools), usage_tool(tools)) if tool is not None]


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
