"""Arguments -> request parts: placement, encoding, coercion, and the messages for bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import catalog_for
from tests.synthetic import synthetic_spec
from xapi_mcp.calls.arguments import MAX_SAFE_INTEGER, ArgumentError, prepare
from xapi_mcp.tools.catalog import build_catalog


@pytest.fixture(scope="module")
def tools():
    return catalog_for("2.159").tools


@pytest.fixture(scope="module")
def synthetic():
    return build_catalog(synthetic_spec()).tools


def test_query_arrays_are_comma_joined_from_list_or_string(tools) -> None:
    request = prepare(tools["getUsersByUsername"], {"username": "jack", "user_fields": ["id", "name"]})
    assert request.method == "GET"
    assert request.path == "/2/users/by/username/jack"
    assert request.query == [("user.fields", "id,name")]
    from_string = prepare(tools["getUsersByUsername"], {"username": "jack", "user.fields": "id, name"})
    assert from_string.query == request.query
    assert not request.has_body


def test_exploded_arrays_repeat_the_parameter(synthetic) -> None:
    request = prepare(synthetic["getThing"], {"id": "1", "tag": ["a", "b"], "thing_fields": "a,c"})
    assert request.query == [("thing.fields", "a,c"), ("tag", "a"), ("tag", "b")]


def test_header_parameters_and_coercion(synthetic) -> None:
    request = prepare(synthetic["getThing"], {"id": 7, "X-Trace": "abc", "limit": "3"})
    assert request.path == "/things/7"
    assert request.headers == {"X-Trace": "abc"}
    assert request.query == [("limit", "3")]


def test_optional_nulls_are_treated_as_absent(tools) -> None:
    request = prepare(tools["getUsersByUsername"], {"username": "jack", "user_fields": None, "expansions": None})
    assert request.query == []


@pytest.mark.parametrize("value", ["a/b", "a?b=c", "a#b", "%2F", "a b"])
def test_path_values_cannot_change_the_path(synthetic, value: str) -> None:
    tool = build_catalog(
        {
            "openapi": "3.0.0",
            "info": {"version": "1"},
            "paths": {
                "/x/{id}/y": {
                    "get": {
                        "operationId": "g",
                        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    }
                }
            },
        }
    ).tools["g"]
    request = prepare(tool, {"id": value})
    assert request.path.startswith("/x/") and request.path.endswith("/y")
    middle = request.path[len("/x/") : -len("/y")]
    assert "/" not in middle and "?" not in middle and "#" not in middle
    for dots in ("..", "."):
        with pytest.raises(ArgumentError, match="part of the URL path"):
            prepare(tool, {"id": dots})


def test_json_body_from_flat_arguments(tools) -> None:
    request = prepare(tools["createPosts"], {"text": "hello", "reply_settings": "following"})
    assert request.method == "POST" and request.path == "/2/tweets"
    assert request.has_body and request.body == {"text": "hello", "reply_settings": "following"}


def test_body_prefix_on_collision(synthetic) -> None:
    request = prepare(synthetic["annotateThing"], {"id": "5", "body_id": "x"})
    assert request.path == "/things/5"
    assert request.body == {"id": "x"}


def test_unknown_argument_names_the_closest(tools) -> None:
    with pytest.raises(ArgumentError) as err:
        prepare(tools["getUsersByUsername"], {"usernme": "jack"})
    message = str(err.value)
    assert "Unknown argument for getUsersByUsername: 'usernme' (did you mean 'username'?)" in message
    assert "nothing was sent" in message and "username, user_fields" in message


def test_missing_required_and_pattern(tools) -> None:
    with pytest.raises(ArgumentError, match="missing required argument 'username'"):
        prepare(tools["getUsersByUsername"], {})
    with pytest.raises(ArgumentError, match=r"argument 'username': 'a b' does not match"):
        prepare(tools["getUsersByUsername"], {"username": "a b"})


def test_enum_error_lists_every_allowed_value(tools) -> None:
    with pytest.raises(ArgumentError) as err:
        prepare(tools["getUsersByUsername"], {"username": "jack", "user_fields": ["nope"]})
    message = str(err.value)
    assert "argument 'user_fields.0': \"nope\" is not allowed; choose from:" in message
    assert "withheld" in message  # the last value: the list is complete, not cut


def test_nested_body_errors_name_the_path(tools) -> None:
    with pytest.raises(ArgumentError) as err:
        prepare(tools["createPosts"], {"text": "x", "poll": {"options": ["a"], "duration_minutes": 1}})
    message = str(err.value)
    assert "argument 'poll.duration_minutes': 1 is less than the minimum of 5" in message
    assert "argument 'poll.options': ['a'] is too short" in message


def test_body_required_when_empty_is_invalid(tools) -> None:
    with pytest.raises(ArgumentError, match="missing required argument 'target_user_id'"):
        prepare(tools["followUser"], {"id": "1"})
    with pytest.raises(ArgumentError, match=r"give `text`, or `attachments`, or both"):
        prepare(tools["createDirectMessagesByParticipantId"], {"participant_id": "12"})
    request = prepare(tools["createDirectMessagesByParticipantId"], {"participant_id": "12", "text": "hi"})
    assert request.body == {"text": "hi"}


def test_wrong_types_and_non_object_arguments(tools) -> None:
    with pytest.raises(ArgumentError, match="'max_results': 'lots' is not of type 'integer'"):
        prepare(tools["getUsersFollowers"], {"id": "1", "max_results": "lots"})
    with pytest.raises(ArgumentError, match="must be a JSON object"):
        prepare(tools["getUsersFollowers"], ["id"])  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="given twice"):
        prepare(tools["getUsersByUsername"], {"username": "a", "user.fields": ["id"], "user_fields": ["id"]})


UNSAFE_ID = 1346889436626260000  # what a client that reads JSON numbers as doubles makes of 1346889436626259968


@pytest.mark.parametrize(
    ("tool", "arguments", "where"),
    [
        ("deletePosts", {"id": UNSAFE_ID}, "id"),  # path
        ("searchPostsRecent", {"query": "x", "since_id": UNSAFE_ID}, "since_id"),  # query
        ("getPostsByIds", {"ids": ["1", UNSAFE_ID]}, "ids.1"),  # an item of a query list
        ("getPostsByIds", {"ids": UNSAFE_ID}, "ids.0"),  # one ID for a list
        ("likePost", {"id": "1", "tweet_id": UNSAFE_ID}, "tweet_id"),  # body field
        ("createPosts", {"text": "x", "reply": {"in_reply_to_tweet_id": UNSAFE_ID}}, "reply.in_reply_to_tweet_id"),
        ("createPosts", {"text": "x", "media": {"media_ids": [UNSAFE_ID]}}, "media.media_ids.0"),
        ("deletePosts", {"id": float(UNSAFE_ID)}, "id"),  # the same number from a client that writes 1.3e18
        ("deletePosts", {"id": -(2**53)}, "id"),
    ],
)
def test_ids_sent_as_numbers_beyond_2_53_are_refused(tools, tool: str, arguments: dict, where: str) -> None:
    with pytest.raises(ArgumentError) as err:
        prepare(tools[tool], arguments)
    message = str(err.value)
    assert "nothing was sent to X" in message
    assert f"argument '{where}': IDs must be strings, like \"{int(next(_numbers(arguments)))}\"" in message
    assert f"got the number {next(_numbers(arguments))}" in message
    assert "is not of type" not in message


def _numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, (int, float)):
        yield value


def test_ids_sent_as_safe_integers_are_still_accepted(tools) -> None:
    assert prepare(tools["deletePosts"], {"id": MAX_SAFE_INTEGER}).path == f"/2/tweets/{MAX_SAFE_INTEGER}"
    assert prepare(tools["getPostsByIds"], {"ids": [5, "6"]}).query == [("ids", "5,6")]
    assert prepare(tools["getPostsByIds"], {"ids": 5}).query == [("ids", "5")]
    assert prepare(tools["getPostsByIds"], {"ids": "5,6"}).query == [("ids", "5,6")]


def test_integer_arguments_keep_their_own_bounds(tools) -> None:
    with pytest.raises(ArgumentError) as err:
        prepare(tools["searchPostsRecent"], {"query": "x", "max_results": UNSAFE_ID})
    assert f"argument 'max_results': {UNSAFE_ID} is greater than the maximum of 100" in str(err.value)
    assert "IDs must be strings" not in str(err.value)


def _dm_alternatives(message: str) -> None:
    assert "is not valid under any of the given schemas" not in message and "{" not in message
    assert "missing required argument" not in message  # neither field is required on its own


@pytest.mark.parametrize("tool", ["createDirectMessagesByParticipantId", "createDirectMessagesByConversationId"])
def test_a_dm_body_names_its_alternatives(tools, tool: str) -> None:
    path_arg = next(iter(tools[tool].arg_types))
    with pytest.raises(ArgumentError) as err:
        prepare(tools[tool], {path_arg: "12"})
    assert "- give `text`, or `attachments`, or both\n" in str(err.value)
    _dm_alternatives(str(err.value))
    # A form whose fields are given, but wrong: what is wrong in it, not the other form's fields.
    with pytest.raises(ArgumentError) as err:
        prepare(tools[tool], {path_arg: "12", "text": ""})
    assert "argument 'text': '' should be non-empty" in str(err.value)
    assert "attachments" not in str(err.value)


def test_nested_alternatives_are_named_under_their_argument(tools) -> None:
    arguments = {"conversation_type": "Group", "participant_ids": ["1", "2"], "message": {}}
    with pytest.raises(ArgumentError) as err:
        prepare(tools["createDirectMessagesConversation"], arguments)
    assert "- argument 'message': give `text`, or `attachments`, or both\n" in str(err.value)
    _dm_alternatives(str(err.value))
    request = prepare(tools["createDirectMessagesConversation"], {**arguments, "message": {"text": "hi"}})
    assert request.body["message"] == {"text": "hi"}


def test_forms_that_differ_by_constraints_say_what_each_needs(tools) -> None:
    """Media geo restrictions: an allow list with an empty block list, or the other way round."""
    both = {"whitelisted_country_codes": ["us"], "blacklisted_country_codes": ["fr"]}
    with pytest.raises(ArgumentError) as err:
        prepare(tools["createMediaMetadata"], {"id": "1", "metadata": {"geo_restrictions": both}})
    message = str(err.value)
    assert "argument 'metadata.geo_restrictions': fits none of its 2 allowed forms; either " in message
    assert "'metadata.geo_restrictions.blacklisted_country_codes': ['fr'] is expected to be empty" in message
    assert "'metadata.geo_restrictions.whitelisted_country_codes': ['us'] is expected to be empty" in message
    allowed = {**both, "blacklisted_country_codes": []}
    assert prepare(tools["createMediaMetadata"], {"id": "1", "metadata": {"geo_restrictions": allowed}}).has_body


def test_one_of_names_the_choice_and_refuses_both(tools) -> None:
    """updateRules (filtered-stream rules, a plain call): add or delete, not both."""
    tool = tools["updateRules"]
    with pytest.raises(ArgumentError) as err:
        prepare(tool, {})
    assert "- give exactly one of `add` or `delete`\n" in str(err.value)
    with pytest.raises(ArgumentError) as err:
        prepare(tool, {"add": [{"value": "cats"}], "delete": {"ids": ["1"]}})
    assert "- give exactly one of `add` or `delete`, not `add` and `delete` together\n" in str(err.value)
    assert "valid under each of" not in str(err.value)
    assert prepare(tool, {"add": [{"value": "cats"}]}).body == {"add": [{"value": "cats"}]}


def test_alternatives_use_the_argument_names() -> None:
    """A body field that clashes with a path parameter is the argument body_<field>: the error says so."""
    spec = {
        "openapi": "3.0.0",
        "info": {"version": "1"},
        "paths": {
            "/notes/{text}": {
                "post": {
                    "operationId": "annotate",
                    "parameters": [{"name": "text", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "anyOf": [
                                        {
                                            "type": "object",
                                            "required": ["text"],
                                            "properties": {"text": {"type": "string"}},
                                        },
                                        {
                                            "type": "object",
                                            "required": ["url"],
                                            "properties": {"url": {"type": "string"}},
                                        },
                                        {
                                            "type": "object",
                                            "required": ["file"],
                                            "properties": {"file": {"type": "string"}},
                                        },
                                    ]
                                }
                            }
                        },
                    },
                }
            }
        },
    }
    tool = build_catalog(spec).tools["annotate"]
    with pytest.raises(ArgumentError) as err:
        prepare(tool, {"text": "a"})
    assert "- give at least one of `body_text`, `url` or `file`\n" in str(err.value)
    assert prepare(tool, {"text": "a", "body_text": "b"}).body == {"text": "b"}


def test_forms_that_differ_only_in_encoding_have_no_note(tools) -> None:
    """appendMediaUpload's two forms (binary or base64 media) need the same fields: nothing to choose."""
    tool = tools["appendMediaUpload"]
    assert "combinations" not in tool.description and tool.plan.body is not None and not tool.plan.body.note
    with pytest.raises(ArgumentError) as err:
        prepare(tool, {"id": "1"})
    assert "- missing required argument 'media'\n" in str(err.value)


@given(
    st.lists(
        st.tuples(st.sampled_from(["ids", "user.fields", "query", "a b", "é", ""]), st.text(max_size=12)), max_size=6
    )
)
def test_query_string_is_what_httpx_would_send(query: list[tuple[str, str]]) -> None:
    """The query the executor writes itself is byte for byte httpx's encoding of the same parameters."""
    import httpx2 as httpx

    from xapi_mcp.calls.arguments import PreparedRequest

    request = PreparedRequest("GET", "/2/x", query=query)
    expected = httpx.URL("https://api.x.com/2/x", params=tuple(query)).query.decode()
    assert request.query_string() == expected
    built = httpx.URL(f"https://api.x.com/2/x?{request.query_string()}")
    assert built.params.multi_items() == httpx.URL("https://api.x.com/2/x", params=tuple(query)).params.multi_items()
