"""Which of X's billing categories each operation falls in, read from the OpenAPI document.

X bills reads per resource returned and writes per request, in named categories ("Posts: Read",
"Content: Create", ...). Reads are decided by what the response carries: the `$ref` of its `data`
(`Tweet` → "Posts: Read", `User` → "User: Read", ...), so a new endpoint that returns posts is
priced without a code change. What a schema cannot tell — the follower graph's own rate, counts
billed per request, Owned Reads, and every write (a write's response is only `{"liked": true}`) — is
in the short path tables below. An operation none of this covers is *unpriced*: listed by
`unpriced()`, never silently given a price.

What cannot be known locally, and is therefore the caller's to say or an assumption elsewhere:
whether `{id}` is the authenticated app owner (Owned Reads, `owner_context`), whether X bills
`includes` (see `cost.Assumptions`), and X's own mapping of writes to categories, which X does not
publish per endpoint (the write table is our reading of the category names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import replace as _replace
from typing import Any, Literal

from xapi_mcp.tools.delivery import is_streaming
from xapi_mcp.tools.schema import RefResolver
from xapi_mcp.tools.streams import ITEMS_ARG

Per = Literal["resource", "request"]
_METHODS = ("get", "post", "put", "delete", "patch")
_SUCCESS = ("200", "201", "202")

# Response item schema -> (category, resource kind used for X's once-a-day dedup, its ID field).
READ_BY_SCHEMA: dict[str, tuple[str, str, str]] = {
    "Tweet": ("Posts: Read", "post", "id"),
    "User": ("User: Read", "user", "id"),
    "DmEvent": ("DM Event: Read", "dm_event", "id"),
    "List": ("List: Read", "list", "id"),
    "Space": ("Space: Read", "space", "id"),
    "Community": ("Community: Read", "community", "id"),
    "Note": ("Note: Read", "note", "id"),
    "Media": ("Media: Read", "media", "media_key"),
    "Trend": ("Trend: Read", "trend", ""),  # trends carry no ID: each one returned is counted
    "PersonalizedTrend": ("Trend: Read", "trend", ""),
    "Engagement": ("Analytics: Read", "analytics", ""),
    # Analytics responses have inline item schemas: named by the response's own schema.
    "Analytics": ("Analytics: Read", "analytics", "id"),
    "MediaAnalytics": ("Analytics: Read", "analytics", "media_key"),
}

_P = r"\{[^}/]+\}"  # any path parameter
# Reads the response schema cannot tell apart: (path pattern, category, billed per).
READ_BY_PATH: tuple[tuple[re.Pattern[str], str, Per], ...] = (
    (re.compile(rf"^/2/users/{_P}/(followers|following)$"), "Following/Followers: Read", "resource"),
    (re.compile(r"^/2/tweets/counts/recent$"), "Counts: Recent", "request"),
    (re.compile(r"^/2/tweets/counts/all$"), "Counts: All", "request"),
)
# X's Owned Reads: these GETs cost $0.001 a resource when {id} is the app owner's own account.
OWNED_READS = re.compile(
    r"^/2/users/\{id\}/(tweets|mentions|liked_tweets|bookmarks|followers|following|blocking|muting"
    r"|owned_lists|followed_lists|list_memberships|pinned_lists)$"
)
# Writes, per request, first match wins: (methods, path pattern, category).
WRITE_BY_PATH: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = tuple(
    (frozenset(methods.split()), re.compile(pattern.replace("{p}", _P)), category)
    for methods, pattern, category in (
        ("POST", r"^/2/tweets$", "Content: Create"),
        ("PUT", r"^/2/tweets/{p}/hidden$", "Content: Manage"),
        ("POST", r"^/2/dm_conversations(/{p}|/with/{p})?(/messages)?$", "DM Interaction: Create"),
        ("POST", r"^/2/users/{p}/(likes|retweets|following|followed_lists|muting)$", "User Interaction: Create"),
        ("POST DELETE", r"^/2/users/{p}/bookmarks(/{p})?$", "Bookmark"),
        ("POST", r"^/2/users/{p}/dm/(block|unblock)$", "Privacy: Update"),
        ("DELETE", r"^/2/users/{p}/muting/{p}$", "Mute: Delete"),
        ("POST", r"^/2/lists$", "List: Create"),
        ("PUT DELETE", r"^/2/lists/{p}$", "List: Manage"),
        ("POST DELETE", r"^/2/lists/{p}/members(/{p})?$", "List: Manage"),
        ("POST DELETE", r"^/2/users/{p}/pinned_lists(/{p})?$", "List: Manage"),
        ("POST DELETE", r"^/2/media/(metadata|subtitles)$", "Media Metadata"),
        ("POST", r"^/2/media/upload(/initialize|/{p}/append|/{p}/finalize)?$", "Content: Manage"),
        ("DELETE", r"^/2/users/{p}/(likes|retweets|following|followed_lists)/{p}$", "Interaction: Delete"),
        ("DELETE", r"^/2/(tweets|dm_events)/{p}$", "Interaction: Delete"),
    )
)
# Query parameters that cap how many resources one call returns.
LIMIT_PARAMS = ("max_results", "max_trends")


@dataclass(frozen=True)
class BillingRule:
    """How one operation is billed, with the spec facts an estimate needs."""

    operation_id: str
    method: str  # upper case
    path: str
    category: str | None  # None: no known price
    per: Per
    basis: str  # why this category, for `tools --prices` and reviews
    kind: str | None = None  # resource kind for dedup ("post", "user", ...)
    id_field: str = "id"  # "" when items carry no ID (each counted)
    owned_category: str | None = None  # "Owned Reads" when {id} is the app owner's own account
    url_category: str | None = None  # "Content: Create with URL" when the post's text has a URL
    single: bool = False  # `data` is one object
    limit_arg: str | None = None  # max_results / max_trends
    limit_default: int | None = None
    limit_max: int | None = None
    count_arg: str | None = None  # ids / usernames / media_keys: one resource per item
    count_max: int | None = None
    expansions: bool = False  # takes `expansions` (which may add billed `includes`)

    @property
    def priced(self) -> bool:
        return self.category is not None


def billing_rules(document: Mapping[str, Any]) -> dict[str, BillingRule]:
    """Every operation's rule, by operationId (`METHOD path` when it has none)."""
    resolver = RefResolver(dict(document))
    rules: dict[str, BillingRule] = {}
    for path, item in (document.get("paths") or {}).items():
        item = resolver.deref(item)
        for method in _METHODS:
            operation = item.get(method) if isinstance(item, dict) else None
            if isinstance(operation, dict):
                rule = _rule(resolver, method.upper(), path, operation, item.get("parameters") or [])
                rules.setdefault(rule.operation_id, rule)
    return rules


def rule_for(document: Mapping[str, Any], method: str, path: str) -> BillingRule:
    """The rule of the operation `method path` (KeyError when the document has no such operation)."""
    resolver = RefResolver(dict(document))
    item = resolver.deref((document.get("paths") or {})[path])
    operation = item[method.lower()]
    return _rule(resolver, method.upper(), path, operation, item.get("parameters") or [])


def unpriced(document: Mapping[str, Any], only: Iterable[str] | None = None) -> list[str]:
    """operationIds with no known price (restricted to `only`, e.g. the catalog's tools)."""
    wanted = None if only is None else set(only)
    return [op for op, rule in billing_rules(document).items() if not rule.priced and (wanted is None or op in wanted)]


def _rule(resolver: RefResolver, method: str, path: str, operation: dict[str, Any], shared: list[Any]) -> BillingRule:
    op_id = str(operation.get("operationId") or f"{method} {path}")
    if method != "GET":
        return _write_rule(op_id, method, path)
    base = BillingRule(operation_id=op_id, method=method, path=path, category=None, per="resource", basis="")
    for pattern, category, per in READ_BY_PATH:
        if pattern.match(path):
            if per == "request":
                return _replace(base, category=category, per="request", basis=f"path {pattern.pattern}")
            base = _replace(base, category=category, basis=f"path {pattern.pattern}")
    item, single, top = _response_data(resolver, operation)
    known = READ_BY_SCHEMA.get(item or "") or READ_BY_SCHEMA.get(top or "")
    if known is None:
        basis = f"response data {item or top or 'without a schema'} has no price on X's pricing page"
        return _replace(base, category=None, basis=basis)
    category, kind, id_field = known
    if base.category is None:
        base = _replace(base, category=category, basis=f"response data {item or top}")
    params = _params(resolver, shared, operation)
    if is_streaming(operation, resolver):  # one `data` per message, billed per message up to max_items
        return _replace(
            base,
            kind=kind,
            id_field=id_field,
            basis=f"{base.basis}, per streamed item (up to {ITEMS_ARG})",
            limit_arg=ITEMS_ARG,
            expansions="expansions" in params,
        )
    limit = next((params[name] for name in LIMIT_PARAMS if name in params), None)
    count = _count_param(params) if limit is None and not single else None
    return _replace(
        base,
        kind=kind,
        id_field=id_field,
        single=single,
        owned_category="Owned Reads" if OWNED_READS.match(path) else None,
        limit_arg=limit["name"] if limit else None,
        limit_default=_int(limit["schema"].get("default")) if limit else None,
        limit_max=_int(limit["schema"].get("maximum")) if limit else None,
        count_arg=count["name"] if count else None,
        count_max=_int(count["schema"].get("maxItems")) if count else None,
        expansions="expansions" in params,
    )


def _write_rule(op_id: str, method: str, path: str) -> BillingRule:
    for methods, pattern, category in WRITE_BY_PATH:
        if method in methods and pattern.match(path):
            return BillingRule(
                operation_id=op_id,
                method=method,
                path=path,
                category=category,
                per="request",
                basis=f"{method} {pattern.pattern}",
                url_category="Content: Create with URL" if category == "Content: Create" else None,
            )
    basis = f"{method} {path}: no category on X's pricing page matches"
    return BillingRule(operation_id=op_id, method=method, path=path, category=None, per="request", basis=basis)


def _response_data(resolver: RefResolver, operation: dict[str, Any]) -> tuple[str | None, bool, str | None]:
    """(item schema name of `data`, whether `data` is one object, the response schema's name)."""
    responses = operation.get("responses") or {}
    response = resolver.deref(next((responses[c] for c in _SUCCESS if c in responses), {}))
    content = (response or {}).get("content") or {}
    media: dict[str, Any] = content.get("application/json") or next(iter(content.values()), {})
    schema = (media or {}).get("schema") or {}
    top = _ref_name(schema)
    data = (resolver.deref(schema).get("properties") or {}).get("data") or {}
    if "$ref" in data:
        return _ref_name(data), True, top
    return _ref_name(data.get("items") or {}), False, top


def _params(resolver: RefResolver, shared: list[Any], operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Query parameters by name, each with its dereferenced schema."""
    found: dict[str, dict[str, Any]] = {}
    for raw in [*shared, *(operation.get("parameters") or [])]:
        param = resolver.deref(raw)
        if isinstance(param, dict) and param.get("in") == "query":
            found[param["name"]] = {**param, "schema": resolver.deref(param.get("schema") or {})}
    return found


def _count_param(params: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The required array parameter whose items each ask for one resource (`ids`, `usernames`)."""
    return next(
        (
            p
            for p in params.values()
            if p.get("required") and p["schema"].get("type") == "array" and "maxItems" in p["schema"]
        ),
        None,
    )


def _ref_name(schema: Any) -> str | None:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
