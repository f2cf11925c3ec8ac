"""The catalog: one portable, self-contained tool per operation."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import PORTABLE_KEYS, catalog_for, load_document, walk_schemas
from tests.synthetic import synthetic_spec
from xapi_mcp.cli import listing_size
from xapi_mcp.stores import CredentialKind
from xapi_mcp.tools.catalog import HTTP_METHODS, build_catalog
from xapi_mcp.tools.schema import trim_description

CLIENT_SAFE_PROPERTY = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@pytest.mark.parametrize("version", ["2.159", "2.157"])
def test_every_schema_uses_only_portable_keywords(version: str) -> None:
    catalog = catalog_for(version)
    assert catalog.tools
    for tool in catalog.tools.values():
        assert tool.input_schema["type"] == "object"
        for name in tool.input_schema["properties"]:
            assert CLIENT_SAFE_PROPERTY.match(name), (tool.name, name)
        for where, node in walk_schemas(tool.input_schema):
            extra = set(node) - PORTABLE_KEYS
            assert not extra, f"{tool.name} {where}: {extra}"
            if node.get("type") == "array":
                assert "items" in node, f"{tool.name} {where}: array without items"
            if "enum" in node:
                assert all(isinstance(v, str) for v in node["enum"]), f"{tool.name} {where}"


# X's 15 streams: marked `x-twitter-streaming: true` in 2.159 and 2.157 (their content type says JSON).
STREAMS = [
    "activityStream",
    "streamLikesCompliance",
    "streamLikesFirehose",
    "streamLikesSample10",
    "streamPostsCompliance",
    "streamPostsFirehose",
    "streamPostsFirehoseEn",
    "streamPostsFirehoseJa",
    "streamPostsFirehoseKo",
    "streamPostsFirehosePt",
    "streamLabelsCompliance",
    "streamPostsSample",
    "streamPostsSample10",
    "streamPosts",
    "streamUsersCompliance",
]
# Plain request/response calls whose paths hold /stream or /webhooks (XMCP's rule left them out).
MANAGING_STREAMS_AND_WEBHOOKS = {
    "getRules": "GET",
    "updateRules": "POST",
    "getRuleCounts": "GET",
    "getWebhooks": "GET",
    "createWebhooks": "POST",
    "validateWebhooks": "PUT",
    "deleteWebhooks": "DELETE",
    "createWebhookReplayJob": "POST",
    "getWebhooksStreamLinks": "GET",
    "createWebhooksStreamLink": "POST",
    "deleteWebhooksStreamLink": "DELETE",
    "createAccountActivitySubscription": "POST",
    "validateAccountActivitySubscription": "GET",
    "getAccountActivitySubscriptions": "GET",
    "deleteAccountActivitySubscription": "DELETE",
    "createAccountActivityReplayJob": "POST",
    "createActivitySubscription": "POST",
}


@pytest.mark.parametrize(("version", "operations", "tools"), [("2.159", 156, 141), ("2.157", 142, 127)])
def test_only_streams_are_left_out(version: str, operations: int, tools: int) -> None:
    """Without stream tools, excluded are exactly the operations whose answer streams; stream rules and webhook
    setup are plain tools either way. With them (the default), every operation is a tool."""
    document = load_document(version)
    catalog = build_catalog(document, streams=None)
    assert catalog.excluded == STREAMS
    assert len(catalog.tools) == tools and len(catalog.tools) + len(catalog.excluded) == operations
    assert len(catalog_for(version).tools) == operations and catalog_for(version).excluded == []
    marked = [op["operationId"] for item in document["paths"].values() for op in item.values() if _streams(op)]
    assert sorted(marked) == sorted(STREAMS)
    for name, method in MANAGING_STREAMS_AND_WEBHOOKS.items():
        tool = catalog.tools[name]
        assert tool.plan.method == method, name
        assert ("/stream" in tool.plan.path or "/webhooks" in tool.plan.path) == (name != "createActivitySubscription")
        assert (tool.annotations == {"readOnlyHint": True}) == (method == "GET"), name
    assert catalog.tools["deleteWebhooks"].annotations == {"destructiveHint": True, "idempotentHint": True}
    assert catalog.tools["updateRules"].auth.accepted == (CredentialKind.BEARER,)
    assert CredentialKind.OAUTH1_USER in catalog.tools["createAccountActivitySubscription"].auth.accepted


def _streams(operation: Any) -> bool:
    return isinstance(operation, dict) and operation.get("x-twitter-streaming") is True


def test_webhook_tools_say_what_delivery_needs() -> None:
    tools = catalog_for("2.159").tools
    told = sorted(name for name, tool in tools.items() if "answer X's CRC check" in tool.description)
    assert told == [
        "createAccountActivityReplayJob",
        "createAccountActivitySubscription",
        "createActivitySubscription",
        "createWebhookReplayJob",
        "createWebhooks",
        "createWebhooksStreamLink",
        "updateActivitySubscription",
        "validateWebhooks",
    ]
    assert (
        "public HTTPS" in tools["createWebhooks"].description
        and "X_WEBHOOK_PATH" in tools["createWebhooks"].description
    )
    # The URL argument says it in every profile (lean shows titles, not descriptions).
    assert "Public HTTPS URL" in tools["createWebhooks"].notes["url"] and "CRC" in tools["createWebhooks"].notes["url"]


def test_names_are_operation_ids_unique_and_ordered() -> None:
    document = json.loads(json.dumps(catalog_for("2.159").tools["getUsersByUsername"].plan.path))
    assert document == "/2/users/by/username/{username}"
    first, second = build_catalog(_spec()), build_catalog(_spec())
    assert list(first.tools) == list(second.tools)
    # Unique as generated: every operation is one tool or one exclusion, none overwritten by a namesake.
    operations = [op for item in _spec()["paths"].values() for method, op in item.items() if method in HTTP_METHODS]
    generated = [*first.tools, *first.excluded]
    assert len(generated) == len(operations) == 156 and len(set(generated)) == len(generated)
    same_id = {"operationId": "getThing", "responses": {"200": {"description": "ok"}}}
    twins = build_catalog({"openapi": "3.1.0", "paths": {"/a": {"get": same_id}, "/b": {"get": same_id}}})
    assert [(name, tool.plan.path) for name, tool in twins.tools.items()] == [("getThing", "/a"), ("getThing_2", "/b")]
    names = list(catalog_for("2.159").tools)
    assert all(re.match(r"^[A-Za-z0-9_-]{1,64}$", n) for n in names), "Windsurf rejects dots in names"


def _spec() -> dict[str, Any]:
    from tests.conftest import load_document

    return load_document("2.159")


def test_tool_list_fits_budget_and_default_client_limit() -> None:
    total, per_tool = listing_size(catalog_for("2.159").tools)
    assert total <= 175_000, total  # XMCP: 3,084,832 bytes (160,000 before the 15 stream tools, ~167,000 with)
    assert max(per_tool.values()) <= 6_000  # XMCP's largest single tool: 85,666 bytes


def test_flat_arguments_and_aliases() -> None:
    tool = catalog_for("2.159").tools["getUsersByUsername"]
    props = tool.input_schema["properties"]
    assert "tweet_fields" in props and "tweet.fields" not in props
    assert tool.aliases["tweet.fields"] == "tweet_fields"
    assert tool.input_schema["required"] == ["username"]
    assert props["user_fields"]["type"] == "array"
    assert "id" in props["user_fields"]["items"]["enum"]
    assert props["username"]["pattern"] == "^[A-Za-z0-9_]{1,15}$"


def test_body_properties_become_arguments_with_constraints() -> None:
    tool = catalog_for("2.159").tools["createPosts"]
    props = tool.input_schema["properties"]
    assert {"text", "poll", "media", "reply"} <= set(props)
    poll = props["poll"]
    assert poll["properties"]["duration_minutes"]["minimum"] == 5
    assert poll["properties"]["options"]["maxItems"] == 4
    assert set(poll["required"]) == {"options", "duration_minutes"}
    # Required body fields are required arguments even when the spec leaves requestBody optional.
    follow = catalog_for("2.159").tools["followUser"]
    assert set(follow.input_schema["required"]) == {"id", "target_user_id"}


def test_annotations_follow_the_method() -> None:
    tools = catalog_for("2.159").tools
    # MCP's defaults (openWorldHint true, readOnlyHint false, idempotentHint false) are not written out.
    assert tools["getUsersByUsername"].annotations == {"readOnlyHint": True}
    assert tools["deletePosts"].annotations == {"destructiveHint": True, "idempotentHint": True}
    assert tools["createPosts"].annotations == {"destructiveHint": False}
    assert tools["createPosts"].title == "Create or Edit Post"


def test_auth_requirements_from_security() -> None:
    tools = catalog_for("2.159").tools
    assert tools["getPostsCountsRecent"].auth.accepted == (CredentialKind.BEARER,)
    assert CredentialKind.OAUTH1_USER in tools["createPosts"].auth.accepted
    assert tools["getUsersBookmarks"].auth.accepted == (CredentialKind.OAUTH2_USER,)
    assert "bookmark.read" in tools["getUsersBookmarks"].auth.scopes
    no_oauth1 = [  # (the 15 stream tools, XMCP hides them too, take the app bearer token only)
        t
        for t in tools.values()
        if t.stream is None and not {CredentialKind.OAUTH1_USER, CredentialKind.NONE} & set(t.auth.accepted)
    ]
    # XMCP signs every call with OAuth 1.0a; of its 124 tools (ours without the 17 it hides) X refuses that on 28.
    assert len([t for t in no_oauth1 if t.name not in MANAGING_STREAMS_AND_WEBHOOKS]) == 28
    assert len(no_oauth1) == 39  # 11 of the 17 take the app bearer token only


def test_generic_openapi_31_document() -> None:
    catalog = build_catalog(synthetic_spec(), streams=None)
    tools = catalog.tools
    assert list(tools) == ["getThing", "replaceThing", "annotateThing", "post_things", "getThing_2", "getStreamRules"]
    assert catalog.excluded == ["streamThings"]  # by its media type (application/x-ndjson), not its path
    assert build_catalog(synthetic_spec()).tools["streamThings"].stream is not None  # a bounded stream tool

    get = tools["getThing"]
    props = get.input_schema["properties"]
    assert props["id"] == {"description": "The Thing ID.", "type": "string", "pattern": "^[0-9]{1,19}$"}
    assert props["thing_fields"] == {"type": "array", "items": {"enum": ["a", "b", "c"]}}
    assert "Allowed values: 1, 2." in props["level"]["description"] and "enum" not in props["level"]
    assert get.auth.accepted == (CredentialKind.BEARER,)  # global security applies

    replace = tools["replaceThing"]
    assert replace.input_schema["properties"]["a"] == {"type": "integer"}
    assert replace.input_schema["properties"]["b"] == {"type": "string"}  # 3.1 null type + format dropped
    assert "a" in replace.input_schema["required"]
    assert replace.auth.accepted == (CredentialKind.OAUTH1_USER,)

    annotate = tools["annotateThing"]
    props = annotate.input_schema["properties"]
    assert "body_id" in props, "a body property that collides with a parameter gets the body_ prefix"
    assert props["body_id"] == {"type": "string", "enum": ["x"]}
    assert "readonly_field" not in props
    child = props["tree"]["properties"]["child"]
    assert child["type"] == "object" and "recursive" in child["description"]  # cycle cut, not infinite
    assert "properties" not in child
    assert annotate.auth.accepted == (CredentialKind.NONE,)

    choice = tools["post_things"]
    assert set(choice.input_schema["properties"]) == {"add", "remove"}
    assert "required" not in choice.input_schema
    assert "add | remove" in choice.description


def test_trim_description() -> None:
    assert trim_description("First part. Second part.") == "First part."
    assert trim_description("See [Tweet](#Tweet) objects") == "See Tweet objects"
    long = "word " * 100
    assert len(trim_description(long)) <= 160 and trim_description(long).endswith("…")
    assert trim_description(None) == ""
    assert trim_description("Use e.g. This one. Not this.") == "Use e.g. This one."
    assert trim_description("The ID. More") == "The ID."
