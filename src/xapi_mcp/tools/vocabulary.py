"""The words of search_x_api: tool words and people's words as one set of index terms.

X's spec and the people who ask use different words for one thing: the spec says post, repost,
direct message; people say tweet, retweet, DM, fav, follower, "who am I". `stem` folds word forms
and X's old and new words into one term (`_CANON`); `SYNONYMS` adds the spec's words for people's
words at half weight; `phrases` rewrite whole phrases first ("who am I", "stop following"); `Spelling`
mends a typo one letter away from a known word. search.py ranks with these terms.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from xapi_mcp.tools.tooldef import ToolDef

# One concept, several words (X's old and new ones, people's and the spec's): one index term.
# Keys are stems (see `stem`).
_CANON = {
    "tweet": "post",
    "retweet": "repost",
    "rt": "repost",
    "tl": "timelin",
    "remov": "delet",
    "eras": "delet",
    "account": "user",
    "peopl": "user",
    "person": "user",
    "participant": "user",
    "fav": "lik",
    "favorit": "lik",
    "favourit": "lik",
    "heart": "lik",
    "add": "creat",
    "send": "creat",
    "dms": "dm",
    "quota": "usag",
    "cap": "usag",
    "consum": "usag",
    "consumption": "usag",
    "statistic": "stat",
    "respond": "reply",
    "answer": "reply",
    "pic": "media",
    "pictur": "media",
    "photo": "media",
    "imag": "media",
    "video": "media",
    "png": "media",
    "jpg": "media",
    "jpeg": "media",
    "mp4": "media",
    "gif": "media",
    "clip": "media",
}
# People's words -> the spec's words, added at half the weight of a typed word.
SYNONYMS = {
    "inbox": "direct message",
    "message": "direct message",
    "messages": "direct message",
    "private": "direct",
    "pm": "direct message",
    "pms": "direct message",
    "dm": "direct message",
    "dms": "direct message",
    "dming": "direct message",
    "handle": "username",
    "handles": "usernames",
    "bio": "user",
    "profile": "user",
    "who": "user",
    "whom": "user",
    "everyone": "user",
    "everybody": "user",
    "anyone": "user",
    "somebody": "user",
    "file": "media",
    "attachment": "media",
    "undo": "un",
    "remove": "un",
    "delete": "un",
    "unfavorite": "unlike",
    "allow": "unblock",
    "permit": "unblock",
    "prevent": "block",
    "forbid": "block",
    "disallow": "block",
    "ban": "block",
    "silence": "mute",
    "blocked": "blocking",
    "mentioning": "search query",
    "containing": "search query",
    "find": "search",
    "discover": "search",
    "saved": "bookmark",
    "save": "bookmark",
    "write": "create",
    "compose": "create",
    "draft": "create",
    "publish": "create",
    "make": "create",
    "start": "create",
    "propose": "create",
    "suggest": "create",
    "submit": "create",
    "put": "create",
    "share": "create repost",
    "conceal": "hide",
    "subscribe": "follow subscription",
    "subscribed": "follow subscription",
    "subscribers": "followers",
    "subscriber": "followers",
    "boost": "repost",
    "amplify": "repost",
    "shared": "repost",
    "kill": "delete terminate",
    "drop": "delete terminate",
    "close": "delete terminate",
    "end": "delete terminate",
    "disconnect": "delete terminate",
    "trash": "delete",
    "clear": "delete",
    "discard": "delete",
    "cancel": "delete",
    "kick": "delete",
    "rename": "update",
    "edit": "update",
    "change": "update",
    "modify": "update",
    "trending": "trend",
    "hot": "trend",
    "viral": "trend",
    "popular": "trend",
    "latest": "recent",
    "lately": "recent",
    "recently": "recent",
    "yesterday": "recent",
    "today": "recent",
    "now": "recent",
    "currently": "recent",
    "week": "recent",
    "days": "recent",
    "new": "recent",
    "newest": "recent",
    "historical": "all archive",
    "historically": "all archive",
    "oldest": "all archive",
    "earliest": "all archive",
    "archive": "all",
    "ever": "all archive",
    "old": "all archive",
    "years": "all archive",
    "time": "all",
    "tagged": "mention",
    "notifications": "mention",
    "feed": "timeline",
    "home": "timeline",
    "limit": "usage",
    "remaining": "usage",
    "reads": "usage",
    "pulled": "usage",
    "used": "usage",
    "spent": "usage",
    "budget": "usage",
    "stats": "analytics",
    "statistics": "analytics",
    "performance": "analytics insights",
    "metrics": "analytics insights",
    "impressions": "insights",
    "views": "insights",
    "reach": "insights",
    "engagement": "insights analytics",
    "captions": "subtitles",
    "caption": "subtitles",
    "processing": "status",
    "processed": "status",
    "encrypted": "chat",
    "xchat": "chat",
    "tickets": "buyers",
    "audio": "space",
    "hosted": "creator",
    "hosting": "creator",
    "hosts": "creator",
    "host": "creator",
    "group": "conversation",
    "month": "historical",
    "months": "historical",
    "several": "multiple",
    "many": "multiple",
    "batch": "multiple",
    "bulk": "multiple",
    "info": "details",
    "information": "details",
    "streaming": "connections",
    "live": "stream",
    "watch": "stream",
    "monitor": "stream",
}
SYNONYM = 0.5
# A leading write verb that names what it makes: "post ..." and "reply ..." create a post.
VERBS = {
    "post": "create post",
    "tweet": "create post",
    "publish": "create post",
    "compose": "create post",
    "say": "create post",
    "new": "create",
    "write": "create",
    "reply": "create post",
    "respond": "create post",
    "answer": "create post",
    "quote": "create post",
    "bookmark": "create bookmark",
    "save": "create bookmark",
    "dm": "create dm",
    "message": "create dm",
}
_SELF = " myself "  # what the phrases below put for "the account I am": the authenticated user itself
_PHRASES = (
    (r"\b(?:show|tell|give|get|find|fetch|list)\s+me\b(?=\s*\w)", r" show "),
    (r"^\s*(?:send\s+a\s+)?direct\s+message\s+(?=0h|user|\d)", " dm "),
    (r"\bwho\s*am\s*i\b(?!\s+\w+ing\b)|\bwhoami\b", _SELF),
    (r"\b(?:this|my|the)\s+token\b", _SELF),
    (r"\b(?:the\s+)?(?:current|authenticated|logged[- ]in|signed[- ]in)\s+(?:user|account)\b", " me "),
    (r"\b(?:logged|signed)\s+in(?:to)?\b", " me "),
    (r"\b(?:pull|bring|look)\s+up\b", " show "),
    (r"\b(?:i|we)\s+(?:would\s+)?like\s+to\b", " "),
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
    (r"\bhistogram\b|\bvolume\b|\bper\s+(?:minute|hour|day)\b|\b(?:hourly|daily)\s+(?:counts?|numbers?|totals?)\b", " count "),
    # the replies under a post, its thread: a search for its conversation_id
    (r"\b(?:replies|responses|comments)\b(?:\s+(?:people|users|folks|everyone)\s+(?:left|posted|wrote|made))?"
     r"\s+(?:to|on|under|below|of|for)\b|\b(?:conversation|thread)\s+(?:for|of|under|on|from|starting\s+(?:at|with))\b"
     r"(?=\s+(?:the\s+|this\s+|that\s+|my\s+)?(?:tweet|post|status|\d))", " replies search of "),
    # "who is talking about X", "what are people saying about X": the posts about X, by anyone
    (r"\b(?:who|people|everyone|anyone|users|folks)\s+(?:is\s+|are\s+)?(?:talking|saying|posting|tweeting|chatting|discussing)"
     r"\s+(?=about|on\b|regarding)", " posts "),
    (r"\b(?:latest|posts|tweets|updates|stuff|news|everything|anything|what)\s+(?:\w+\s+)?from\s+(?:the\s+)?"
     r"(?:people|accounts|users|folks)\s+(?:that\s+|who\s+)?(?:i|we)\s+follow\b"
     r"|\b(?:people|accounts|users|folks)\s+(?:that\s+|who\s+)?(?:i|we)\s+follow\s+(?:are\s+)?(?:posting|tweeting|saying)\b",
     " home timeline "),  # what the accounts I follow post: the home timeline, not the accounts
    (r"(?<!list )(?<!lists )\b(?:i|we)\s+(?:am\s+|are\s+)?follow(?:ing)?\b", " me following "),
    (r"\b(?:people|users|accounts|everyone|anyone|who(?:\s+is|\s+are)?)\s+following\b", " followers "),
    (r"\b(follower|following|block|mute|friend)s?\s+list\b", r" \1 "),
    (r"\b(?:who(?:\s+is|\s+are)?|people|users|everyone)\s+(?:in|on)\s+(?=(?:\w+\s+)?list)", " members "),
    (r"\b(?:been\s+)?added\s+to\b", " member of "),
    (r"\bmake\s+(my|our|the|this|that|it)\b", r" update \1 "),
    (r"\b(?:add|put|place|include)\s+(?:0h|users?|accounts?|people|someone|members?)\b", " add member "),
    (r"\btake\s+(.+?)\s+off\b", r" remove \1 from "),
    (r"\b(?:remove|delete|kick|drop)\s+(0h|users?\s+\d+)\s+(?:from|off)\b", r" remove member \1 from "),
    (r"\b(?:does|do|did)\s+(\S+)\s+follow\b", r" \1 following "),
    (r"\bstop\s+(\w+?)ing\b", r" un\1 "),
    (r"\bstop\s+\S+\s+from\b", " block "),
    (r"\blet\s+(\S+)\s+(?:send|dm|message)\b", r" unblock \1 dm "),
    (r"\b(?:tweets|posts)\s+(?:from|by)\s+(0h|user\s+\d+)\b", r" authored posts \1 "),
    (r"\b0h\s+(?:(?:latest|recent|last|newest|own)\s+)*(?:tweets|posts)\b", " authored posts 0h "),
    (r"\b(0h|user\s+\d+)\s+(?:has\s+)?(?:tweeted|posted|wrote)\b", r" authored posts \1 "),
    (r"\b(?:has|did)\s+(0h|user\s+\d+)\s+(?:tweeted|posted|written|wrote|tweet|post)\b", r" authored posts \1 "),
    (r"\b(?:retweeted|reposted|quoted)\s+me\b", " reposts of me "),
    (r"\bdid\s+(?:i|we)\s+(?:tweet|post|write|say)\b|\b(?:what|everything|anything|all|things|stuff)\s+(?:that\s+)?(?:i|we)\s+(?:have\s+)?(?:posted|tweeted|wrote)\b",
     " my authored posts "),
    (r"\bpinned\s+(?:tweet|post)s?\b", " profile "),
    (r"\bshare\s+(?:this|that|the|his|her|their|0h)\s+(?:tweet|post)\b", " repost post "),  # sharing a post is reposting it  # a user's pinned post is in the profile (pinned_tweet_id)
    # who wrote a post, hosts a Space, made a list: a field of that thing's lookup
    (r"\bwho\s+(?:is\s+|was\s+)?(?:wrote|posted|tweeted|authored|made|created|owns|hosts|hosting|hosted|sent)\b", " show "),
    (r"\b(?:asked|told|wants?|needs?)\s+(?:me|us)\s+to\b", " "),  # "my boss asked me to pull ...": the task is the pull
    (r"\b(?:re)?tweet\s+with\s+(?:a\s+)?comment\b|\bquote\s+retweet\b", " quote "),
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


# "how many followers does @x have", "follower count of @x": a figure of one user or post.
METRIC = re.compile(
    r"\bcount\b.*\b(?:have|has|got|get)$|\b(?:follow\w*|like|repost|retweet|view|repl\w+|tweet|post)s?\s+counts?"
    r"|\bcount\s+(?:tweets|posts)$"
)
STOP = {"a", "an", "the", "of", "to", "for", "from", "by", "with", "on", "in", "at", "as", "and", "or", "is", "are"}
STOP |= {"be", "do", "does", "can", "this", "that", "it", "all", "some", "someone", "am", "have", "has", "was"}
STOP |= {"please", "want", "x", "these", "those", "there", "any", "its", "their", "his", "her", "your", "just"}
STOP |= {"api", "show", "get", "what", "whats", "which", "me", "twitter", "been", "being", "were", "will", "into"}
STOP |= {"you", "u", "pls", "plz", "kindly", "out"}
FIRST_PERSON = {"my", "mine", "me", "i", "myself", "our", "ours", "we", "authenticated"}
DETERMINERS = {"a", "an", "the", "my", "our", "your", "his", "her", "their", "all", "every", "this", "these"}
POLITE = {"please", "can", "could", "would", "you", "i", "want", "to", "go", "ahead", "and", "help", "need", "lets"}
POLITE |= {"hit", "smash", "press", "click", "tap", "just", "now", "then", "ok", "okay", "hey", "pls", "plz", "u"}
POLITE |= {"kindly"}
# Leading words of a read: not index terms there ("list my followers", "read this post").
READ_VERBS = {"list", "show", "get", "give", "fetch", "retrieve", "read", "view", "see", "display", "open", "load"}
READ_VERBS |= {"return", "check", "browse", "tell", "pull", "look", "lookup"}
WRITE_VERBS = {"post", "tweet", "retweet", "rt", "repost", "like", "fav", "favorite", "heart", "follow", "mute"}
WRITE_VERBS |= {"block", "delete", "remove", "erase", "create", "make", "add", "send", "message", "dm", "reply"}
WRITE_VERBS |= {"quote", "share", "publish", "write", "upload", "attach", "pin", "bookmark", "save", "hide"}
WRITE_VERBS |= {"unhide", "rename", "update", "edit", "change", "modify", "register", "mark", "start", "kill"}
WRITE_VERBS |= {"terminate", "drop", "evaluate", "undo", "put", "set", "silence", "allow", "respond", "answer"}
WRITE_VERBS |= {"compose", "draft", "propose", "suggest", "submit", "subscribe", "prevent", "forbid", "ban", "boost"}
WRITE_VERBS |= {"close", "end", "disconnect", "trash", "discard", "cancel", "kick", "take", "place", "include"}
WRITE_VERBS |= {"permit", "unbookmark", "unsubscribe", "say", "new", "clear", "append", "finalize", "initialize"}
WRITE_VERBS |= {"init", "replay", "trigger", "validate", "conceal"}
# Everyday words that are no misspelling of a tool word.
_COMMON = {"when", "where", "give", "tell", "need", "look", "check", "again", "many", "much", "more", "most"}
_COMMON |= {"last", "next", "first", "they", "them", "here", "help", "know", "anyone", "anybody", "everyone"}
_COMMON |= {"something", "anything", "anymore", "long", "time", "same", "once", "only", "other", "than", "said"}

UNDO = re.compile(r"^un(?=[a-z]{3,})")
CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
DIGITS = re.compile(r"(?<=[A-Za-z])(?=\d)")  # streamPostsSample10: "sample 10"
WORD = re.compile(r"[a-z0-9]+")
MARK = "0h"  # stands for a handle in the text: a reference, like a number


@lru_cache(maxsize=4096)
def stem(word: str) -> str:
    """Crude but enough for API words (followers/following -> follow, liked -> lik), then `_CANON`."""
    if word in _UNSTEMMED:
        return _UNSTEMMED[word]
    for suffix, minimum in (("ing", 5), ("ers", 6), ("er", 7), ("ed", 5), ("es", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) >= minimum:
            word = word[: -len(suffix)]
            if suffix in ("ing", "ed") and len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # pinned -> pin, stopped -> stop
            break
    word = word[:-1] if len(word) > 3 and word.endswith("e") else word
    return _CANON.get(word, word)


_UNSTEMMED = {"news": "news"}  # "news" is no plural of "new"


def forms(word: str) -> list[str]:
    """A word's index terms: its stem, and the exact form of -ing/-er(s) words ("following" is
    closer to "following" than to "followers"); "unrepost" also counts as "un" + "repost"."""
    out = [stem(word)]
    if word.endswith(("ing", "er", "ers")) and stem(word) != word:
        out.append(word + "s" if word.endswith("er") else word)  # follower(s) vs following
    if UNDO.match(word):
        out += ["un", stem(word[2:])]
    return out


def words(text: str) -> list[str]:
    """A tool field's index terms; "my" and "me" are one term ("Get my User", reposts_of_me)."""
    out = []
    for word in WORD.findall(DIGITS.sub(" ", CAMEL.sub(" ", text)).replace("_", " ").lower()):
        if word in ("my", "me"):
            out.append("me")
        elif word not in STOP:
            out += forms(word)
    return out


@dataclass(frozen=True)
class Spelling:
    """A misspelt word -> the word of the tools (or of the synonym table) one letter away.

    A word with a letter missing ("follwers") is a deletion of the right word; one with a letter too
    many ("retweeet") has the right word among its deletions; a swapped or wrong letter
    ("bookmakrs") shares a deletion with it. Words we know, numbers and short words stay as typed.
    """

    known: frozenset[str]
    deletions: dict[str, str]  # a one-letter deletion of a known word -> that word

    @classmethod
    def build(cls, tools: dict[str, ToolDef]) -> Spelling:
        text = " ".join(f"{n} {t.title} {t.plan.path} {t.description} {' '.join(t.tags)}" for n, t in tools.items())
        seen = Counter(WORD.findall(CAMEL.sub(" ", text).replace("_", " ").lower()))
        vocabulary = {w: n for w, n in seen.items() if w.isalpha() and n >= 2}
        for word in (*SYNONYMS, *VERBS, *WRITE_VERBS):
            vocabulary.setdefault(word, 1)
        deletions: dict[str, str] = {}
        for word in sorted(vocabulary, key=lambda w: (-vocabulary[w], w)):
            if len(word) >= 4:
                for i in range(len(word)):
                    deletions.setdefault(word[:i] + word[i + 1 :], word)
        known = set(vocabulary) | {stem(w) for w in seen} | set(seen) | STOP | FIRST_PERSON | POLITE | _COMMON
        known |= READ_VERBS
        return cls(frozenset(known), deletions)

    def correct(self, word: str) -> str:
        if len(word) < 4 or word in self.known or stem(word) in self.known or not word.isalpha():
            return word
        if word in self.deletions:
            return self.deletions[word]
        shorter = [word[:i] + word[i + 1 :] for i in range(len(word) - 1)]  # "spacex" is no typo of "space"
        found = next((w for w in shorter if w in self.known and len(w) >= 4), None)
        if found is None and len(word) >= 5:
            found = next((self.deletions[w] for w in shorter if w in self.deletions), None)
        return found or word


# Streams, webhooks and subscriptions (by path), and the words that ask for them ("firehose", "compliance events").
PLUMBING_PATH = re.compile(r"/stream|/webhooks|account_activity|/activity/")
PLUMBING_WORDS = frozenset(
    stem(word)
    for word in [
        "stream",
        "streaming",
        "firehose",
        "realtime",
        "real",
        "live",
        "sample",
        "webhook",
        "webhooks",
        "subscription",
        "subscriptions",
        "subscribe",
        "replay",
        "crc",
        "rule",
        "rules",
        "compliance",
        "activity",
        "events",
        "event",
    ]
)
