"""search_x_api must put the right tool first for requests in people's words (reported: top-1 / top-3).

The requests are tests/data/search_tuning.json (the first 67 are the ones this file used to hold)
tests/data/search_tuning2.json (302 written for issue 16 part 2 before the tool names were read) and
tests/data/search_tuning3.json (174 written before the ranking code was read);
each lists the operationIds an agent may rightly call first. The ranking is deterministic, so the
floors sit just under the figures measured when they were set (`benchmarks/search_bench.py` prints
them with the misses). The intent rules (@handle, me/my, post IDs, ...) have tests of their own
below, on requests that are in neither set.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tools_with_upload
from xapi_mcp.tools.discovery import SearchIndex
from xapi_mcp.tools.search import parse
from xapi_mcp.tools.vocabulary import english_words

TUNING = Path(__file__).parent / "data" / "search_tuning.json"
TUNING2 = TUNING.with_name("search_tuning2.json")
TUNING3 = TUNING.with_name("search_tuning3.json")
# Measured when set: top-1 505/524 (0.964), top-3 519/524 (0.990); 499/524 once usage_x_api joined; 495/524
# (0.945), top-3 517/524, once the 17 stream-rule, webhook and subscription tools of issue 17 did: one real
# collision ('share a link on X' -> createWebhooksStreamLink, "Create stream link"), three near-ties flipped by
# the larger corpus ('status of compliance job 1234', 'how much of my tweet quota have I used', 'find people
# who work at spacex'); 496/524, top-3 515/524 (0.983) with issue 16's workflow tools and the 15 stream tools
# (streams, webhooks and subscriptions now rank low unless the request asks for them: +1 on both sets);
# 507/524 (0.968), top-3 518/524 (0.989) with the general rules of issue 16 part 2 (wp-search2); 510/524 (0.973)
# and 518 after wp-search3.
TOP1_FLOOR, TOP3_FLOOR = 0.955, 0.985
# search_tuning2.json, measured when set (wp-search2): top-1 from 241/302 (0.798) to 289/302 (0.957),
# top-3 from 277 (0.917) to 297 (0.983); 289 and 298 (0.987) after wp-search3.
TOP1_FLOOR2, TOP3_FLOOR2 = 0.945, 0.97
# search_tuning3.json, measured when set (wp-search3): top-1 from 156/174 (0.897) to 167/174 (0.960),
# top-3 from 169 (0.971) to 174 (1.000).
TOP1_FLOOR3, TOP3_FLOOR3 = 0.95, 0.99
# The examples the discovery profile was designed around: these must come first.
MUST_BE_FIRST = {
    "who follows @jack": "getUsersFollowers",
    "post a tweet with a poll": "createPosts",
    "recent tweets about AI": "searchPostsRecent",
    "my bookmarks": "getUsersBookmarks",
    "mute a user": "muteUser",
}


@lru_cache(maxsize=1)
def served() -> tuple[SearchIndex, dict[str, Any]]:
    tools = tools_with_upload()
    return SearchIndex.build(tools), tools


def ranked(query: str, limit: int = 3) -> list[str]:
    index, tools = served()
    return [name for name, _ in index.search(query, tools, limit=limit)]


def requests(path: Path = TUNING) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["requests"])


@pytest.mark.parametrize("path", [TUNING, TUNING2, TUNING3], ids=["tuning", "tuning2", "tuning3"])
def test_the_tuning_sets_are_large_and_name_real_tools(path: Path) -> None:
    found = requests(path)
    _, tools = served()
    assert len(found) >= 150
    assert len({r["q"].lower() for r in found}) == len(found), "a request is in the set twice"
    assert {a for r in found for a in r["accept"]} <= set(tools)


@pytest.mark.parametrize(
    ("path", "top1_floor", "top3_floor"),
    [(TUNING2, TOP1_FLOOR2, TOP3_FLOOR2), (TUNING3, TOP1_FLOOR3, TOP3_FLOOR3)],
    ids=["tuning2", "tuning3"],
)
def test_search_ranks_the_right_tool_first_on_the_fresh_sets(path: Path, top1_floor: float, top3_floor: float) -> None:
    found = requests(path)
    names = [ranked(r["q"]) for r in found]
    top1 = sum(bool(n) and n[0] in r["accept"] for n, r in zip(names, found, strict=True))
    top3 = sum(bool(set(n) & set(r["accept"])) for n, r in zip(names, found, strict=True))
    count = len(found)
    print(f"\nsearch quality ({path.stem}): top-1 {top1}/{count} ({top1 / count:.3f}), top-3 {top3}/{count}")
    assert top3 >= top3_floor * count
    assert top1 >= top1_floor * count


def test_search_ranks_the_right_tool_first() -> None:
    found = requests()
    top1 = top3 = 0
    misses = {}
    for request in found:
        names = ranked(request["q"])
        top1 += names[:1] != [] and names[0] in request["accept"]
        top3 += bool(set(names) & set(request["accept"]))
        if not set(names) & set(request["accept"]):
            misses[request["q"]] = names
    count = len(found)
    print(f"\nsearch quality: top-1 {top1}/{count} ({top1 / count:.3f}), top-3 {top3}/{count} ({top3 / count:.3f})")
    assert {q: ranked(q)[0] for q in MUST_BE_FIRST} == MUST_BE_FIRST
    assert top3 >= TOP3_FLOOR * count, misses
    assert top1 >= TOP1_FLOOR * count


# --- @handle: the account by username


@pytest.mark.parametrize(
    ("query", "handles"),
    [("look up @nasa", 1), ("https://x.com/jack", 1), ("look up @jack, @sama and @naval", 3), ("mail@example.com", 0)],
)
def test_handles_and_profile_urls_are_counted(query: str, handles: int) -> None:
    assert parse(query).handles == handles


@pytest.mark.parametrize(
    "query",
    ["find the account @elonmusk and show its bio", "look up @nasa", "https://x.com/jack", "is @github verified"],
)
def test_a_handle_alone_asks_for_the_user_by_username(query: str) -> None:
    assert ranked(query)[0] == "getUsersByUsername"


def test_a_handle_with_a_task_ranks_the_task_then_the_lookup() -> None:
    assert ranked("who follows @jack")[0] == "getUsersFollowers"
    assert "getUsersByUsername" in ranked("who follows @jack")
    assert ranked("look up @jack, @sama and @naval")[0] == "getUsersByUsernames"


def test_a_handle_in_a_search_is_a_filter_not_a_lookup() -> None:
    assert ranked("tweets from @nasa about mars")[0] in ("searchPostsRecent", "searchPostsAll")


def test_a_figure_of_a_handle_is_in_its_profile() -> None:
    assert ranked("how many followers does @BarackObama have")[0] == "getUsersByUsername"


# --- me, my, I: the authenticated user's endpoints


@pytest.mark.parametrize(
    ("query", "me"),
    [("my bookmarks", True), ("who am I logged in as", True), ("I need the ID of @jack", False), ("mute @x", False)],
)
def test_first_person_is_recognised(query: str, me: bool) -> None:
    assert parse(query).me is me


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("who am I logged in as", "getUsersMe"),
        ("whoami", "getUsersMe"),
        ("show my profile", "getUsersMe"),
        ("list my followers", "getUsersFollowers"),
        ("people I follow", "getUsersFollowing"),
        ("the block list of the authenticated user", "getUsersBlocking"),
        ("my recent tweets", "getUsersPosts"),
        ("trends picked for me", "getTrendsPersonalizedTrends"),
    ],
)
def test_first_person_finds_the_authenticated_users_endpoints(query: str, first: str) -> None:
    assert ranked(query)[0] == first


def test_without_first_person_the_me_only_endpoints_step_back() -> None:
    assert ranked("what's trending in London")[0] == "getTrendsByWoeid"


# --- numbers: post IDs, other IDs, counts


@pytest.mark.parametrize(
    ("query", "post_id"),
    [
        ("delete tweet 1460323737035677698", True),
        ("1460323737035677698", True),
        ("show me https://x.com/jack/status/20", True),
        ("user with id 2244994945", False),
        ("members of list 1234", False),
        ("last 5 posts from @jack", False),
        ("find tweets about bitcoin from 2015", False),
    ],
)
def test_post_ids_are_told_from_other_numbers(query: str, post_id: bool) -> None:
    assert parse(query).post_id is post_id


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("1460323737035677698", "getPostsById"),
        ("show me this tweet: https://x.com/jack/status/20", "getPostsById"),
        ("how many likes does tweet 1790000000000000001 have", "getPostsById"),
        ("user with id 2244994945", "getUsersById"),
        ("remove user 12 from list 34", "removeListsMemberByUserId"),
    ],
)
def test_ids_lead_to_the_endpoints_on_what_they_identify(query: str, first: str) -> None:
    assert ranked(query)[0] == first


# --- people's words, verbs and typos


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("retweet 1790123456789012345", "repostPost"),
        ("undo my retweet of 1790123456789012345", "unrepostPost"),
        ("fav this post", "likePost"),
        ("my DMs", "getDirectMessagesEvents"),
        ("reply to tweet 1790123456789012345 with thanks!", "createPosts"),
        ("quote tweets of a post", "getPostsQuotedPosts"),
        ("who liked this tweet", "getPostsLikingUsers"),
        ("tweets liked by a user", "getUsersLikedPosts"),
    ],
)
def test_old_words_and_the_leading_verb(query: str, first: str) -> None:
    assert ranked(query)[0] == first


def test_typos_one_letter_away_are_mended_and_names_are_not() -> None:
    spelling = served()[0].spelling
    assert spelling is not None
    assert [spelling.correct(w) for w in ("follwers", "bookmakrs", "retweeet", "twet")] == [
        "followers",
        "bookmarks",
        "retweet",
        "tweet",
    ]
    assert spelling.correct("openai") == "openai"  # a topic, not the OpenAPI spec
    assert ranked("show me my follwers")[0] == "getUsersFollowers"


# --- what else a request carries (issue 16 part 2: general rules, each on requests in neither set)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("search posts about rust excluding retweets and replies", "searchPostsRecent"),
        ("find tweets about the match without retweets", "searchPostsRecent"),
    ],
)
def test_what_a_request_leaves_out_is_no_term(query: str, first: str) -> None:
    assert "repost" not in parse(query).terms
    assert ranked(query)[0] == first


@pytest.mark.parametrize(
    ("query", "first"),
    [("was post 1790123456789012345 deleted", "getPostsById"), ("did I bookmark tweet 1790123456789012345", None)],
)
def test_a_yes_no_question_reads_a_state(query: str, first: str | None) -> None:
    assert parse(query).question
    index, tools = served()
    top = index.search(query, tools, limit=1)[0][0]
    assert tools[top].plan.method == "GET"
    assert first is None or top == first


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("what are people saying about my podcast", "searchPostsRecent"),
        ("who is talking about the new stadium", "searchPostsRecent"),
        ("posts about the olympics", "searchPostsRecent"),
        ("all posts ever written about the olympics", "searchPostsAll"),
        ("posts mentioning #olympics", "searchPostsRecent"),
    ],
)
def test_a_topic_is_a_search_of_the_last_seven_days_unless_older_is_asked(query: str, first: str) -> None:
    assert ranked(query)[0] == first


@pytest.mark.parametrize(
    "query",
    ["replies under tweet 1790123456789012345", "the thread for post 1790123456789012345", "comments on this post"],
)
def test_the_replies_to_a_post_are_a_conversation_search(query: str) -> None:
    assert ranked(query)[0] in ("searchPostsRecent", "searchPostsAll")


@pytest.mark.parametrize(
    ("query", "refs"),
    [
        ("unfollow 98765", {"user"}),
        ("these ids: 12345, 67890", {"user"}),
        ("spaces @nasa hosts", {"user"}),
        ("list feed 1234", {"list"}),
        ("delete status 1790123456789012345", {"post"}),
        ("like 1790123456789012345", set()),
        ("top 500 posts", set()),
    ],
)
def test_what_an_id_is_of(query: str, refs: set[str]) -> None:
    assert parse(query).refs == refs


def test_what_a_tools_ids_are_of_comes_from_its_path_and_required_arguments() -> None:
    index, _ = served()
    assert index.traits["removeListsMemberByUserId"].id_of == {"list", "user"}
    assert index.traits["getUsersByIds"].id_of == {"user"}
    assert index.traits["getSpacesByCreatorIds"].id_of == {"user"}
    assert index.traits["getTrendsByWoeid"].id_of == {"woeid"}


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("unfollow 98765", "unfollowUser"),
        ("what is the username of user 2244994945", "getUsersById"),
        ("who created list 1234", "getListsById"),
        ("show compliance job 99", "getComplianceJobsById"),
        ("who are my newest followers", "getUsersFollowers"),
        ("list feed 1234", "getListsPosts"),
    ],
)
def test_ids_and_what_they_are_of_pick_the_endpoint(query: str, first: str) -> None:
    assert ranked(query)[0] == first


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("open my conversation with user 777 and send 'on my way'", "createDirectMessagesByParticipantId"),
        ("post a tweet saying our api usage page is down", "createPosts"),
        ("When you have a moment, show my bookmarks", "getUsersBookmarks"),
        ("tweet counts for bitcoin this week", "getPostsCountsRecent"),
    ],
)
def test_what_to_write_is_content_and_context_is_not_the_ask(query: str, first: str) -> None:
    assert ranked(query)[0] == first


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("real-time stream of posts about the match", "streamPosts"),
        ("10% sample of posts", "streamPostsSample10"),
        ("hourly volume of posts about bitcoin", "getPostsCountsRecent"),
    ],
)
def test_streams_and_counts_when_asked_for(query: str, first: str) -> None:
    assert ranked(query)[0] == first


def test_more_than_a_page_offers_the_collection_tool() -> None:
    request = parse("fetch the last 2000 posts about solar power")
    assert request.many and request.ids == 0
    assert "collect_x_api" in ranked("fetch the last 2000 posts about solar power", limit=2)
    assert "collect_x_api" not in ranked("fetch the last 20 posts about solar power")


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("news about tesla", "searchNews"),
        ("new posts about tesla", "searchPostsRecent"),
        ("undo that tweet 1790123456789012345", "deletePosts"),
        ("shut up @brand", "muteUser"),
        ("any audio chats about jazz", "searchSpaces"),
        ("how many post reads have we got left", "getUsage usage_x_api"),
        ("what's @sama's pinned tweet", "getUsersByUsername"),
    ],
)
def test_peoples_phrases_in_the_spec_s_words(query: str, first: str) -> None:
    assert ranked(query)[0] in first.split()


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("how many stream rules do I have", "getRuleCounts"),
        ("un-like 1790123456789012345", "unlikePost"),
        ("retweeters of 1790123456789012345", "getPostsRepostedBy"),
        ("which lists am I in", "getUsersListMemberships"),
        ("dm history with user 4242", "getDirectMessagesEventsByParticipantId"),
        ("message conversation 12-34 with 'see you'", "createDirectMessagesByConversationId"),
        ("headlines about the housing market", "searchNews"),
        ("stop the streams", "deleteAllConnections"),
        ("start listening for posts about the outage", "updateRules streamPosts"),
        ("reply to @bob's tweet 1790123456789012345 saying thanks", "createPosts"),
        ("why did my stream disconnect", "getConnectionHistory"),
        ("let user 777 message me", "unblockUsersDms"),
        ("what's happening in the world", "getTrendsByWoeid getTrendsPersonalizedTrends"),
        ("correct a typo in post 1790123456789012345", "createPosts"),
        ("how many people retweeted 1790123456789012345", "getPostsById"),
    ],
)
def test_more_ways_people_ask(query: str, first: str) -> None:
    assert ranked(query)[0] in first.split()


def test_everyday_words_are_not_mended_into_tool_words() -> None:
    spelling = served()[0].spelling
    assert spelling is not None
    words = english_words()
    assert 15_000 < len(words) < 30_000 and english_words() is words  # loaded once, from the package
    assert {"report", "three", "black", "places", "sent", "alive", "remote"} <= words
    assert [spelling.correct(w) for w in ("report", "three", "places", "remote", "follwers")] == [
        "report",
        "three",
        "places",
        "remote",
        "followers",
    ]
    assert ranked("pull every tweet from 2019 for a report") == ranked("pull every tweet from 2019 for a report")
    assert "repost" not in parse("pull tweets for a report", spelling).terms


# --- wp-search3: more general rules, each on requests in none of the sets


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("any tweets frm @nasa abt the launch", "searchPostsRecent"),  # chat shorthand
        ("setup a webhook for me", "createWebhooks"),  # "set up" creates
        ("what is everybody posting about today", "getTrendsByWoeid getTrendsPersonalizedTrends"),  # no topic: trends
        ("who's trending in canada", "getTrendsByWoeid"),
        ("posts about the solar eclipse from the past 3 weeks", "searchPostsAll"),  # more than 7 days: the archive
        ("tweet counts for electric cars over the last 60 days", "getPostsCountsAll"),
        ("how many times was post 1790000000000000123 liked", "getPostsById"),  # a figure of the post
        ("subscribe user 42 to webhook 9876", "createAccountActivitySubscription"),  # creating a subscription
        ("fetch tweets 1790000000000000001 and 1790000000000000002", "getPostsByIds"),  # several IDs
        ("compliance job status 1790000000000000777", "getComplianceJobsById"),  # the job's status, not a post
        ("follow natgeo", "followUser"),  # a List's tool only when a list is named
        ("whos folowing @nasa", "getUsersFollowers"),  # typos mended before the phrases
        ("who is speaking in that space 1abcdefghij", "getSpacesById"),
        ("unsave tweet 1790000000000000321", "deleteUsersBookmark"),
        ("rate note 1790000000000000321 as helpful", "evaluateCommunityNotes"),
        ("who is user 987654", "getUsersById"),  # "who is X": X's profile
        ("leave list 1234567", "unfollowList"),
        ("accounts that follow @nasa", "getUsersFollowers"),
        ("lists @natgeo follows", "getUsersFollowedLists"),
        ("what lists does user 2244994945 follow", "getUsersFollowedLists"),
        ("posts by @nasa mentioning artemis", "searchPostsRecent"),  # a topic after "mentioning": a search
        ("post a thread of 4 tweets about our launch", "createThread"),  # "of 4 tweets" is no post ID
        ("has anyone replied to post 1790000000000000444", "searchPostsRecent searchPostsAll"),
        ("lists we're on", "getUsersListMemberships"),
        ("batch compliance for user ids", "getComplianceJobs createComplianceJobs"),
        ("send @carol the photo", "createDirectMessagesByParticipantId"),  # sending to a person: a DM
        ("my stream keeps dropping", "getConnectionHistory"),
        ("check whether tweet 1790000000000000123 was deleted", "getPostsById"),  # a yes/no question
        ("how much is the x api costing me", "usage_x_api getUsage"),
        ("personal trending topics", "getTrendsPersonalizedTrends"),
        ("download media from dm 1790000000000000999", "getDirectMessagesEventsById"),  # XChat's only when named
        ("which tweets has user 2244994945 retweeted", "getUsersPosts"),  # a user's reposts are on its timeline
        ("what's up with the housing market", "searchPostsRecent"),
        ("post 1790000000000000123", "getPostsById"),  # "post <ID>": the post named, not one to write
        ("tweet 1790000000000000123 analytics", "getPostsAnalytics"),
        ("posts near the eiffel tower", "searchPostsRecent"),  # a place is a topic
        ("can I see retweets with comments on my post 1790000000000000123", "getPostsQuotedPosts"),
        ("quote retweets of 1790000000000000123", "getPostsQuotedPosts"),
        ("who runs https://twitter.com/i/communities/1498765432109876543", "getCommunitiesById"),  # the URL's thing
        ("I'm curious how many people have bookmarked 1790000000000000123", "getPostsById"),  # the post's figure
        ("notify me whenever someone tweets about our outage", "streamPosts"),  # an alert: a stream
        ("I was wondering what's trending in france", "getTrendsByWoeid"),  # "I was wondering": the asker
        ("Get a user's tweets", "getUsersPosts"),  # the possessor is not what is asked for
        ("Get a user's liked tweets", "getUsersLikedPosts"),
        ("who keeps retweeting me", "getUsersRepostsOfMe"),  # reposts of me, whoever made them
    ],
)
def test_general_rules_of_wp_search3(query: str, first: str) -> None:
    assert ranked(query)[0] in first.split()


def test_the_posts_of_a_lists_members_and_of_a_space_are_on_offer() -> None:
    assert "getListsPosts" in ranked("latest tweets from the people in my Designers list", limit=2)
    assert "getSpacesPosts" in ranked("what did the speakers say in space 1abcdefghij", limit=2)
    assert parse("compliance job status 1790000000000000777").refs == {"job"}
    assert parse("members of https://x.com/i/lists/1234567890123456789").refs == {"list"}
    assert parse("https://x.com/i/spaces/1YqKDqWqdPLsV").refs == {"spac"}  # a stem, as the index has it
