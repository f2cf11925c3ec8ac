"""Discovery mode: the whole X API behind three small tools.

`search_x_api` ranks the allowed tools for a plain-language request, `describe_x_api` gives one
tool's full input schema and credential needs, `call_x_api` runs it through the same executor path
as a direct tool call (validation, allowlist, credentials, retries). The tool list stays a few
kilobytes whatever the size of the catalog.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from xapi_mcp.tools.schema import trim_description
from xapi_mcp.tools.tooldef import ToolDef

SEARCH, DESCRIBE, CALL = "search_x_api", "describe_x_api", "call_x_api"

# Words people use for X concepts -> the words X's spec uses.
_SYNONYMS = {
    "tweet": "post",
    "tweets": "post",
    "retweet": "repost",
    "retweets": "repost",
    "retweeted": "repost",
    "dm": "direct message",
    "dms": "direct message",
    "message": "direct message",
    "messages": "direct message",
    "account": "user",
    "accounts": "user",
    "handle": "user",
    "posted": "post authored",
    "wrote": "authored",
    "written": "authored",
    "profile": "user",
    "people": "user",
    "who": "user",
    "image": "media",
    "images": "media",
    "photo": "media",
    "picture": "media",
    "video": "media",
    "gif": "media",
    "undo": "un",
    "favorite": "like",
    "favourites": "like",
    "favorites": "like",
    "unfavorite": "unlike",
    "silence": "mute",
    "about": "search query",
    "find": "search",
    "saved": "bookmark",
    "write": "create",
    "send": "create",
    "publish": "create",
    "make": "create",
    "add": "create",
    "remove": "delete",
    "erase": "delete",
    "trending": "trend",
    "timeline": "timeline",
    "latest": "recent",
    "new": "recent",
}
_STOP = {"a", "an", "the", "of", "to", "for", "from", "by", "with", "on", "in", "at", "as", "and", "or", "is", "are"}
_STOP |= {"be", "do", "does", "can", "this", "that", "it", "all", "some", "someone"}
_PRONOUNS = {"my", "mine", "me", "i"}
_WRITE_WORDS = {"creat", "delet", "lik", "follow", "mut", "block", "repost", "pin", "upload", "bookmark", "hid", "un"}
_READ_WORDS = {"who", "what", "which", "list", "show", "get", "read", "search", "count", "how"}
_UNDO = re.compile(r"^un(?=[a-z]{3,})")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")

_FIELDS = (("name", 3.0), ("title", 2.5), ("tags", 1.5), ("description", 1.0), ("args", 0.5))


def stem(word: str) -> str:
    """Crude but enough for API words: followers/following/follows -> follow, likes/liked -> lik."""
    for suffix, minimum in (("ing", 5), ("ers", 6), ("er", 7), ("ed", 5), ("es", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) >= minimum:
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def words(text: str) -> list[str]:
    """Index words; "unrepost" also counts as "un" + "repost", so "undo a retweet" finds it."""
    out = []
    for word in _WORD.findall(_CAMEL.sub(" ", text).replace("_", " ").lower()):
        if word in _STOP:
            continue
        out.append(stem(word))
        if stem(word) != word:
            out.append(word)  # the exact form too: "following" is closer to "following" than "followers"
        if _UNDO.match(word):
            out += ["un", stem(word[2:])]
    return out


def expand(query: str) -> dict[str, float]:
    """Query terms with weights: the words typed count fully, the spec's words for them half."""
    raw = _WORD.findall(query.lower().replace("@", " handle "))
    if raw and raw[0] in ("post", "tweet"):
        raw.insert(0, "create")  # "post a tweet": the verb
    terms: dict[str, float] = {}
    for word in raw:
        if word in _STOP:
            continue
        if word in _PRONOUNS:  # "my lists": whose lists, a hint; the lists are what is asked for
            terms["authenticat"] = max(terms.get("authenticat", 0.0), 0.5)
            continue
        for term, weight in ((word, 1.0), (stem(word), 1.0)):
            terms[term] = max(terms.get(term, 0.0), weight)
        for synonym in _SYNONYMS.get(word, "").split():
            terms[stem(synonym)] = max(terms.get(stem(synonym), 0.0), 0.5)
    return terms


@dataclass
class SearchIndex:
    """BM25 over each tool's name, title, tags, description and argument names, weighted by field."""

    docs: dict[str, dict[str, Counter[str]]]
    idf: dict[str, float]
    average: dict[str, float]  # per field: BM25F normalises each field by its own average length

    @classmethod
    def build(cls, tools: dict[str, ToolDef]) -> SearchIndex:
        docs: dict[str, dict[str, Counter[str]]] = {}
        for name, tool in tools.items():
            docs[name] = {
                "name": Counter(words(name)),
                "title": Counter(words(tool.title)),
                "tags": Counter(words(" ".join(tool.tags))),
                "description": Counter(words(tool.description)),
                "args": Counter(words(" ".join(tool.arg_names))),
            }
        frequency: Counter[str] = Counter()
        for fields in docs.values():
            frequency.update(set().union(*fields.values()))
        count = max(len(docs), 1)
        idf = {w: math.log(1 + (count - n + 0.5) / (n + 0.5)) for w, n in frequency.items()}
        average = {field: max(sum(sum(d[field].values()) for d in docs.values()) / count, 1.0) for field, _ in _FIELDS}
        return cls(docs, idf, average)

    def search(self, query: str, tools: dict[str, ToolDef], limit: int = 8) -> list[tuple[str, float]]:
        terms = expand(query)
        if not terms:
            return []
        wants_write = _asks_to_write(query)
        scored = []
        for name, fields in self.docs.items():
            norms = {f: 0.25 + 0.75 * sum(fields[f].values()) / self.average[f] for f, _ in _FIELDS}
            score = 0.0
            for term, term_weight in terms.items():
                idf = self.idf.get(term)
                if idf is None:
                    continue
                tf = sum(weight * fields[field][term] / norms[field] for field, weight in _FIELDS)
                if tf:
                    score += term_weight * idf * tf * 2.2 / (tf + 1.2)
            if score <= 0:
                continue
            is_read = tools[name].plan.method == "GET"
            if wants_write == is_read:
                score *= 0.6  # "post a tweet" wants the write tool, "who follows" the read one
            scored.append((name, score))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:limit]


def _asks_to_write(query: str) -> bool:
    """A request to change something starts with its verb: "mute a user", "bookmark a tweet".

    "my bookmarks", "who liked this tweet" and "tweets posted by a user" name things to read, even
    though bookmark, like and post are also verbs.
    """
    first = next((w for w in _WORD.findall(query.lower()) if w not in _STOP), "")
    if first in _READ_WORDS or (first.endswith("s") and not first.endswith("ss")):
        return False
    forms = {first, stem(first), *(stem(s) for s in _SYNONYMS.get(first, "").split())}
    return bool(forms & _WRITE_WORDS) or first in ("post", "tweet") or bool(_UNDO.match(first))


def discovery_tools() -> list[dict[str, Any]]:
    """The three tools as plain dicts (name, description, inputSchema, annotations)."""
    return [
        {
            "name": SEARCH,
            "description": (
                "Find X API tools for a task in plain words (e.g. 'recent posts about AI', 'who follows @jack'). "
                "Returns tool names with one-line summaries; then describe_x_api or call_x_api."
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What you want to do."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 25, "default": 8},
                },
                "required": ["query"],
            },
            "annotations": {"readOnlyHint": True, "openWorldHint": False},
        },
        {
            "name": DESCRIBE,
            "description": "The full input schema, method, path and credential needs of one X API tool.",
            "inputSchema": {
                "type": "object",
                "properties": {"name": {"type": "string", "description": "A tool name from search_x_api."}},
                "required": ["name"],
            },
            "annotations": {"readOnlyHint": True, "openWorldHint": False},
        },
        {
            "name": CALL,
            "description": (
                "Call an X API tool by name with its arguments (see describe_x_api). Writes act as the authorised user."
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The tool name."},
                    "arguments": {"type": "object", "description": "The tool's arguments."},
                },
                "required": ["name"],
            },
            "annotations": {"destructiveHint": True},
        },
    ]


def search_result(index: SearchIndex, tools: dict[str, ToolDef], query: str, limit: int) -> str:
    hits = index.search(query, tools, limit)
    if not hits:
        return json.dumps({"tools": [], "hint": "No tool matched; try other words (e.g. post, user, follow, list)."})
    rows = [
        {"name": name, "summary": trim_description(tools[name].description, 100), "method": tools[name].plan.method}
        for name, _ in hits
    ]
    return json.dumps({"tools": rows}, separators=(",", ":"), ensure_ascii=False)


def describe_result(tool: ToolDef) -> str:
    auth = [kind.value for kind in tool.auth.accepted]
    body: dict[str, Any] = {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "method": tool.plan.method,
        "path": tool.plan.path,
        "credentials": auth,
        "inputSchema": tool.input_schema,
        "readOnly": tool.plan.method == "GET",
    }
    if tool.auth.scopes:
        body["oauth2_scopes"] = list(tool.auth.scopes)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
