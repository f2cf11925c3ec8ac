"""Arguments -> request parts: placement, encoding, coercion, and the messages for bad input."""

from __future__ import annotations

import pytest

from tests.conftest import catalog_for
from tests.synthetic import synthetic_spec
from xapi_mcp.arguments import ArgumentError, prepare
from xapi_mcp.catalog import build_catalog


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
    with pytest.raises(ArgumentError, match=r"text \| attachments"):
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
