"""Whole phrases of people's requests rewritten in the words search_x_api ranks with.

Applied to a request before its words are read (request.py), in this order: "who am I" is the
authenticated user, "stop following" is unfollow, "undo that post" is a delete, "the replies to a
post" a search of its conversation, "from the people I follow" the home timeline, "how many" a
count... A phrase names a general way of asking, never one request.
"""

from __future__ import annotations

import re
from functools import lru_cache

_SELF = " myself "  # what the phrases below put for "the account I am": the authenticated user itself
_PHRASES = (
    (r"\b(?:abt|bout)\b", " about "),  # chat shorthand: "tweets frm elon abt spacex"
    (r"\bfrm\b", " from "),
    (r"\bppl\b", " people "),
    (r"\bmsg(s?)\b", r" message\1 "),
    (r"\bset\s*up\b", " create "),  # "set up a webhook": create one
    (r"\b(?:re)?tweet(s?)\s+with\s+(?:a\s+)?comments?\b", r" quote\1 "),  # "retweets with comments": quotes
    (r"\bwhos\b", " who is "),  # "whos following me"
    (r"\brate\s+limits?\b", " limit "),  # a rate limit is usage, not a rating
    (r"\bbatch\s+compliance\b", " compliance job "),  # X's batch compliance is its compliance jobs
    (r"^\s*send\s+(?=0h|user\s+\d)", " dm "),  # "send @bob a picture": to a person, a direct message
    # a stream that drops, dies or stops: a disconnection ("why did my stream drop")
    (
        r"\b(streams?|connections?)\s+(?:keeps?\s+|kept\s+)?(?:drop\w*|died|dies|dying|cut\s+out|went\s+down|crash\w*)",
        r" \1 disconnect ",
    ),
    # what was said in a Space: the posts shared in it
    (
        r"\b(?:what|things?)\s+(?:did\s+|do\s+|have\s+)?(?:the\s+)?(?:people|they|speakers|hosts|folks|everyone|users)\s+"
        r"(?:say|said|post|posted|share|shared|tweet|tweeted)\s+(?:in|during|at)\s+(?=(?:the\s+|this\s+|that\s+)?spaces?\b)",
        " posts shared in ",
    ),
    (r"^\s*who\s+(?:is|are)\s+(?=(?:user\s+)?(?:0h|\d+)\s*[?.!]*$)", " show user "),  # "who is user 12": the profile
    (r"\bleave\s+(?:the\s+|this\s+|that\s+|my\s+)?(list|community)\b", r" unfollow \1 "),  # leave a List
    (r"\b(?:people|users|accounts|everyone|anyone|folks)\s+(?:that|who)\s+follows?\b", " followers of "),
    (r"\blists?\s+(?:does\s+|do\s+|did\s+)?(0h|user\s+\d+)\s+follows?\b", r" lists followed by \1 "),  # @x's lists
    (r"\bwho\s+(?:is\s+)?trending\b", " trending "),  # "who's trending": what is
    (r"\b(?:show|tell|give|get|find|fetch|list)\s+me\b(?=\s*\w)", r" show "),
    (r"^\s*(?:send\s+a\s+)?direct\s+message\s+(?=0h|user|\d)", " dm "),
    (r"\bwho\s*am\s*i\b(?!\s+\w+ing\b)|\bwhoami\b", _SELF),
    (r"\b(?:this|my|the)\s+token\b", _SELF),
    (r"\b(?:the\s+)?(?:current|authenticated|logged[- ]in|signed[- ]in)\s+(?:user|account)\b", " me "),
    (r"\b(?:logged|signed)\s+in(?:to)?\b", " me "),
    (r"\b(?:pull|bring|look)\s+up\b", " show "),
    (r"\b(?:i|we)\s+(?:would\s+)?like\s+to\b", " "),
    # "I was wondering ...", "I'm curious ...": the asker, not the authenticated user's things
    (r"\b(?:i|we)\s+(?:am\s+|was\s+|were\s+|are\s+)?(?:just\s+)?(?:curious|wondering|trying|hoping|looking)\b", " "),
    (r"\b(?:a|the)\s+list\s+of\b", " "),
    (r"\bmy\s+own\b", " my "),
    (r"\b(?:my|our)\s+(?:(?:recent|latest|last|old|\d+)\s+)*(?:tweet|post)s?\b", " my authored posts "),
    (r"\b(?:timeline|tl)\s+(?:of|for|from)\s+(?=0h|user|list|\d)", " posts of "),
    (r"\b(0h|user\s+\d+)\s+(?:timeline|tl)\b", r" authored posts \1 "),  # "@paulg's timeline": @paulg's posts
    (r"\blist\s+(?:timeline|tl|feed)\b", " posts of list "),  # a list's timeline is its posts
    (r"\b(?:talking|replying|reply|replies|responding|responses)\s+to\s+me\b", " mention me "),
    (r"\btake\s+back\b|\bwithdraw\b|\bretract\b|\brevoke\b", " undo "),
    (r"\bundo\s+(?:my|the|a|that|this)?\s*(?:(?:last|latest|previous|recent)\s+)?(?:tweet|post)\b", " delete post "),
    (r"\bundo\s+(?:my\s+|the\s+|a\s+|that\s+)?(like|retweet|repost|follow|mute|bookmark|pin)\b", r" un\1 "),
    (r"\bturn\s+off\b|\bdisable\b", " block "),
    (r"\bhow\s+often\b", " count "),
    (
        r"\bhistogram\b|\bvolume\b|\bper\s+(?:minute|hour|day)\b|\b(?:hourly|daily)\s+(?:counts?|numbers?|totals?)\b",
        " count ",
    ),
    # the replies under a post, its thread: a search for its conversation_id
    (
        r"\b(?:replies|responses|comments)\b(?:\s+(?:people|users|folks|everyone)\s+(?:left|posted|wrote|made))?"
        r"\s+(?:to|on|under|below|of|for)\b|\b(?:has\s+|have\s+)?(?:replied|responded|commented)\s+(?:to|on|under)\b|\b(?:conversation|thread)\s+(?:for|of|under|on|from|starting\s+(?:at|with))\b"
        r"(?=\s+(?:the\s+|this\s+|that\s+|my\s+)?(?:tweet|post|status|\d{4}))",  # "a thread of 3 tweets": no ID
        " replies search of ",
    ),
    # what people talk about with no topic named (at most a time): what is trending
    (
        r"\b(?:what|who)\s+(?:is\s+|are\s+)?(?:people|everyone|everybody|users|folks)\s+(?:talking|tweeting|posting|chatting)"
        r"\s+about(?:\s+(?:right\s+now|now|today|lately|these\s+days|at\s+the\s+moment|on\s+(?:x|twitter)))*\s*[?.!]*$",
        " trending ",
    ),
    # "who is talking about X", "what are people saying about X": the posts about X, by anyone
    (
        r"\b(?:who|people|everyone|anyone|users|folks)\s+(?:is\s+|are\s+)?(?:talking|saying|posting|tweeting|chatting|discussing)"
        r"\s+(?=about|on\b|regarding)",
        " posts ",
    ),
    (
        r"\b(?:latest|posts|tweets|updates|stuff|news|everything|anything|what)\s+(?:\w+\s+)?from\s+(?:the\s+)?"
        r"(?:people|accounts|users|folks)\s+(?:that\s+|who\s+)?(?:i|we)\s+follow\b"
        r"|\b(?:people|accounts|users|folks)\s+(?:that\s+|who\s+)?(?:i|we)\s+follow\s+(?:are\s+)?(?:posting|tweeting|saying)\b",
        " home timeline ",
    ),  # what the accounts I follow post: the home timeline, not the accounts
    (r"(?<!list )(?<!lists )\b(?:i|we)\s+(?:am\s+|are\s+)?follow(?:ing)?\b", " me following "),
    (r"\b(?:people|users|accounts|everyone|anyone|who(?:\s+is|\s+are)?)\s+following\b", " followers "),
    (r"\b(follower|following|block|mute|friend)s?\s+list\b", r" \1 "),
    (r"\b(?:who(?:\s+is|\s+are)?|people|users|everyone)\s+(?:in|on)\s+(?=(?:\w+\s+)?list)", " members "),
    (r"\b(?:been\s+)?added\s+to\b", " member of "),
    (r"\bmake\s+(my|our|the|this|that|it)\b", r" update \1 "),
    (r"\b(?:add|put|place|include)\s+(?:0h|users?|accounts?|people|someone|members?)\b", " add member "),
    (r"\btake\s+(.+?)\s+off\b", r" remove \1 from "),
    (r"\b(?:remove|delete|kick|drop)\s+(0h|users?\s+\d+|me|myself)\s+(?:from|off)\b", r" remove member \1 from "),
    (r"\bstop\s+(?:getting|receiving)\b", " block "),  # "stop getting DMs from @x": block them
    (r"\bstop\s+(?:the\s+|my\s+|all\s+)*(?:streams?|streaming|connections?)\b", " terminate connections "),
    (r"\bstart\s+(?:listening|watching|monitoring|tracking|streaming)\b", " stream "),
    (r"\b(?:alert|notify|ping|tell)\s+(?:me|us)\s+(?:when|whenever|as\s+soon\s+as)\b", " stream "),  # as it happens
    (r"\bconnect\s+(.{1,40}?)\s+to\s+(?:my\s+|the\s+|a\s+)?webhook\b", r" create link \1 to webhook "),
    (r"\b(?:re)?tweeters\b|\breposters\b", " users who reposted "),  # people: who, not the reposts
    (r"\blikers\b", " users who liked "),
    (r"\blists?\s+(?:am\s+i|are\s+we|i(?:\s+am)?|we(?:\s+are)?)\s+(?:on|in)\b", " lists me member of "),
    (r"\blists?\s+is\s+(0h|user\s+\d+)\s+(?:on|in)\b", r" lists \1 member of "),
    (r"\bnear\s+me\b", " nearby "),
    (r"\bwhat\s+(?:is\s+)?happening\b", " trending "),  # "what's happening in the world": trends
    # the posts of the accounts in a list: the list's posts ("new posts from the people in my AI list")
    (
        r"\b(posts|tweets|updates)\s+(?:from|by)\s+(?:the\s+)?(?:accounts|people|users|members|folks)\s+(?:in|on)\s+"
        r"(?=(?:(?:my|our|the|a|this|that)\s+)?(?:\w+\s+)?lists?\b)",
        r" \1 of ",
    ),
    (r"\bvoice\s+(?:note|memo|message|clip)s?\b", " voice media "),
    (r"\b(?:does|do|did)\s+(user\s+\d+|\S+)\s+follow\b", r" \1 following "),
    (r"\bspaces\s+(?:by|from|of)\s+(?=0h|\d|user)", " spaces creator "),  # "spaces by 2244994945": its creator's
    (r"\bstop\s+(\w+?)ing\b", r" un\1 "),
    (r"\bstop\s+\S+\s+from\b", " block "),
    (r"\blet\s+(user\s+\d+|\S+)\s+(?:send|dm|message)\b", r" unblock \1 dm "),
    (r"\b(?:tweets|posts)\s+(?:from|by)\s+(0h|user\s+\d+)\b", r" authored posts \1 "),
    (r"\b0h\s+(?:(?:latest|recent|last|newest|own)\s+)*(?:tweets|posts)\b", " authored posts 0h "),
    (r"\b(0h|user\s+\d+)\s+(?:has\s+)?(?:tweeted|posted|wrote)\b", r" authored posts \1 "),
    (r"\b(?:has|did)\s+(0h|user\s+\d+)\s+(?:tweeted|posted|written|wrote|tweet|post)\b", r" authored posts \1 "),
    (r"\b(?:retweet|repost|quote)(?:s|ed|ing)?\s+(?:me|my\s+(?:stuff|things|content))\b", " reposts of myself "),
    # the posts a user reposted are on that user's timeline of posts
    (
        r"\b(?:posts|tweets)\s+(?:that\s+)?(?:did\s+|has\s+|have\s+)?(0h|user\s+\d+)\s+(?:has\s+)?(?:re-?posted|re-?tweeted|repost|retweet)\b",
        r" authored posts \1 ",
    ),
    (r"\bwhat\s+(?:is\s+)?up\s+with\b", " posts about "),  # "what's up with the stock market": posts about it
    (
        r"\bdid\s+(?:i|we)\s+(?:tweet|post|write|say)\b|\b(?:what|everything|anything|all|things|stuff)\s+(?:that\s+)?(?:i|we)\s+(?:have\s+)?(?:posted|tweeted|wrote)\b",
        " my authored posts ",
    ),
    (r"\bpinned\s+(?:tweet|post)s?\b", " profile "),  # a user's pinned post is in the profile (pinned_tweet_id)
    (r"\bshare\s+(?:this|that|the|his|her|their|0h)\s+(?:tweet|post)\b", " repost post "),  # sharing a post reposts it
    # who wrote a post, hosts a Space, made a list: a field of that thing's lookup
    (
        r"\bwho\s+(?:is\s+|was\s+)?(?:wrote|posted|tweeted|authored|made|created|owns|hosts|hosting|hosted|sent|speaking)\b",
        " show ",
    ),
    (r"\b(?:asked|told|wants?|needs?)\s+(?:me|us)\s+to\b", " "),  # "my boss asked me to pull ...": the task is the pull
    (r"\bquote\s+re-?tweet(s?)\b", r" quote\1 "),
    (r"\b(tweet|post)s?\s+(volume|counts?|stats|metrics|analytics|impressions|engagement)\b", r" \2 \1s "),
    (r"\b(?:do\s+not|never)\s+want\s+to\s+see\b|\bstop\s+seeing\b|\bshut\s+up\b", " mute "),
    (r"\b(?:have|has|is|are|am)\s+(?:i\s+|we\s+)?(?:got\s+)?left\b", " usage remaining "),
    (r"\bgroup\s+(?:chat|dm|message|conversation|convo)s?\b", " group direct message conversation "),
    (r"\baudio\s+(?:chat|room|session|conversation)s?\b", " space "),
    (r"^\s*slide\s+into\s+(\S+)\s+dms\b", r" dm \1 "),
    (r"\bmake\s+(?!a\s|an\s|new\s)(.{1,40}?)\s+(private|public)\b", r" update \1 \2 "),
    (r"\btake\s+down\b|\bget\s+rid\s+of\b", " delete "),
    (r"\balt\s+text\b", " metadata "),
    (r"\bhow\s+many\b|\bnumber\s+of\b|\bvolume\s+of\b", " count "),
    (r"\bright\s+now\b", " now "),
    (r"\breal[\s-]*time\b|\bas\s+(?:it|they)\s+happens?\b", " real stream "),
    (r"\blive\s+(?:feed|updates?|view)\b", " stream "),
)


@lru_cache(maxsize=1)
def phrases() -> list[tuple[re.Pattern[str], str]]:
    """`_PHRASES` compiled, on the first search: a server without search_x_api never pays for it."""
    return [(re.compile(pattern), replacement) for pattern, replacement in _PHRASES]
