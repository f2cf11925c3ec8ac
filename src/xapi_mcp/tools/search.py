"""search_x_api's ranking: which tools fit a request written in people's words.

Lexical and explainable, in two parts:
- BM25F over each tool's words (operationId, title, API path, tags, description, argument names,
  HTTP method; each field weighted), in the terms of vocabulary.py: tweet = post, retweet =
  repost, remove = delete; people's words (DM, feed, fav) count as the spec's at half weight; a
  word one letter off counts as the word it misspells; phrases.py rewrites people's phrases first.
- What a request carries besides its words (request.py: handles, first person, IDs and what they
  are of, read or write, a search and its time, more than a page), matched against what each tool
  is (`Traits`: read or write, what it returns, whose, what its IDs are of, a stream, a List's
  endpoint...). Each match is one boost or penalty on the score (`_boost`).
Per-term weights are computed when the index is built, so a query costs a few dict lookups per term.
A static word-embedding re-rank was measured (benchmarks/search_embed.py) and helped neither
tuning set, so none is used.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from itertools import pairwise

from xapi_mcp.tools.request import ENTITIES, Request, parse
from xapi_mcp.tools.tooldef import ToolDef
from xapi_mcp.tools.vocabulary import (
    CAMEL,
    PLUMBING_PATH,
    PLUMBING_WORDS,
    SYNONYM,
    WORD,
    WRITE_VERBS,
    Spelling,
    stem,
    words,
)

_ABOUT_A_USER = {"user", "usernam", "usernames", "who", "id", "search", "me", "own", "detail", "info", "profil"}
_ABOUT_A_USER |= {"recent", "us", "nam", "numer"}  # "what username am I using right now", "numeric ID"
_HOMES = ("lists", "spaces", "communities")  # their endpoints mirror users' and posts' (followers, posts, members)
_POST_ID_ARGS = {"tweet_id", "source_tweet_id", "quote_tweet_id", "tweet_ids", "post_id"}
_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_FIELDS: tuple[tuple[str, float], ...] = (("name", 3.0), ("title", 2.5), ("path", 1.5), ("method", 1.0))
_FIELDS += (("tags", 1.0), ("description", 1.0), ("args", 0.3))
_METHOD_WORDS = {"DELETE": "delete", "PUT": "update"}  # unfollow, unlike, unpin... are deletes
_K1, _B = 1.2, 0.75


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
    returns = next((ENTITIES[stem(w)] for w in WORD.findall(after_verb) if stem(w) in ENTITIES), "")
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
        home=next((_kind(kind) for kind in _HOMES if path.startswith(f"/2/{kind}")), "") or _named_home(tool.name),
    )


def _named_home(name: str) -> str:
    """followList, getUsersPinnedLists: a List's tool by its name, though its path is a user's; XChat's
    (chatMediaDownload, sendChatMessage): only when a chat is named, else DMs and media are meant."""
    named = {w.lower() for w in CAMEL.split(name)}
    return next((_kind(kind) for kind in (*_HOMES, "chat") if kind in named or _kind(kind) in named), "")


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
        elif arg.endswith(("_id", "_ids", "_key", "_keys")) and "{" + arg + "}" not in path:
            kinds.add(_kind(re.sub(r"_(?:id|key)s?$", "", arg)))  # media_keys -> media
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
    if named[0] == "create" and named[-1] == "subscription":
        found.add("subscrib")  # to create a subscription is to subscribe
    return frozenset(found | ({"delet"} if tool.plan.method == "DELETE" else set()))


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
        # Boosts are for the contenders (a twelfth of the best lexical score or more): the rest follow unboosted.
        floor = max(scores.values(), default=0.0) / 12
        near = {name for name, score in scores.items() if score >= floor and name in tools}
        ranked = [(name, scores[name] * _boost(request, self.traits[name], self.names[name])) for name in near]
        ranked.sort(key=lambda item: (-item[1], item[0]))
        if len(ranked) < limit or (request.handles and not request.search):  # enough results; a lookup on offer
            rest = [(n, s) for n, s in scores.items() if n not in near and n in tools]
            ranked += sorted(rest, key=lambda item: (-item[1], item[0]))
        collector = (
            next((n for n in tools if n in self.traits and self.traits[n].collects), None) if request.many else None
        )
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
