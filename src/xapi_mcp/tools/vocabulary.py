"""The words of search_x_api: tool words and people's words as one set of index terms.

X's spec and the people who ask use different words for one thing: the spec says post, repost,
direct message; people say tweet, retweet, DM, fav, follower, "who am I". `stem` folds word forms
and X's old and new words into one term (`_CANON`); `SYNONYMS` adds the spec's words for people's
words at half weight (phrases.py rewrites whole phrases first: "who am I", "stop following");
`Spelling` mends a typo one letter away from a known word. search.py ranks with these terms.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

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
    "img": "media",
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
    "unsave": "delete bookmark",
    "rate": "evaluate",
    "rating": "evaluate",
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
    "fix": "edit update",
    "correct": "edit update",
    "unlink": "delete link",
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
    "spend": "usage",
    "spending": "usage",
    "cost": "usage",
    "costs": "usage",
    "costing": "usage",
    "billing": "usage",
    "bill": "usage",
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
    "headline": "news",
    "convo": "conversation",
    "convos": "conversation",
    "listen": "stream",
    "listening": "stream",
    "recommended": "personalized",
    "personal": "personalized",
    "suggested": "personalized",
    "tailored": "personalized",
    "headlines": "news",
    "article": "news",
    "articles": "news",
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
# A leading write verb that names what it makes: "post ..." and "reply ..." create a post; or the spec's verb.
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
    "unsave": "delete bookmark",
    "unbookmark": "delete bookmark",
    "rate": "evaluate",
    "message": "create dm",
}
# "how many followers does @x have", "follower count of @x": a figure of one user or post.
METRIC = re.compile(
    r"\bcount\s+(?:\w+\s+)?(?:follow\w*|likes?|posts?|tweets?|reposts?|retweets?|repl\w+|views?|impressions?|members?)\b"
    r".*\b(?:have|has|got|get)$|\bcount\s+(?:people|users|accounts|folks)\s+(?:have\s+|has\s+)?(?:follow|lik|retweet|repost|quot|repl|view|bookmark)\w*\b|\b(?:follow\w*|like|repost|retweet|quote|view|repl\w+|tweet|post)s?\s+counts?"
    r"|\bcount\s+(?:tweets|posts)$|\bcount\s+times\s+(?:\w+\s+){0,4}?(?:view|seen|lik|repost|retweet|quot|shar|bookmark)\w*"
)
STOP = {"a", "an", "the", "of", "to", "for", "from", "by", "with", "on", "in", "at", "as", "and", "or", "is", "are"}
STOP |= {"be", "do", "does", "can", "this", "that", "it", "all", "some", "someone", "am", "have", "has", "was"}
STOP |= {"please", "want", "x", "these", "those", "there", "any", "its", "their", "his", "her", "your", "just"}
STOP |= {"api", "show", "get", "what", "whats", "which", "me", "twitter", "been", "being", "were", "will", "into"}
STOP |= {"you", "u", "pls", "plz", "kindly", "out", "did", "why", "if", "whether"}
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
WRITE_VERBS |= {"init", "replay", "trigger", "validate", "conceal", "fix", "correct", "link", "unlink", "rate"}
# Everyday words that are no misspelling of a tool word.
_COMMON = {"when", "where", "give", "tell", "need", "look", "check", "again", "many", "much", "more", "most"}
_COMMON |= {"last", "next", "first", "they", "them", "here", "help", "know", "anyone", "anybody", "everyone"}
_COMMON |= {"something", "anything", "anymore", "long", "time", "same", "once", "only", "other", "than", "said"}


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Everyday words of 4+ letters (data/english_words.txt.gz, from benchmarks/english_words.py): typed
    right, whatever tool word is one letter away (report is no typo of repost, nor three of these)."""
    raw = resources.files("xapi_mcp").joinpath("data/english_words.txt.gz").read_bytes()
    return frozenset(gzip.decompress(raw).decode().split())


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
        known |= READ_VERBS | english_words()
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
PLUMBING_PATH = re.compile(r"/stream|/webhooks|account_activity|/activity/|/connections")
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
        "connection",
        "connections",
        "disconnect",
    ]
)
