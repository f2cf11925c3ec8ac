"""What a call may cost before it is sent (`estimate`), and what it did cost after (`charge`).

The estimate is a worst case, so a budget check never lets through a call that could cross it:
reads bill per resource, up to `max_results` (or the spec's default, else its maximum), or one per
requested ID; writes bill per request, $0.200 instead of $0.015 for a post whose text has a URL.
The charge counts what X actually returned and skips what X already charged today (X bills a
resource once per UTC day), so the ledger's figure tracks X's.

Assumption (configurable, `Assumptions.bill_includes`): X bills resources in `includes` (the users,
posts and media that `expansions` pull in) like those in `data`. X's pricing page says "per
resource returned" without an exception for them; the cautious reading counts them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from xapi_mcp.calls.billing import BillingRule
from xapi_mcp.calls.prices import PriceTable

# `includes` key -> (category, resource kind, ID field). Polls, places and topics have no price.
INCLUDES: dict[str, tuple[str, str, str]] = {
    "tweets": ("Posts: Read", "post", "id"),
    "users": ("User: Read", "user", "id"),
    "media": ("Media: Read", "media", "media_key"),
}
# Worst case each expansion adds per primary resource: (includes key, at most). Where X sets no
# bound (mentions, a Space's speakers) the figure is our assumption, stated in the estimate.
EXPANSIONS: dict[str, tuple[str, int]] = {
    "author_id": ("users", 1),
    "in_reply_to_user_id": ("users", 1),
    "entities.mentions.username": ("users", 10),
    "entities.note.mentions.username": ("users", 10),
    "referenced_tweets.id": ("tweets", 2),  # replied-to and quoted
    "referenced_tweets.id.author_id": ("users", 2),
    "referenced_tweets.id.attachments.media_keys": ("media", 8),
    "attachments.media_keys": ("media", 4),
    "attachments.media_source_tweet": ("tweets", 1),
    "article.cover_media": ("media", 1),
    "article.media_entities": ("media", 4),
    "edit_history_tweet_ids": ("tweets", 5),
    "pinned_tweet_id": ("tweets", 1),
    "most_recent_tweet_id": ("tweets", 1),
    "affiliation.user_id": ("users", 1),
    "owner_id": ("users", 1),
    "creator_id": ("users", 1),
    "sender_id": ("users", 1),
    "liked_tweet_id": ("tweets", 1),
    "liked_tweet_author_id": ("users", 1),
}
_NOUNS = {  # resource kind -> (one, many)
    "post": ("post", "posts"),
    "user": ("user", "users"),
    "dm_event": ("DM event", "DM events"),
    "list": ("list", "lists"),
    "space": ("space", "spaces"),
    "community": ("community", "communities"),
    "note": ("note", "notes"),
    "media": ("media item", "media"),
    "trend": ("trend", "trends"),
    "analytics": ("analytics record", "analytics records"),
}
_INCLUDE_NOUNS = {"tweets": "posts", "users": "users", "media": "media"}
_GTLDS = (
    "com|net|org|edu|gov|mil|int|info|biz|io|co|ai|app|dev|me|tv|ly|gg|fm|to|sh|so|xyz|news|blog|site|online"
    "|store|shop|tech|page|link|live|club|top|art|cloud|social|media|pro|mobi|name|eu|asia|us|uk"
)
# X turns every URL it detects into a 23-character t.co link, and such a post costs $0.200. Cautious
# on purpose: scheme or www URLs, bare domains with a common gTLD ("example.com"), and any domain
# followed by a path ("example.photography/x"). A false alarm overstates a price; a miss understates it.
URL = re.compile(
    r"(?i)(?:\bhttps?://|\bwww\.)[^\s<>\"]+"
    rf"|\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:(?:{_GTLDS})\b(?![.-]?\w)(?:[/:?#][^\s<>\"]*)?|[a-z]{{2,63}}/[^\s<>\"]*)"
)


@dataclass(frozen=True)
class Assumptions:
    """What the estimate and the charge assume where X does not say; each can be changed."""

    bill_includes: bool = True  # X bills resources in `includes` like those in `data`
    expansions: Mapping[str, tuple[str, int]] = field(default_factory=lambda: dict(EXPANSIONS))
    unknown_expansion: int = 10  # per primary resource, for an expansion missing from the table
    unbounded_results: int = 100  # a list read whose spec sets no limit


ASSUMED = Assumptions()


@dataclass(frozen=True)
class Estimate:
    """The worst-case price of one call, with the reason in words."""

    usd: Decimal
    resources: Mapping[str, int]  # category -> worst-case count (resources, or requests for writes)
    why: str  # "up to 100 posts at $0.005"; "post with a URL: $0.200 instead of $0.015"
    priced: bool = True  # False: the operation has no known price (counted as $0)
    url: str | None = None  # the URL that makes a post cost the URL rate


@dataclass(frozen=True)
class Charge:
    """What one call cost: resources X returned and had not charged yet today."""

    usd: Decimal
    resources: Mapping[str, int]  # category -> resources (or requests) charged
    repeats: int = 0  # returned but already charged today (or twice in this answer)
    keys: frozenset[str] = frozenset()  # "post:123": to mark as charged for the rest of the UTC day
    priced: bool = True


def usd(amount: Decimal) -> str:
    """`$0.005`, `$1.500`: three decimals, more only when a rate has them."""
    exact = amount.normalize()
    return f"${amount:.3f}" if exact == round(exact, 3) else f"${exact:f}"


def find_url(text: Any) -> str | None:
    """The first thing in `text` that X would turn into a t.co link, or None."""
    match = URL.search(text) if isinstance(text, str) else None
    return match.group(0) if match else None


def estimate(
    rule: BillingRule,
    arguments: Mapping[str, Any],
    prices: PriceTable,
    *,
    owner_context: bool = False,
    assumptions: Assumptions = ASSUMED,
) -> Estimate:
    """Worst case for `arguments`. `owner_context`: `{id}` is the app owner's own and so are the tokens."""
    rate = prices.rate(rule.category)
    if rule.category is None or rate is None:
        why = f"no known price for {rule.operation_id} ({rule.basis}); counted as $0"
        return Estimate(Decimal(0), {}, why, priced=False)
    if rule.per == "request":
        url = find_url(arguments.get("text")) if rule.url_category else None
        url_rate = prices.rate(rule.url_category) if url else None
        if url and url_rate is not None:
            why = f"post with a URL ({url}): {usd(url_rate)} instead of {usd(rate)}"
            return Estimate(url_rate, {str(rule.url_category): 1}, why, url=url)
        return Estimate(rate, {rule.category: 1}, f"1 request ({rule.category}) at {usd(rate)}")
    count, bound = _worst_count(rule, arguments, assumptions)
    category, rate = _data_category(rule, prices, owner_context, rate)
    noun = _NOUNS.get(rule.kind or "", ("resource", "resources"))[count != 1]
    total = rate * count
    resources = {category: count}
    owned = " (Owned Reads: the app owner's own data)" if category != rule.category else ""
    parts = [f"{'up to ' if not rule.single else ''}{count} {noun}{bound} at {usd(rate)}{owned}"]
    if rule.expansions and assumptions.bill_includes:
        for key, extra, names in _expanded(arguments.get("expansions"), assumptions):
            inc_category = INCLUDES[key][0]
            inc_rate = prices.rate(inc_category) or Decimal(0)
            added = extra * count
            resources[inc_category] = resources.get(inc_category, 0) + added
            total += inc_rate * added
            parts.append(f"up to {added} {_INCLUDE_NOUNS[key]} from expansions {names} at {usd(inc_rate)}")
    why = "; ".join(parts) + (" (assumes X bills `includes`)" if len(parts) > 1 else "")
    return Estimate(total, resources, why)


def resource_keys(rule: BillingRule, response: Any, *, assumptions: Assumptions = ASSUMED) -> list[str]:
    """The dedup keys ("post:123") of the billed resources in `response`, to look up as already charged."""
    if rule.per != "resource" or rule.category is None:
        return []
    return [key for _category, key in _returned(rule, response, assumptions) if key]


def charge(
    rule: BillingRule,
    response: Any,
    seen: Collection[str],
    prices: PriceTable,
    *,
    arguments: Mapping[str, Any] | None = None,
    owner_context: bool = False,
    assumptions: Assumptions = ASSUMED,
) -> Charge:
    """The cost of a successful call's `response`; `seen` holds keys already charged today."""
    rate = prices.rate(rule.category)
    if rule.category is None or rate is None:
        return Charge(Decimal(0), {}, priced=False)
    if rule.per == "request":
        category: str = rule.category
        data = response.get("data") if isinstance(response, dict) else None
        sent = (arguments or {}).get("text"), data.get("text") if isinstance(data, dict) else None
        if rule.url_category and any(find_url(text) for text in sent):
            category = rule.url_category
        amount = prices.rate(category)
        return Charge(rate if amount is None else amount, {category: 1})
    data_category, data_rate = _data_category(rule, prices, owner_context, rate)
    counted: dict[str, int] = {}
    total, repeats, fresh = Decimal(0), 0, set()
    for included, key in _returned(rule, response, assumptions):
        if key and (key in seen or key in fresh):
            repeats += 1
            continue
        if key:
            fresh.add(key)
        billed = included or data_category
        counted[billed] = counted.get(billed, 0) + 1
        total += (prices.rate(included) or Decimal(0)) if included else data_rate
    return Charge(total, counted, repeats, frozenset(fresh))


def _returned(rule: BillingRule, response: Any, assumptions: Assumptions) -> Iterator[tuple[str | None, str]]:
    """(category, dedup key or "") per billed resource in `response`: `data` first, its category None."""
    if not isinstance(response, dict):
        return
    data = response.get("data")
    for item in [data] if isinstance(data, dict) else data if isinstance(data, list) else []:
        if item:  # `{}`: nothing was returned, so nothing is billed
            yield None, _key(rule.kind, item, rule.id_field)
    includes = response.get("includes") if assumptions.bill_includes else None
    if isinstance(includes, dict):
        for name, (category, kind, id_field) in INCLUDES.items():
            for item in includes.get(name) or []:
                yield category, _key(kind, item, id_field)


def _key(kind: str | None, item: Any, id_field: str) -> str:
    value = item.get(id_field) if isinstance(item, dict) and id_field else None
    return f"{kind}:{value}" if kind and isinstance(value, str | int) and value != "" else ""


def _data_category(rule: BillingRule, prices: PriceTable, owner_context: bool, rate: Decimal) -> tuple[str, Decimal]:
    """Owned Reads replace the data's own category when X's rule applies (the caller knows whether)."""
    owned_rate = prices.rate(rule.owned_category) if owner_context else None
    if rule.owned_category and owned_rate is not None:
        return rule.owned_category, owned_rate
    return str(rule.category), rate


def _worst_count(rule: BillingRule, arguments: Mapping[str, Any], assumptions: Assumptions) -> tuple[int, str]:
    """(at most how many resources, a note on where that number came from)."""
    if rule.single:
        return 1, ""
    if rule.count_arg:
        given = _items(arguments.get(rule.count_arg))
        if given:
            return len(given), ""
        return rule.count_max or assumptions.unbounded_results, f" (no {rule.count_arg} given: the most X allows)"
    if rule.limit_arg:
        asked = arguments.get(rule.limit_arg)
        if isinstance(asked, int | str) and not isinstance(asked, bool) and str(asked).strip().isdigit():
            return int(asked), ""
        if rule.limit_default is not None:
            return rule.limit_default, f" ({rule.limit_arg} not given: X's default)"
        if rule.limit_max is not None:
            return rule.limit_max, f" ({rule.limit_arg} not given and the spec names no default: its maximum)"
    return assumptions.unbounded_results, " (the spec sets no limit: assumed)"


def _expanded(value: Any, assumptions: Assumptions) -> Iterator[tuple[str, int, str]]:
    """(includes key, worst-case count per primary resource, expansion names) per billed includes key."""
    per_key: dict[str, tuple[int, list[str]]] = {}
    for name in _items(value):
        key, extra = assumptions.expansions.get(name) or _guess(name, assumptions)
        if key in INCLUDES:
            count, names = per_key.get(key, (0, []))
            per_key[key] = (count + extra, [*names, name])
    for key, (count, names) in per_key.items():
        yield key, count, ", ".join(names)


def _guess(name: str, assumptions: Assumptions) -> tuple[str, int]:
    """An expansion missing from the table (a newer spec): judged by its name, counted generously."""
    lowered = name.lower()
    if any(word in lowered for word in ("poll", "place", "topic")):
        return "", 0
    key = "media" if "media" in lowered else "tweets" if "tweet" in lowered else "users"
    return key, assumptions.unknown_expansion


def _items(value: Any) -> list[str]:
    """An array argument given as a list or as X's comma-separated string."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part) for part in value]
    return []
