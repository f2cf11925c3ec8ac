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
- hybrid: the three discovery tools first, then the allowlisted tools (with no allowlist, the ones
  agents use most: `COMMON`) as `full` shows them. search/describe/call reach every allowed tool, so
  a client that keeps only the first 40 tools (Cursor) or accepts 128 (OpenAI-compatible APIs)
  never loses an operation. The default when more than 128 tools are allowed and no profile is set.
Only what is *shown* changes: validation always uses the spec's full schemas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from xapi_mcp.tools.schema import Schema, trim_description
from xapi_mcp.tools.tooldef import ToolDef

log = logging.getLogger(__name__)

Profile = Literal["full", "lean", "discovery", "hybrid"]
PROFILES: tuple[Profile, ...] = ("full", "lean", "discovery", "hybrid")

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


# What agents do with X most, as direct tools in the hybrid profile (when no allowlist chooses them):
# who someone is and who follows whom, reading and searching posts, posting (with media) and deleting,
# the everyday interactions and their undo, DMs, bookmarks, and what today cost. 35 tools: with the
# 3 discovery tools, 2 under Cursor's 40, for the collection and thread workflow tools to join.
COMMON: tuple[str, ...] = (
    # people
    "getUsersMe",
    "getUsersByUsername",
    "getUsersByUsernames",
    "getUsersById",
    "searchUsers",
    "getUsersFollowers",
    "getUsersFollowing",
    # reading posts
    "searchPostsRecent",
    "getPostsCountsRecent",
    "getPostsById",
    "getPostsByIds",
    "getUsersPosts",
    "getUsersMentions",
    "getUsersTimeline",
    "getPostsLikingUsers",
    "getPostsRepostedBy",
    "getPostsQuotedPosts",
    "getUsersLikedPosts",
    "getTrendsPersonalizedTrends",
    # posting
    "createPosts",
    "deletePosts",
    "uploadMedia",
    # interactions
    "likePost",
    "unlikePost",
    "repostPost",
    "unrepostPost",
    "followUser",
    "unfollowUser",
    # direct messages
    "createDirectMessagesByParticipantId",
    "getDirectMessagesEvents",
    "getDirectMessagesEventsByParticipantId",
    # bookmarks
    "getUsersBookmarks",
    "createUsersBookmark",
    "deleteUsersBookmark",
    # whole tasks in one call
    "collect_x_api",
    "createThread",
    # cost
    "usage_x_api",
)
TOOL_CAP = 128  # tools an OpenAI-compatible chat API accepts per request
HYBRID_MAX_DIRECT = TOOL_CAP - 3  # an allowlist's direct tools beside the 3 discovery tools


def hybrid_direct(tools: dict[str, ToolDef], allowlisted: bool = False) -> list[str]:
    """The tools hybrid lists directly: the allowlisted ones (at most 125), else the `COMMON` ones allowed."""
    if allowlisted:
        return list(tools)[:HYBRID_MAX_DIRECT]
    return [name for name in tools if name in COMMON]


def served_profile(
    chosen: Profile | None, tools: dict[str, ToolDef], allowlisted: bool
) -> tuple[Profile, tuple[str, ...]]:
    """The profile to serve and hybrid's direct tools; a choice the server made is logged with its reason."""
    profile, why = choose_profile(chosen, len(tools))
    if why:
        log.info(why)
    if profile == "hybrid" and allowlisted and len(tools) > HYBRID_MAX_DIRECT:
        log.info(
            "Hybrid profile: the allowlist keeps %d tools; the first %d are listed, call_x_api reaches them all.",
            len(tools),
            HYBRID_MAX_DIRECT,
        )
    return profile, tuple(hybrid_direct(tools, allowlisted))


def choose_profile(chosen: Profile | None, allowed: int) -> tuple[Profile, str | None]:
    """The profile to serve, and a log line when the server chose it (more tools than clients keep)."""
    if chosen is not None:
        return chosen, None
    if allowed <= TOOL_CAP:
        return "full", None
    return "hybrid", (
        f"Tool profile: hybrid, because {allowed} tools are allowed and OpenAI-compatible APIs accept at most "
        f"{TOOL_CAP} (Cursor keeps the first 40): the most used tools are listed, search_x_api / describe_x_api / "
        f"call_x_api reach all {allowed}. Set X_API_TOOL_PROFILE=full (or lean, discovery) to choose another."
    )


def discovery_schemas() -> dict[str, Any]:
    from xapi_mcp.tools.discovery import discovery_tools

    return {tool["name"]: tool["inputSchema"] for tool in discovery_tools()}
