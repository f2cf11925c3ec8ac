"""search_x_api's ranking: which tools fit a request written in people's words.

Lexical and explainable, in two parts:
- BM25F over each tool's words (operationId, title, API path, tags, description, argument names,
  HTTP method; each field weighted), in the terms of vocabulary.py: tweet = post, retweet =
  repost, remove = delete; people's words (DM, feed, fav) count as the spec's at half weight; a
  word one letter off counts as the word it misspells.
- What a request carries besides its words (`Request`): an @handle or a profile URL asks for a user
  by username; the first person (me, my, I) for the authenticated user's endpoints; a post ID (a
  status URL, or a number as long as post IDs are) for the endpoints on one post; "who ..." for
  users, "tweets ..." for posts; the leading verb says read or write; "how many followers does @x
  have" is the profile's figure, not a count of posts. Each is one boost or penalty on the score.
Per-term weights are computed when the index is built, so a query costs a few dict lookups per term.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from itertools import pairwise

from xapi_mcp.tools.tooldef import ToolDef
from xapi_mcp.tools.vocabulary import (
    CAMEL,
    DETERMINERS,
    FIRST_PERSON,
    MARK,
    METRIC,
    PLUMBING_PATH,
    PLUMBING_WORDS,
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
    phrases,
    stem,
    words,
)

# Entity nouns (index terms): what a description says a tool returns, and what a request asks for.
_ENTITY_WORDS = {"user": "user", "who": "user", "followers": "user", "member": "user", "buyer": "user"}
_ENTITY_WORDS |= {"post": "post", "list": "list", "space": "space", "count": "count"}
_POST_WORDS = {"post", "tweet", "status", "reply", "retweet", "repost", "quote"}
_OTHER_WORDS = {"user", "account", "list", "space", "dm", "message", "event", "community", "folder", "job", "note"}
_OTHER_WORDS |= {"media", "conversation", "subscription", "endpoint", "news", "story", "key", "woeid", "id", "chat"}
_ABOUT_A_USER = {"user", "usernam", "usernames", "who", "id", "search", "me", "own", "detail", "info", "profil"}
_ABOUT_A_USER |= {"recent", "us", "nam", "numer"}  # "what username am I using right now", "numeric ID"
_FIGURES = {stem(w) for w in ("usage", "consumption", "stats", "statistics", "analytics", "insights", "metrics")}
_FIGURES |= {stem(w) for w in ("counts", "count", "volume", "impressions", "engagement", "history", "reads", "performance")}
_HOMES = ("lists", "spaces", "communities")  # their endpoints mirror users' and posts' (followers, posts, members)
_SEARCH_WORDS = {"mentioning", "search", "containing", "regarding", "discussing"}
_TOPIC_BEFORE = {"about", "mention", "mentions", "mentioning", "regarding", "discussing", "containing"}
_POST_ID_ARGS = {"tweet_id", "source_tweet_id", "quote_tweet_id", "tweet_ids", "post_id"}
_NAME_NOUNS = {"user", "username", "handle"}
_SENDS = re.compile(r"\b(send|say|post|tweet|reply|write|dm|message|publish)\s+(?:(?:them|him|her|it)\s+)?['\"]")
_LEAD_CLAUSE = re.compile(r"^\s*(?:before|after|once|when|while|since|because|as\s+soon\s+as)\b[^,;:?!]*,")
_CONTENT = re.compile(r"\b(?:saying|that\s+says|which\s+says|that\s+reads|with\s+(?:the\s+)?(?:text|caption|words)|captioned)\b")
_MANY = re.compile(r"\b(?:page\s+through|paginat\w*|collect\w*|scrap\w*|harvest\w*|export\w*|bulk)\b")
_YES_NO = {"is", "was", "are", "were", "did", "does", "do", "has", "have", "had", "am"}
# "how do I ...", "is there a way to ...": the task that follows is what is asked, not a yes/no question
_HOW_TO = re.compile(
    r"^\s*(?:(?:is|are)\s+there\s+(?:a|any)\s+way\s+to|is\s+it\s+possible\s+to|how\s+(?:do|can|would|should)\s+(?:i|we|you)"
    r"|(?:can|could|may)\s+(?:i|we))\b"
)  # "the user natgeo": an unknown word after it is a handle
_URL = re.compile(r"(?:https?://)?(?:www\.|mobile\.)?(?:x|twitter)\.com/(\w+)(?:/status(?:es)?/(\d+))?\S*")
_HANDLE = re.compile(r"(?<![\w@])@(\w{1,15})")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_ID_OF = re.compile(r"([a-z]+?)s?/\{|([a-z]+)_ids?\b")
_QUOTED = re.compile(r"(?<!\w)'[^']+'(?!\w)|\"[^\"]+\"")
_CONTRACTION = re.compile(r"n't\b|'(?:s|m|ve|re|ll|d)\b")
_YEAR = re.compile(r"^20[0-3]\d$")
_MIXED_ID = re.compile(r"\b(?=[a-z]*\d)(?=\d*[a-z])[a-z0-9]{10,}\b")  # a Space ID: 1YqKDqWqdPLGV
_PERCENT = re.compile(r"\b(\d{1,3})\s*%")
_JOINED_ID = re.compile(r"\b(\d+)[-_](?=\d)")  # "123-456" (a DM conversation), "3_1234" (a media key)
_NUMBER = re.compile(r"^\d+$|^" + MARK + "$")
_PLACEHOLDER = re.compile(r"\{[^}]*\}")
# "excluding replies and retweets", "without adding it": what a request leaves out is no term of it.
_NEGATED = re.compile(
    r"\b(?:excluding|excl|except|without|minus|not\s+including|no)\s+(?:(?:a|an|the|any)\s+)?\w+"
    r"(?:(?:\s*,\s*|\s+(?:and|or|nor)\s+)\w+)*"
)

_FIELDS: tuple[tuple[str, float], ...] = (("name", 3.0), ("title", 2.5), ("path", 1.5), ("method", 1.0))
_FIELDS += (("tags", 1.0), ("description", 1.0), ("args", 0.3))
_METHOD_WORDS = {"DELETE": "delete", "PUT": "update"}  # unfollow, unlike, unpin... are deletes
_K1, _B = 1.2, 0.75


_ENTITIES = {stem(word): entity for word, entity in _ENTITY_WORDS.items()}
_POST_NOUNS = {stem(word) for word in _POST_WORDS}
_OTHER_NOUNS = {stem(word) for word in _OTHER_WORDS}
_NOUNS = (set(_ENTITIES) | _POST_NOUNS | _OTHER_NOUNS | {"folder", "rule", "webhook", "upload", "woeid"}) - {"id", "who"}


@dataclass(frozen=True)
class Traits:
    """What a tool is, for the intent boosts: read or write, what it returns, whose, on what."""

    read: bool
    returns: str  # the first entity its description names: "user", "post", "list", ... or ""
    of_user: bool  # on one user's things: /2/users/{id}/...
    mine: bool  # acts on the authenticated user's own things
    only_mine: bool  # and on no one else's: no user ID to give (getUsersMe, personalized trends)
    on_post: bool  # takes a post ID
    by_username: bool  # takes usernames
    takes_id: bool  # names one resource by ID (or several by IDs)
    batch: bool  # takes a list of IDs or names
    workflow: bool  # one call for what otherwise takes several (uploadMedia)
    id_of: frozenset[str]  # what its IDs are of: user_id -> user, /2/lists/{id} -> list
    verbs: frozenset[str]  # its action: the first word of its name; DELETE also "delet"
    single_too: bool = False  # a batch lookup whose one-item twin exists (getUsersByIds / getUsersById)
    plumbing: bool = False  # a stream, or the webhooks and subscriptions behind them: only when asked for
    collects: bool = False  # follows the pages of a list operation (collect_x_api)
    home: str = ""  # a List's, Space's or Community's endpoint (/2/lists/{id}/followers): only when one is named


def traits(tool: ToolDef) -> Traits:
    description = tool.description.lower()
    after_verb = re.sub(r"^\w+\s+(?:(?:a|the|details of|list of|specific|multiple)\s+)*", "", description)
    returns = next((_ENTITIES[stem(w)] for w in WORD.findall(after_verb) if stem(w) in _ENTITIES), "")
    args = set(tool.arg_names)
    path = tool.plan.path
    of_user = path.startswith("/2/users/{")
    mine = of_user or "authenticated user" in description
    return Traits(
        read=tool.plan.method == "GET",
        returns=returns,
        of_user=of_user,
        mine=mine,
        only_mine=mine and "{" not in path and tool.plan.method == "GET",
        on_post=bool(re.match(r"/2/tweets(/\{|$)", path)) or bool(args & _POST_ID_ARGS),
        by_username=any("username" in arg for arg in args),
        takes_id="{" in path or "ids" in args,
        workflow=tool.workflow is not None,
        id_of=_id_kinds(path, tool.input_schema.get("required", [])),
        verbs=_verbs(tool),
        batch=any(p.is_array and p.required for p in tool.plan.params)
        or any(arg.endswith("_ids") for arg in tool.input_schema.get("required", [])),
        plumbing=tool.stream is not None or bool(PLUMBING_PATH.search(path)),
        collects=tool.workflow is not None and "max_items" in args,
        home=next((_kind(kind) for kind in _HOMES if path.startswith(f"/2/{kind}")), ""),
    )


def _id_kinds(path: str, required: list[str]) -> frozenset[str]:
    """What the IDs a tool needs are of: /2/lists/{id}/members/{user_id} -> list, user; /2/users + ids -> user."""
    parts = path.split("/")[2:]
    kinds = set()
    for prev, part in pairwise(["", *parts]):
        if part.startswith("{"):
            name = part[1:-1]
            kinds.add(_kind(name[:-3]) if name.endswith("_id") else "" if prev.startswith("{") else _kind(prev))
    for arg in required:
        if arg in ("ids", "id") and "{" not in path and parts:
            kinds.add(_kind(parts[0]))
        elif arg.endswith(("_id", "_ids")) and "{" + arg + "}" not in path:
            kinds.add(_kind(arg.rsplit("_id", 1)[0]))
    return frozenset(kinds - {""})


def _kind(word: str) -> str:
    """ "source_user" -> user, "dm_conversations" -> conversation, "tweets" -> post, "creator" -> user."""
    word = word.rsplit("_", 1)[-1]
    word = word[:-3] + "y" if word.endswith("ies") else word if word == "news" else word.removesuffix("s")
    return "user" if word in ("creator", "participant", "author") else stem(word)


def _verbs(tool: ToolDef) -> frozenset[str]:
    """A tool's actions: its name's first word and the verbs in it (chatMediaUploadInitialize: upload)."""
    named = [w.lower() for w in CAMEL.split(tool.name)]
    found = {stem(named[0])} | {stem(w) for w in named if w in WRITE_VERBS}
    return frozenset(found | ({"delet"} if tool.plan.method == "DELETE" else set()))


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
    if nxt.endswith("s") and stem(nxt) in _ENTITIES and first in ("quote", "like", "post", "retweet", "new"):
        return False
    if stem(nxt) in _FIGURES:
        return False  # "post consumption stats", "tweet counts", "like history": a figure about them
    return first in WRITE_VERBS or bool(UNDO.match(first) and first[2:] in WRITE_VERBS)


def _verb(raw: list[str]) -> str:
    """The action of a write, as the first word of the operationIds that do it: "post" -> creat."""
    word = next((w for w in raw if w not in POLITE), "")
    return stem(VERBS[word].split()[0]) if word in VERBS else stem(word)


def _about_a_topic(raw: list[str], i: int) -> bool:
    """ "about the election", "that mention jupiter": a search; "about @jack", "about me",
    "about user 12", "mentions of @nasa" are not."""
    if raw[i] not in _TOPIC_BEFORE:
        return False
    rest = [w for w in raw[i + 1 :] if w not in STOP]
    if rest[:1] in (["my"], ["our"]) and rest[1:]:
        rest = rest[1:]  # "about my product launch": a topic; "about my lists": not
    after = rest[0] if rest else ""
    known = after in FIRST_PERSON or stem(after) in _ENTITIES or stem(after) in _OTHER_NOUNS
    return bool(after) and not _NUMBER.match(after) and not known


def _mentions_a_user(raw: list[str]) -> bool:
    """ "mentions of @nasa", "tweets mentioning me": a user's mentions; "posts that mention jupiter": a topic."""
    for i, word in enumerate(raw):
        if stem(word) == "mention":
            after = next((w for w in raw[i + 1 :] if w not in STOP or w == "me"), "")
            before = raw[i - 1] if i else ""
            if after in (MARK, "me", "my", "our", "us", "user") or before in (MARK, "me", "my", "our"):
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
    text = _JOINED_ID.sub(r"\1", text)
    text = _PERCENT.sub(r" percent\1 ", text)  # "10% sample": a term (Sample10), not an ID
    text = _MIXED_ID.sub("1", text)
    quoted = bool(_QUOTED.search(text))
    sends = _SENDS.search(text)  # "open the DM thread with user 5 and send 'ping'": a write after all
    text = _QUOTED.sub(" ", text)  # "post 'hello world'", "tweets containing 'climate'": content
    text = _NEGATED.sub(" ", text)
    text = _HOW_TO.sub(" ", _LEAD_CLAUSE.sub(" ", text))  # "Before I post anything, ...": the ask follows
    text = _CONTRACTION.sub(lambda m: " not" if m.group(0) == "n't" else "", text)
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
    request.write = _asks_to_write(raw)
    request.question = bool(raw) and raw[0] in _YES_NO
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
    leading = next((w for w in raw if w not in POLITE), "")
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
        if not request.head and not reference:
            request.head = _ENTITIES.get(stem(word), "") or _ENTITIES.get(stem(SYNONYMS.get(word, "-")), "")
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
    if request.post_id:
        request.add("post", 1.0 if not raw else SYNONYM)
        request.add("id", 1.0)
    elif other_id:
        request.add("id", 1.0)
    if request.me and not raw:
        request.add("me", 1.0)
        request.add("user", SYNONYM)
    if request.search:
        request.add("search", SYNONYM)
        request.add("query", SYNONYM)
        request.head = request.head or "post"  # "what are people saying about X": posts
    if any(_YEAR.match(w) for w in raw):
        request.add("archive", SYNONYM)  # "tweets from 2015": the full archive
        request.add("all", SYNONYM)
    if "count" in raw:
        request.head = "count"
    if request.search and not {"all", "archive", "recent"} & request.terms.keys():
        request.add("recent", 0.25)  # no time said: the last 7 days, which every access level can search
    return request


def _boost(request: Request, trait: Traits, named: frozenset[str]) -> float:
    """What the request carries, as one factor on a tool's BM25F score (1: no opinion)."""
    factor = 1.0
    if named:  # "create post" is createPosts's whole name, a third of createUsersBookmark's
        factor *= 1 + 0.5 * sum(min(request.terms.get(t, 0.0), 1.0) for t in named) / len(named)
    if request.write == trait.read:
        factor *= 0.5  # "post a tweet" wants the write tool, "who follows" the read one
    if request.question and not trait.read:
        factor *= 0.6  # "was it deleted", "did I like it": a state to read, not an action
    if request.handles and trait.by_username and not request.search:
        factor *= 1.3
    elif request.handles and trait.of_user:
        factor *= 1.15  # "followers of @elon": a user's followers, not a list's
    if request.me and trait.mine:
        factor *= 1.25
    elif not request.me and trait.only_mine:
        factor *= 0.8  # "what's trending" without "for me": not personalized trends
    if request.ids and trait.takes_id:
        factor *= 1.15  # "job 1234": that one job
    if trait.workflow and any(request.terms.get(term) for term in named - trait.verbs):
        factor *= 1.3  # uploadMedia before the upload steps it runs; a thread or a collection when asked for
    if request.many and trait.collects:
        factor *= 1.5  # more than a page: collect_x_api follows the pages
    factor *= 1.1 ** len(request.refs & trait.id_of)  # "user 12 from list 34": a list's user
    if request.refs and trait.id_of and not request.refs & trait.id_of:
        factor *= 0.85  # "followers of @elon": a user's, not a list's
    elif request.refs and trait.id_of - request.refs - {"user"}:
        factor *= 0.9  # "unfollow 1234": a user; unfollowList also needs a list's ID, which the request never gives
    if request.ids and trait.batch:
        factor *= 1.2 if request.ids > 1 else (0.85 if trait.single_too else 1.0)
    if request.verb and request.verb in trait.verbs:
        factor *= 1.25  # "post a reply": createPosts, not hidePostsReply
        if request.made and request.made in named:
            factor *= 1.15  # "post in community 12": a post (createPosts), not a community note
    if trait.home and trait.home not in request.terms and trait.home not in request.refs:
        factor *= 0.85  # "show new followers": a user's followers; a List's only when a list is named
    if request.refs and trait.read and not trait.id_of and not request.search:
        factor *= 0.85  # "status of compliance job 1234": that job, not the list of jobs
    if request.post_id and trait.on_post:
        factor *= 1.3
    if request.head and trait.read and not request.write and trait.returns == request.head:
        factor *= 1.3  # "who liked this" wants users, "tweets liked by" wants posts
    if trait.plumbing and not any(request.terms.get(term) for term in PLUMBING_WORDS):
        factor *= 0.6  # "share a link" is a post, not a webhook's stream link
    elif trait.plumbing and any(request.terms.get(term, 0.0) >= 1.0 for term in PLUMBING_WORDS):
        factor *= 1.25  # "stream posts mentioning @acme", "live feed of ...": the stream, not a search
    return factor


@dataclass
class SearchIndex:
    """BM25F over each tool's fields; per term, each tool's weight (idf and saturation applied)."""

    weights: dict[str, dict[str, float]]
    traits: dict[str, Traits]
    names: dict[str, frozenset[str]]  # each tool's operationId words
    spelling: Spelling | None = None

    @classmethod
    def build(cls, tools: dict[str, ToolDef]) -> SearchIndex:
        docs: dict[str, dict[str, Counter[str]]] = {}
        for name, tool in tools.items():
            docs[name] = {
                "name": Counter(words(name) + ["all"] * ("All" in CAMEL.split(name))),  # searchPostsAll: "all" counts
                "title": Counter(words(tool.title)),
                "path": Counter(words(_PLACEHOLDER.sub(" ", tool.plan.path.removeprefix("/2/")))),
                "method": Counter(words(_METHOD_WORDS.get(tool.plan.method, ""))),
                "tags": Counter(words(" ".join(tool.tags))),
                "description": Counter(words(tool.description)),
                "args": Counter(words(" ".join(tool.arg_names))),
            }
        frequency: Counter[str] = Counter()
        for fields in docs.values():
            frequency.update(set().union(*fields.values()))
        count = max(len(docs), 1)
        average = {f: max(sum(d[f].total() for d in docs.values()) / count, 1.0) for f, _ in _FIELDS}
        idf = {t: math.log(1 + (count - n + 0.5) / (n + 0.5)) for t, n in frequency.items()}
        weights: dict[str, dict[str, float]] = defaultdict(dict)
        for name, fields in docs.items():
            tfs: dict[str, float] = defaultdict(float)  # BM25F: field-weighted, length-normalised counts
            for f, weight in _FIELDS:
                scale = weight / (1 - _B + _B * fields[f].total() / average[f])
                for term, n in fields[f].items():
                    tfs[term] += n * scale
            for term, tf in tfs.items():
                weights[term][name] = idf[term] * tf * (_K1 + 1) / (tf + _K1)
        names = {name: frozenset(fields["name"]) for name, fields in docs.items()}
        found = {name: traits(tool) for name, tool in tools.items()}
        for name, trait in found.items():
            if trait.batch and name[:-1] in tools:
                found[name] = replace(trait, single_too=True)
        return cls(dict(weights), found, names, Spelling.build(tools))

    def search(self, query: str, tools: dict[str, ToolDef], limit: int = 8) -> list[tuple[str, float]]:
        request = parse(query, self.spelling)
        task = any(t in self.weights and t not in _ABOUT_A_USER and w >= SYNONYM for t, w in request.terms.items())
        if request.me and not task and not request.handles:
            request.add("me", 1.0)  # "what username am I using": the authenticated user's profile
        if request.handles and task:
            for term in ("usernam", "usernames"):  # "who follows @jack": the followers, then the lookup
                if term in request.terms:
                    request.terms[term] = 0.7
        scores: dict[str, float] = defaultdict(float)
        for term, term_weight in request.terms.items():
            for name, weight in self.weights.get(term, {}).items():
                scores[name] += term_weight * weight
        boost = {name: _boost(request, self.traits[name], self.names[name]) for name in scores if name in tools}
        ranked = [(name, scores[name] * factor) for name, factor in boost.items()]
        ranked.sort(key=lambda item: (-item[1], item[0]))
        collector = next((n for n in tools if n in self.traits and self.traits[n].collects), None) if request.many else None
        if collector and ranked and self.traits[ranked[0][0]].read and collector not in [n for n, _ in ranked[:2]]:
            # More than a page of results: the collection tool is on offer, second at worst.
            ranked = [item for item in ranked if item[0] != collector]
            ranked.insert(1, (collector, ranked[0][1] if ranked else 0.0))
        if request.handles and not request.search:
            # A handle must become a user ID first: the lookup is always on offer, second at worst.
            lookup = next((i for i, (name, _) in enumerate(ranked) if self.traits[name].by_username), None)
            if lookup is not None and lookup > 1:
                ranked.insert(1, ranked.pop(lookup))
        return ranked[:limit]
