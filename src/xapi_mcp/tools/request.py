"""What a request to search_x_api carries besides its words (issue 16): `parse` reads it into a `Request`.

An @handle or a profile URL asks for a user by username; the first person (me, my, I) for the
authenticated user's endpoints; an ID is of the thing named before it ("list 1234", "list timeline
1234"), else a short number is a user's and a long one (a snowflake) a post's; "who ..." asks for
users, "tweets ..." for posts; the leading verb says read or write, and so does a later "send
'...'"; a yes/no question reads a state; "about X", "#tag", quoted text make a search, which with no
time said is of the last 7 days; what a request leaves out ("excluding retweets"), what it would
write ("saying ...") and its context ("Before I post, ...") are no terms; more than a page of
results asks for the collection tool. search.py turns each into one boost or penalty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from xapi_mcp.tools.phrases import phrases
from xapi_mcp.tools.vocabulary import (
    DETERMINERS,
    FIRST_PERSON,
    MARK,
    METRIC,
    POLITE,
    READ_VERBS,
    STOP,
    SYNONYM,
    SYNONYMS,
    UNDO,
    VERBS,
    WORD,
    WRITE_VERBS,
    Spelling,
    forms,
    stem,
)

# Entity nouns (index terms): what a description says a tool returns, and what a request asks for.
_ENTITY_WORDS = {"user": "user", "who": "user", "followers": "user", "member": "user", "buyer": "user"}
_ENTITY_WORDS |= {"post": "post", "list": "list", "space": "space", "count": "count"}
_POST_WORDS = {"post", "tweet", "status", "reply", "retweet", "repost", "quote"}
_OTHER_WORDS = {"user", "account", "list", "space", "dm", "message", "event", "community", "folder", "job", "note"}
_OTHER_WORDS |= {"media", "conversation", "subscription", "endpoint", "news", "story", "key", "woeid", "id", "chat"}
_FIGURES = {stem(w) for w in ("usage", "consumption", "stats", "statistics", "analytics", "insights", "metrics")}
_FIGURES |= {
    stem(w) for w in ("counts", "count", "volume", "impressions", "engagement", "history", "reads", "performance")
}
_DM_THINGS = {stem(w) for w in ("conversation", "convo", "history", "inbox", "events", "thread", "list", "requests")}
_SEARCH_WORDS = {"mentioning", "search", "containing", "regarding", "discussing"}
_TOPIC_BEFORE = {"about", "mention", "mentions", "mentioning", "regarding", "discussing", "containing", "near"}
_NAME_NOUNS = {"user", "username", "handle"}
_SENDS = re.compile(r"\b(send|say|post|tweet|reply|write|dm|message|publish)\s*:?\s+(?:(?:them|him|her|it)\s+)?['\"]")
_LEAD_CLAUSE = re.compile(r"^\s*(?:before|after|once|when|while|since|because|as\s+soon\s+as)\b[^,;:?!]*,")
_CONTENT = re.compile(
    r"\b(?:saying|that\s+says|which\s+says|that\s+reads|with\s+(?:the\s+)?(?:text|caption|words)|captioned)\b"
)
_MANY = re.compile(r"\b(?:page\s+through|paginat\w*|collect\w*|scrap\w*|harvest\w*|export\w*|bulk)\b")
_YES_NO = {"is", "was", "are", "were", "did", "does", "do", "has", "have", "had", "am", "why"}
# a span longer than the 7 days a recent search covers ("the past 30 days", "3 weeks"): the full archive
_LONG_SPAN = re.compile(r"\b(?:(?:[89]|[1-9]\d+)\s+days?|(?:[2-9]|[1-9]\d+)\s+weeks?|\d+\s+(?:months?|years?))\b")
_CHECK_IF = re.compile(  # "check whether tweet 12 was deleted": a yes/no question
    r"^\s*(?:(?:please|can\s+you|could\s+you)\s+)*(?:check|see|verify|confirm|find\s+out)\s+(?:if|whether)\b"
)
_AUTHOR = re.compile(MARK + r"\s+(?=(?:latest\s+|last\s+)?(?:tweet|post|status|reply)\s+\d)")
# "how do I ...", "is there a way to ...": the task that follows is what is asked, not a yes/no question
_HOW_TO = re.compile(
    r"^\s*(?:(?:is|are)\s+there\s+(?:a|any)\s+way\s+to|is\s+it\s+possible\s+to|how\s+(?:do|can|would|should)\s+(?:i|we|you)"
    r"|(?:can|could|may)\s+(?:i|we))\b"
)  # "the user natgeo": an unknown word after it is a handle
_THING_URL = re.compile(r"(?:https?://)?(?:www\.|mobile\.)?(?:x|twitter)\.com/i/(lists|spaces|communities)/(\w+)\S*")
_URL = re.compile(r"(?:https?://)?(?:www\.|mobile\.)?(?:x|twitter)\.com/(\w+)(?:/status(?:es)?/(\d+))?\S*")
_HANDLE = re.compile(r"(?<![\w@])@(\w{1,15})")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_QUOTED = re.compile(r"(?<!\w)'[^']+'(?!\w)|\"[^\"]+\"")
_POSSESSOR = re.compile(r"\b(user|account|person|list|space|community)'s\b")  # "a user's tweets": tweets asked
_CONTRACTION = re.compile(r"n't\b|'(?:s|m|ve|re|ll|d)\b")
_YEAR = re.compile(r"^20[0-3]\d$")
_MIXED_ID = re.compile(r"\b(?=[a-z]*\d)(?=\d*[a-z])[a-z0-9]{10,}\b")  # a Space ID: 1YqKDqWqdPLGV
_PERCENT = re.compile(r"\b(\d{1,3})\s*(?:%|percent\b)")
_JOINED_ID = re.compile(r"\b(\d+)[-_](?=\d)")  # "123-456" (a DM conversation), "3_1234" (a media key)
_NUMBER = re.compile(r"^\d+$|^" + MARK + "$")
# "excluding replies and retweets", "without adding it": what a request leaves out is no term of it.
_NEGATED = re.compile(
    r"\b(?:excluding|excl|except|without|minus|not\s+including|no)\s+(?:(?:a|an|the|any)\s+)?\w+"
    r"(?:(?:\s*,\s*|\s+(?:and|or|nor)\s+)\w+)*"
)


ENTITIES = {stem(word): entity for word, entity in _ENTITY_WORDS.items()}
_POST_NOUNS = {stem(word) for word in _POST_WORDS}
_OTHER_NOUNS = {stem(word) for word in _OTHER_WORDS}
_NOUNS = (set(ENTITIES) | _POST_NOUNS | _OTHER_NOUNS | {"folder", "rule", "webhook", "upload", "woeid"}) - {"id", "who"}


@dataclass
class Request:
    """A request's index terms (term -> weight) and what it carries besides them."""

    terms: dict[str, float] = field(default_factory=dict)
    write: bool = False
    handles: int = 0
    post_id: bool = False
    ids: int = 0  # IDs and handles named
    me: bool = False
    search: bool = False  # "about ...", "#tag": the handle is a filter of a search, not the subject
    head: str = ""  # the entity asked for: "user" for "who ...", "post" for "tweets ...", ...
    refs: set[str] = field(default_factory=set)  # what the IDs are of: "user 12 from list 34" -> user, list
    verb: str = ""  # a write's action: "creat", "delet", "lik", ...
    made: str = ""  # what a leading verb makes: "post ..." -> post, "bookmark ..." -> bookmark
    many: bool = False  # more than one page of results: "500 recent posts", "collect", "page through"
    question: bool = False  # a yes/no question ("is tweet 12 still up", "did I like it") asks about a state

    def add(self, word: str, weight: float) -> None:
        for term in forms(word):
            self.terms[term] = max(self.terms.get(term, 0.0), weight)


def _thing_of_url(match: re.Match[str]) -> str:
    """x.com/i/lists/12, /i/spaces/1Yq..., /i/communities/14...: that List, Space or Community by its ID."""
    return f" {match.group(1).removesuffix('s').replace('communitie', 'community')} {match.group(2)} "


def _numbers(raw: list[str]) -> tuple[bool, bool]:
    """(a post ID, another ID): the noun before a number says what it is; else its length does.

    Post IDs are snowflakes of 15+ digits; "user 2244994945", "list 1234" name their kind; a year
    ("2015") is a date.
    """
    post = other = False
    for i, word in enumerate(raw):
        if not word.isdigit() or _YEAR.match(word):
            continue
        before = _noun_before(raw, i) or next(
            (stem(w) for w in reversed(raw[:i]) if not _NUMBER.match(w) and w not in STOP), ""
        )
        if before in _POST_NOUNS:
            post = True
        elif before in _NOUNS or len(word) < 15:
            other = True
        else:
            post = True
    return post, other


def _noun_before(raw: list[str], i: int) -> str:
    """The kind of thing named right before the ID at raw[i]: "list 1234", "list timeline 1234" -> list."""
    before = [stem(w) for w in raw[max(i - 2, 0) : i]]
    if before[-1:] == ["statu"] and len(before) == 2 and before[0] in _NOUNS - _POST_NOUNS:
        return before[0]  # "job status 1234": the job's status, not a post (x.com/.../status/...)
    if before and before[-1] in _NOUNS:
        return before[-1]
    if len(before) == 2 and before[0] in _NOUNS and raw[i - 1] not in STOP and not _NUMBER.match(raw[i - 1]):
        return before[0]
    return ""


def _ref(raw: list[str], i: int) -> str:
    """What the ID at raw[i] is of: the noun before it; else a short number is a user's ("unfollow 1234",
    "ids: 783214, 6253282": user IDs are the ones shorter than a post's snowflake), a long one a post's."""
    noun = _noun_before(raw, i) if raw[i] != MARK else "user"  # "spaces @nasa hosts": @nasa is a user
    if noun:
        return "post" if noun in _POST_NOUNS else noun
    return "user" if raw[i] == MARK or 4 <= len(raw[i]) < 15 else ""


def _quantity(raw: list[str], i: int) -> bool:
    """ "last 5 posts", "top 10 users": a number of things, not an ID."""
    if not raw[i].isdigit() or len(raw[i]) > 6:
        return False
    if i > 0 and raw[i - 1] in ("last", "first", "top", "latest", "recent", "next", "all"):
        return True
    after = [w for w in raw[i + 1 : i + 3] if w not in ("recent", "latest", "new", "newest", "more", "most", "of")][:1]
    return len(raw[i]) <= 3 and bool(after) and after[0].endswith("s") and after[0].isalpha()


def _asks_to_write(raw: list[str]) -> bool:
    """A request to change something starts with its verb: "mute a user", "bookmark a tweet".

    One that starts with a determiner, a plural or a participle names things to read: "the block
    list", "my bookmarks", "tweets posted by a user", "saved posts", "quote tweets of a post".
    """
    content = [w for w in raw if w not in POLITE]
    if not content or content[0] in DETERMINERS:
        return False
    first, nxt = content[0], (content[1:] or [""])[0]
    if first.endswith(("ed", "ss")) or (first.endswith("s") and first != "dms"):
        return False
    if first in ("post", "tweet") and _NUMBER.match(nxt):
        return False  # "post 1790... insights": the post named, not one to write
    if nxt.endswith("s") and stem(nxt) in ENTITIES and first in ("quote", "like", "post", "retweet", "new"):
        return False
    if stem(nxt) in _FIGURES:
        return False  # "post consumption stats", "tweet counts", "like history": a figure about them
    if first in ("dm", "message") and stem(nxt) in _DM_THINGS:
        return False  # "dm history with @kate", "dm convo 111-222": DMs to read
    return first in WRITE_VERBS or bool(UNDO.match(first) and first[2:] in WRITE_VERBS)


def _verb(raw: list[str]) -> str:
    """The action of a write, as the first word of the operationIds that do it: "post" -> creat."""
    word = next((w for w in raw if w not in POLITE), "")
    return stem(VERBS[word].split()[0]) if word in VERBS else stem(word)


def _about_a_topic(raw: list[str], i: int) -> bool:
    """ "about the election", "that mention jupiter": a search; "about @jack", "about me",
    "about user 12", "mentions of @nasa" are not."""
    on_topic = raw[i] == "on" and i > 0 and stem(raw[i - 1]) in _POST_NOUNS | {"news", "story", "articl", "headlin"}
    if raw[i] not in _TOPIC_BEFORE and not on_topic:  # "news on spacex", "tweets on the election"
        return False
    rest = [w for w in raw[i + 1 :] if w not in STOP]
    if rest[:1] in (["my"], ["our"]) and rest[1:]:
        rest = rest[1:]  # "about my product launch": a topic; "about my lists": not
    after = rest[0] if rest else ""
    known = after in FIRST_PERSON or stem(after) in ENTITIES or stem(after) in _OTHER_NOUNS
    return bool(after) and not _NUMBER.match(after) and not known


def _mentions_a_user(raw: list[str]) -> bool:
    """ "mentions of @nasa", "tweets mentioning me": a user's mentions; "posts that mention jupiter": a topic."""
    for i, word in enumerate(raw):
        if stem(word) == "mention":
            after = next((w for w in raw[i + 1 :] if w not in STOP or w == "me"), "")
            before = raw[i - 1] if i else ""
            topic = word.endswith("ing") and after and after not in (MARK, "me", "my", "our", "us", "user")
            if after in (MARK, "me", "my", "our", "us", "user") or (before in (MARK, "me", "my", "our") and not topic):
                return True
    return False


def _words_of(text: str, spelling: Spelling | None) -> list[str]:
    """The words of a request, numbers that count things left out, typos mended, and a name after
    "user" that no vocabulary has ("the user natgeo") taken for a handle."""
    found = WORD.findall(text)
    raw = [w for i, w in enumerate(found) if not _quantity(found, i)]
    if spelling:
        raw = [spelling.correct(w) for w in raw]
        for i, word in enumerate(raw[:-1]):
            if word in _NAME_NOUNS and not raw[i + 1].isdigit() and raw[i + 1] not in spelling.known:
                raw[i + 1] = MARK
    return raw


def parse(query: str, spelling: Spelling | None = None) -> Request:
    """The terms of a request and the intents it carries (see the module docstring)."""
    text = query.lower().replace("’", "'")
    request = Request()
    text = _THING_URL.sub(_thing_of_url, text)
    for match in _URL.finditer(text):
        if match.group(2):
            request.post_id = True
        elif match.group(1) not in ("home", "search", "explore", "i", "settings", "messages"):
            request.handles += 1
    text = _URL.sub(" ", text)
    text = re.sub(r"@\s+me\b", " mention me ", text)  # "tweets where people @ me"
    request.handles += len(_HANDLE.findall(text))
    text = _HANDLE.sub(f" {MARK} ", text)
    hashtags = bool(_HASHTAG.search(text))
    text = _JOINED_ID.sub(r"\1", re.sub(r"\b(un|re)-(?=[a-z])", r"\1", text))  # "un-retweet": unretweet
    text = _PERCENT.sub(r" percent\1 ", text)  # "10% sample": a term (Sample10), not an ID
    text = _MIXED_ID.sub("1", text)
    quoted = bool(_QUOTED.search(text))
    sends = _SENDS.search(text)  # "open the DM thread with user 5 and send 'ping'": a write after all
    text = _QUOTED.sub(" ", text)  # "post 'hello world'", "tweets containing 'climate'": content
    text = _NEGATED.sub(" ", text)
    text = _HOW_TO.sub(" ", _LEAD_CLAUSE.sub(" ", text))  # "Before I post anything, ...": the ask follows
    owner = {stem(m.group(1)) for m in _POSSESSOR.finditer(text)}  # what owns the thing asked for: not the head
    text = _CONTRACTION.sub(lambda m: " not" if m.group(0) == "n't" else "", text)
    authors = len(_AUTHOR.findall(text))  # "@bob's tweet 1790...": the post is the subject, @bob only its author
    request.handles -= authors
    text = _AUTHOR.sub(" ", text) if authors else text
    if spelling:  # typos mended before the phrases: "whos folowing me" is "who is following me"
        text = WORD.sub(lambda m: spelling.correct(m.group()), text)
    for pattern, replacement in phrases():
        text = pattern.sub(replacement, text)
    raw = _words_of(text, spelling)
    found = WORD.findall(text)
    request.many = bool(_MANY.search(text)) or any(_quantity(found, i) and int(w) > 100 for i, w in enumerate(found))
    request.handles += raw.count(MARK) - WORD.findall(text).count(MARK)
    post_id, other_id = _numbers(raw)
    request.post_id = post_id or request.post_id
    request.ids = request.handles + sum(1 for w in raw if w.isdigit() and not _YEAR.match(w))
    pairs = list(pairwise([*raw, ""]))
    request.me = any(w in FIRST_PERSON and not (w == "i" and n in POLITE) for w, n in pairs)  # not "I need"
    request.refs = {_ref(raw, i) for i, w in enumerate(raw) if _NUMBER.match(w) and not _YEAR.match(w)} - {""}
    request.refs |= {"user"} if request.handles else set()
    leading = next((w for w in raw if w not in POLITE), "")
    request.write = _asks_to_write(raw) or (quoted and leading in WRITE_VERBS)  # "message convo 1-2 with 'ok'"
    request.question = (bool(raw) and raw[0] in _YES_NO) or bool(_CHECK_IF.match(text))
    if request.write and ":" in text:  # "DM user 12: see you tomorrow": the text after the colon is content
        raw = _words_of(text.split(":", 1)[0], spelling)
    content = _CONTENT.search(text) if request.write else None
    if content:  # "a tweet saying we're closed", "a photo with caption ...": what to write, not what to call
        raw = _words_of(text[: content.start()], spelling)
    request.search = hashtags or any(w in _SEARCH_WORDS or _about_a_topic(raw, i) for i, w in enumerate(raw))
    if sends and not request.write:
        request.write = True
        request.verb = _verb([sends.group(1)])
    else:
        request.verb = _verb(raw) if request.write else ""
    request.made = stem(VERBS[leading].split()[-1]) if request.write and leading in VERBS else ""
    request.search = request.search or (quoted and not request.write)
    if METRIC.search(" ".join(raw)) and (request.handles or request.post_id or request.me or other_id):
        raw = []  # a figure of the user or post: look it up (public_metrics), count nothing
    first = next((i for i, w in enumerate(raw) if w not in POLITE), -1)
    for i, word in enumerate(raw):
        if word.startswith("percent") and word[7:].isdigit():
            request.add(word[7:], 1.0)
            continue
        if _NUMBER.match(word) or word in STOP:
            continue
        if word in FIRST_PERSON:
            request.add("me", 1.0 if word == "myself" else 0.2)
            if word in ("my", "our"):
                request.add("own", 0.3)  # "my lists": the lists I own
            continue
        reference = i + 1 < len(raw) and bool(_NUMBER.match(raw[i + 1]))  # "list 1234": which, not what
        if i == first and word in READ_VERBS and not (word == "list" and any(map(_NUMBER.match, raw[i + 1 : i + 3]))):
            continue  # "list my followers", "read this post": the verb of a read ("list timeline 1234": a noun)
        if not request.head and not reference and stem(word) not in owner:
            request.head = ENTITIES.get(stem(word), "") or ENTITIES.get(stem(SYNONYMS.get(word, "-")), "")
        verb = VERBS.get(word) if i == first and request.write else None
        request.add(word, SYNONYM if verb else 1.0)
        for synonym in (verb or "").split():
            request.add(synonym, 1.0)
        for synonym in SYNONYMS.get(word, "").split():
            request.add(synonym, SYNONYM)
    if request.search:
        request.terms.pop("author", None)  # "tweets from @nasa about mars": a search with from:nasa
    if request.search and not _mentions_a_user(raw):
        request.terms.pop("mention", None)  # "posts mentioning #superbowl": containing it, not a user's mentions
    if request.post_id:
        request.terms.pop("author", None)  # "post 12 with its author": a field of the post (expansions)
    if request.ids and not request.search:
        request.terms.pop("search", None)  # "find the handle of user 12": a lookup, not a search
    if "user" in request.refs and not request.handles:
        for term in ("usernam", "usernames"):
            request.terms.pop(term, None)  # "the handle of user 12": the ID is given, the handle is the answer
    if request.handles and not request.search:
        request.add("username" if request.handles == 1 else "usernames", 1.0)
        request.add("user", SYNONYM)
    if request.ids > 1 and not request.handles:
        request.add("ids", 1.0)  # several IDs: the lookup of several (getPostsByIds)
    if request.post_id:
        request.add("post", 1.0 if not raw else SYNONYM)
        request.add("id", 1.0)
    elif other_id:
        request.add("id", 1.0)
    if request.me and not raw and not request.post_id:  # a figure of a post is the post's, whoever asks
        request.add("me", 1.0)
        request.add("user", SYNONYM)
    if request.search:
        request.add("search", SYNONYM)
        request.add("query", SYNONYM)
        request.head = request.head or "post"  # "what are people saying about X": posts
    if _LONG_SPAN.search(text):
        request.terms.pop("recent", None)  # "days" is no "recent" when there are 30 of them
        request.add("archive", 1.0)
        request.add("all", SYNONYM)
    if any(_YEAR.match(w) for w in raw):
        request.add("archive", SYNONYM)  # "tweets from 2015": the full archive
        request.add("all", SYNONYM)
    if "count" in raw:
        request.head = "count"
    if request.search and not {"all", "archive", "recent"} & request.terms.keys():
        request.add("recent", 0.25)  # no time said: the last 7 days, which every access level can search
    return request
