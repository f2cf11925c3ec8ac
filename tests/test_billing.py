"""Billing categories read from the OpenAPI document: response schema first, path tables for the rest."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import load_document
from xapi_mcp.calls.billing import billing_rules, rule_for, unpriced
from xapi_mcp.calls.prices import shipped_prices


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    return billing_rules(load_document("2.159"))


@pytest.mark.parametrize(
    ("operation", "category", "per"),
    [
        # Reads, from the `$ref` of the response's `data`.
        ("searchPostsRecent", "Posts: Read", "resource"),
        ("getPostsById", "Posts: Read", "resource"),
        ("getUsersByUsernames", "User: Read", "resource"),
        ("getPostsLikingUsers", "User: Read", "resource"),
        ("getDirectMessagesEvents", "DM Event: Read", "resource"),
        ("getListsById", "List: Read", "resource"),
        ("searchSpaces", "Space: Read", "resource"),
        ("searchCommunities", "Community: Read", "resource"),
        ("searchCommunityNotesWritten", "Note: Read", "resource"),
        ("getMediaByMediaKeys", "Media: Read", "resource"),
        ("getTrendsByWoeid", "Trend: Read", "resource"),
        ("getPostsAnalytics", "Analytics: Read", "resource"),
        # Reads the schema cannot tell apart.
        ("getUsersFollowers", "Following/Followers: Read", "resource"),
        ("getUsersFollowing", "Following/Followers: Read", "resource"),
        ("getPostsCountsRecent", "Counts: Recent", "request"),
        ("getPostsCountsAll", "Counts: All", "request"),
        # Writes, per request.
        ("createPosts", "Content: Create", "request"),
        ("hidePostsReply", "Content: Manage", "request"),
        ("createDirectMessagesByParticipantId", "DM Interaction: Create", "request"),
        ("createDirectMessagesConversation", "DM Interaction: Create", "request"),
        ("likePost", "User Interaction: Create", "request"),
        ("repostPost", "User Interaction: Create", "request"),
        ("followUser", "User Interaction: Create", "request"),
        ("muteUser", "User Interaction: Create", "request"),
        ("unlikePost", "Interaction: Delete", "request"),
        ("unfollowUser", "Interaction: Delete", "request"),
        ("deletePosts", "Interaction: Delete", "request"),
        ("unmuteUser", "Mute: Delete", "request"),
        ("createUsersBookmark", "Bookmark", "request"),
        ("deleteUsersBookmark", "Bookmark", "request"),
        ("createLists", "List: Create", "request"),
        ("updateLists", "List: Manage", "request"),
        ("addListsMember", "List: Manage", "request"),
        ("createMediaMetadata", "Media Metadata", "request"),
        ("initializeMediaUpload", "Content: Manage", "request"),
        ("blockUsersDms", "Privacy: Update", "request"),
    ],
)
def test_categories_on_spec_2_159(rules: dict[str, Any], operation: str, category: str, per: str) -> None:
    rule = rules[operation]
    assert (rule.category, rule.per) == (category, per), rule.basis


def test_spec_facts_an_estimate_needs(rules: dict[str, Any]) -> None:
    search = rules["searchPostsRecent"]
    assert (search.limit_arg, search.limit_default, search.limit_max) == ("max_results", 10, 100)
    assert search.expansions and search.kind == "post" and not search.single
    assert (rules["getUsersFollowers"].limit_default, rules["getUsersFollowers"].limit_max) == (None, 1000)
    assert (rules["getUsersByIds"].count_arg, rules["getUsersByIds"].count_max) == ("ids", 100)
    assert rules["getMediaByMediaKeys"].id_field == "media_key"
    assert rules["getUsersMe"].single
    assert (rules["getTrendsByWoeid"].limit_arg, rules["getTrendsByWoeid"].limit_default) == ("max_trends", 20)
    assert rules["createPosts"].url_category == "Content: Create with URL"
    assert rules["likePost"].url_category is None


def test_owned_reads_apply_to_exactly_xs_twelve_endpoints(rules: dict[str, Any]) -> None:
    owned = {rule.path for rule in rules.values() if rule.owned_category == "Owned Reads"}
    names = "tweets mentions liked_tweets bookmarks followers following blocking muting owned_lists followed_lists"
    assert owned == {f"/2/users/{{id}}/{name}" for name in [*names.split(), "list_memberships", "pinned_lists"]}
    assert all(rules[op].method == "GET" for op in rules if rules[op].owned_category)


def test_a_new_endpoint_is_priced_by_its_response_schema_and_an_unknown_one_is_listed() -> None:
    document = copy.deepcopy(load_document("2.159"))
    search = document["paths"]["/2/tweets/search/recent"]["get"]
    document["paths"]["/2/tweets/brand_new"] = {"get": {**search, "operationId": "brandNewPosts"}}
    mystery = copy.deepcopy(search)
    mystery["responses"]["200"]["content"]["application/json"]["schema"] = {
        "type": "object",
        "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Place"}}},
    }
    document["paths"]["/2/places/mystery"] = {"get": {**mystery, "operationId": "mysteryPlaces"}}
    document["paths"]["/2/places"] = {"post": {"operationId": "createPlace", "responses": {}}}
    rules = billing_rules(document)
    assert (rules["brandNewPosts"].category, rules["brandNewPosts"].limit_max) == ("Posts: Read", 100)
    assert rules["mysteryPlaces"].category is None and "Place" in rules["mysteryPlaces"].basis
    assert {"mysteryPlaces", "createPlace"} <= set(unpriced(document))
    assert "brandNewPosts" not in unpriced(document)


def test_unpriced_on_2_159_are_the_endpoints_xs_page_does_not_name() -> None:
    document = load_document("2.159")
    gaps = unpriced(document)
    for operation in ("getUsage", "getOpenApiSpec", "getComplianceJobs", "searchNews", "sendChatMessage", "getRules"):
        assert operation in gaps
    for operation in ("searchPostsRecent", "createPosts", "getUsersFollowers", "getPostsCountsAll"):
        assert operation not in gaps
    assert unpriced(document, only=["getUsage", "searchPostsRecent"]) == ["getUsage"]


@pytest.mark.parametrize("version", ["2.157", "2.159"])
def test_every_category_given_has_a_rate(version: str) -> None:
    rules = billing_rules(load_document(version))
    table = shipped_prices()
    assert rules and all(table.rate(rule.category) is not None for rule in rules.values() if rule.priced)
    assert all(table.rate(rule.owned_category) is not None for rule in rules.values() if rule.owned_category)


def test_rule_for_one_operation_matches_the_full_table(rules: dict[str, Any]) -> None:
    document = load_document("2.159")
    assert rule_for(document, "get", "/2/tweets/search/recent") == rules["searchPostsRecent"]
    assert rule_for(document, "DELETE", "/2/users/{source_user_id}/muting/{target_user_id}") == rules["unmuteUser"]
    with pytest.raises(KeyError):
        rule_for(document, "GET", "/2/nothing")
