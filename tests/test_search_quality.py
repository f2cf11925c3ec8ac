"""search_x_api must put the right tool first for plain-language requests (reported: top-1 / top-3)."""

from __future__ import annotations

from tests.conftest import catalog_for
from xapi_mcp.tools.discovery import SearchIndex
from xapi_mcp.tools.workflows import upload_tool

QUERIES = {
    "who follows @jack": "getUsersFollowers",
    "post a tweet with a poll": "createPosts",
    "recent tweets about AI": "searchPostsRecent",
    "my bookmarks": "getUsersBookmarks",
    "mute a user": "muteUser",
    "unmute someone": "unmuteUser",
    "follow a user": "followUser",
    "unfollow an account": "unfollowUser",
    "like a tweet": "likePost",
    "unlike a post": "unlikePost",
    "retweet a post": "repostPost",
    "undo a retweet": "unrepostPost",
    "delete my tweet": "deletePosts",
    "look up a user by username": "getUsersByUsername",
    "get my own profile": "getUsersMe",
    "who am I following": "getUsersFollowing",
    "search the full archive of tweets": "searchPostsAll",
    "count recent tweets about bitcoin": "getPostsCountsRecent",
    "send a direct message to a user": "createDirectMessagesByParticipantId",
    "read my direct messages": "getDirectMessagesEvents",
    "create a list": "createLists",
    "add a member to a list": "addListsMember",
    "posts in a list": "getListsPosts",
    "trends for a location woeid": "getTrendsByWoeid",
    "get a tweet by id": "getPostsById",
    "who liked this tweet": "getPostsLikingUsers",
    "who retweeted a post": "getPostsRepostedBy",
    "quote tweets of a post": "getPostsQuotedPosts",
    "upload an image": "uploadMedia",
    "bookmark a tweet": "createUsersBookmark",
    "remove a bookmark": "deleteUsersBookmark",
    "hide a reply": "hidePostsReply",
    "tweets that mention me": "getUsersMentions",
    "my home timeline": "getUsersTimeline",
    "tweets posted by a user": "getUsersPosts",
    "search spaces": "searchSpaces",
    "api usage": "getUsage",
    "who do I mute": "getUsersMuting",
    "search users": "searchUsers",
    "pin a list": "pinList",
    # Added after the ranking was tuned on the ones above, to check it was not fitted to them.
    "get followers of a user": "getUsersFollowers",
    "lists I own": "getUsersOwnedLists",
    "delete a list": "deleteLists",
    "search recent posts": "searchPostsRecent",
    "get a user by id": "getUsersById",
    "tweets liked by a user": "getUsersLikedPosts",
    "unpin a list": "unpinList",
    "members of a list": "getListsMembers",
    "my muted accounts": "getUsersMuting",
    "who reposted this": "getPostsRepostedBy",
    "reply to a tweet": "createPosts",
    "quote a tweet": "createPosts",
    "my mentions": "getUsersMentions",
    "my likes": "getUsersLikedPosts",
    "followers of @elon": "getUsersFollowers",
    "upload a video": "uploadMedia",
    "block dms from a user": "blockUsersDms",
    "my lists": "getUsersOwnedLists",
    "posts from a list": "getListsPosts",
    "look up tweets by ids": "getPostsByIds",
    "follow a list": "followList",
    "people I follow": "getUsersFollowing",
    "users who follow me": "getUsersFollowers",
    "my direct messages": "getDirectMessagesEvents",
    "delete a direct message": "deleteDirectMessagesEvents",
    "like this post": "likePost",
    "recent posts count": "getPostsCountsRecent",
}
# The examples the discovery profile was designed around: these must come first.
MUST_BE_FIRST = (
    "who follows @jack",
    "post a tweet with a poll",
    "recent tweets about AI",
    "my bookmarks",
    "mute a user",
)


def ranks() -> dict[str, int]:
    tools = dict(catalog_for("2.159").tools)
    upload = upload_tool(tools)
    assert upload is not None
    tools[upload.name] = upload
    index = SearchIndex.build(tools)
    out = {}
    for query, expected in QUERIES.items():
        names = [name for name, _ in index.search(query, tools, limit=25)]
        out[query] = names.index(expected) + 1 if expected in names else 99
    return out


def test_search_ranks_the_right_tool_first() -> None:
    assert len(QUERIES) >= 30
    result = ranks()
    top1 = sum(1 for r in result.values() if r == 1)
    top3 = sum(1 for r in result.values() if r <= 3)
    misses = {q: r for q, r in result.items() if r > 3}
    print(f"\nsearch quality: top-1 {top1}/{len(QUERIES)}, top-3 {top3}/{len(QUERIES)}; outside top 3: {misses}")
    assert {q: result[q] for q in MUST_BE_FIRST} == dict.fromkeys(MUST_BE_FIRST, 1)
    assert top3 == len(QUERIES), misses
    assert top1 >= 0.8 * len(QUERIES)
