"""Which code runs each workflow tool: its runner, what it refuses before anyone is asked, its price.

A tool is a workflow by `ToolDef.workflow` (uploadMedia, usage_x_api, collect_x_api, createThread),
or by an optional argument in `ToolDef.routes` (createPosts with media_paths); `Executor` looks the
call up here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xapi_mcp.calls import collect, media, posting, usage
from xapi_mcp.calls.workflow import Steps
from xapi_mcp.tools.tooldef import ToolDef
from xapi_mcp.tools.workflows import COLLECT, POST_WITH_MEDIA, THREAD, USAGE

WORKFLOWS = {
    "uploadMedia": Steps(media.run_upload, media.check_upload),
    USAGE: Steps(usage.run_usage, usage.check_usage),
    COLLECT: Steps(collect.run_collect, collect.check_collect, collect.estimate_collect),
    THREAD: Steps(posting.run_thread, posting.check_thread, posting.estimate_thread),
    POST_WITH_MEDIA: Steps(posting.run_post, posting.check_post, posting.estimate_post),
}


def workflow_of(tool: ToolDef, arguments: Any) -> str | None:
    """The workflow that runs this call: the tool's own, or the one an optional argument routes it to."""
    if tool.workflow is not None or not tool.routes or not isinstance(arguments, Mapping):
        return tool.workflow
    return next((flow for arg, flow in tool.routes.items() if arguments.get(arg) is not None), None)
