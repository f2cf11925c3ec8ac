"""Estimate before a call (worst case) and charge after it (what X returned, once per UTC day)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import load_document
from xapi_mcp.calls.billing import BillingRule, billing_rules
from xapi_mcp.calls.cost import Assumptions, charge, estimate, find_url, resource_keys, usd
from xapi_mcp.calls.prices import PriceTable, shipped_prices

PRICES = shipped_prices()


@pytest.fixture(scope="module")
def rules() -> dict[str, BillingRule]:
    return billing_rules(load_document("2.159"))


def posts(*ids: int | str) -> list[dict[str, Any]]:
    return [{"id": str(i), "text": f"post {i}"} for i in ids]


def test_read_estimate_from_max_results_and_its_actual(rules: dict[str, BillingRule]) -> None:
    rule = rules["searchPostsRecent"]
    guess = estimate(rule, {"query": "cats", "max_results": 100}, PRICES)
    assert guess.usd == Decimal("0.500")
    assert guess.resources == {"Posts: Read": 100}
    assert guess.why == "up to 100 posts at $0.005"
    actual = charge(rule, {"data": posts(*range(37)), "meta": {"result_count": 37}}, set(), PRICES)
    assert actual.usd == Decimal("0.185") and actual.resources == {"Posts: Read": 37}
    assert actual.usd <= guess.usd
    assert actual.keys == {f"post:{i}" for i in range(37)}


def test_read_estimate_falls_back_to_the_spec_default_then_its_maximum(rules: dict[str, BillingRule]) -> None:
    default = estimate(rules["searchPostsRecent"], {"query": "cats"}, PRICES)
    assert default.usd == Decimal("0.050") and "max_results not given: X's default" in default.why
    # getUsersFollowers names no default in the spec: the worst case is its maximum, 1000 users.
    maximum = estimate(rules["getUsersFollowers"], {"id": "1"}, PRICES)
    assert maximum.resources == {"Following/Followers: Read": 1000} and maximum.usd == Decimal("10.000")
    assert "its maximum" in maximum.why
    assert estimate(rules["getUsersFollowers"], {"id": "1", "max_results": "20"}, PRICES).usd == Decimal("0.200")


def test_read_estimate_counts_requested_ids(rules: dict[str, BillingRule]) -> None:
    assert estimate(rules["getUsersByIds"], {"ids": ["1", "2", "3"]}, PRICES).usd == Decimal("0.030")
    assert estimate(rules["getPostsByIds"], {"ids": "1, 2,3,4"}, PRICES).resources == {"Posts: Read": 4}
    assert estimate(rules["getUsersByUsernames"], {"usernames": ["xdevelopers"]}, PRICES).why.startswith(
        "up to 1 user "
    )
    single = estimate(rules["getUsersMe"], {}, PRICES)
    assert (single.usd, single.why) == (Decimal("0.010"), "1 user at $0.010")


def test_expansions_add_billed_includes_and_the_assumption_can_be_turned_off(rules: dict[str, BillingRule]) -> None:
    rule = rules["searchPostsRecent"]
    arguments = {
        "query": "cats",
        "max_results": 10,
        "expansions": ["author_id", "attachments.media_keys", "geo.place_id"],
    }
    guess = estimate(rule, arguments, PRICES)
    # 10 posts $0.050 + 10 authors $0.100 + 40 media $0.200; places are not billed.
    assert guess.resources == {"Posts: Read": 10, "User: Read": 10, "Media: Read": 40}
    assert guess.usd == Decimal("0.350")
    assert "assumes X bills `includes`" in guess.why and "expansions author_id" in guess.why
    assert estimate(rule, {**arguments, "expansions": "author_id,geo.place_id"}, PRICES).usd == Decimal("0.150")
    unbilled = Assumptions(bill_includes=False)
    assert estimate(rule, arguments, PRICES, assumptions=unbilled).usd == Decimal("0.050")
    response = {"data": posts(1, 2), "includes": {"users": [{"id": "9"}], "places": [{"id": "p"}]}}
    assert charge(rule, response, set(), PRICES).resources == {"Posts: Read": 2, "User: Read": 1}
    assert charge(rule, response, set(), PRICES, assumptions=unbilled).resources == {"Posts: Read": 2}


def test_an_expansion_from_a_newer_spec_is_counted_generously(rules: dict[str, BillingRule]) -> None:
    guess = estimate(rules["getPostsById"], {"id": "1", "expansions": ["future.thing_ids", "future.poll_ids"]}, PRICES)
    assert guess.resources == {"Posts: Read": 1, "User: Read": 10}


def test_owned_reads_only_when_the_caller_says_so(rules: dict[str, BillingRule]) -> None:
    rule = rules["getUsersPosts"]
    arguments = {"id": "2244994945", "max_results": 100}
    assert estimate(rule, arguments, PRICES).usd == Decimal("0.500")
    owned = estimate(rule, arguments, PRICES, owner_context=True)
    assert (owned.usd, owned.resources) == (Decimal("0.100"), {"Owned Reads": 100})
    assert owned.why == "up to 100 posts at $0.001 (Owned Reads: the app owner's own data)"
    response = {"data": posts(1, 2), "includes": {"tweets": posts(3), "users": [{"id": "9"}]}}
    paid = charge(rule, response, set(), PRICES, owner_context=True)
    # The owner's own posts at $0.001; what expansions pull in keeps its own rate.
    assert paid.resources == {"Owned Reads": 2, "Posts: Read": 1, "User: Read": 1}
    assert paid.usd == Decimal("0.017")
    # Not an Owned Reads endpoint: owner_context changes nothing.
    assert estimate(rules["searchPostsRecent"], {"max_results": 10}, PRICES, owner_context=True).usd == Decimal("0.050")


def test_write_costs_a_request_and_a_url_makes_it_0_200(rules: dict[str, BillingRule]) -> None:
    rule = rules["createPosts"]
    plain = estimate(rule, {"text": "Good morning"}, PRICES)
    assert (plain.usd, plain.resources, plain.url) == (Decimal("0.015"), {"Content: Create": 1}, None)
    linked = estimate(rule, {"text": "Read this: example.com/x"}, PRICES)
    assert linked.usd == Decimal("0.200") and linked.resources == {"Content: Create with URL": 1}
    assert linked.why == "post with a URL (example.com/x): $0.200 instead of $0.015"
    assert charge(rule, {"data": {"id": "1", "text": "Good morning"}}, set(), PRICES).usd == Decimal("0.015")
    # X answers with the stored text, URLs as t.co links: the charge sees them even without the arguments.
    shortened = {"data": {"id": "2", "text": "Read this: https://t.co/AbC123"}}
    assert charge(rule, shortened, set(), PRICES).resources == {"Content: Create with URL": 1}
    assert charge(rule, {"data": {"id": "3"}}, set(), PRICES, arguments={"text": "www.x.com"}).usd == Decimal("0.200")
    like = estimate(rules["likePost"], {"id": "1", "tweet_id": "2", "text": "example.com"}, PRICES)
    assert (like.usd, like.why) == (Decimal("0.015"), "1 request (User Interaction: Create) at $0.015")


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://x.com/a", "https://x.com/a"),
        ("see http://example.org.", "http://example.org."),
        ("go to www.example.net now", "www.example.net"),
        ("example.com", "example.com"),
        ("Read example.com/x today", "example.com/x"),
        ("bbc.co.uk/news", "bbc.co.uk/news"),
        ("x.ai", "x.ai"),
        ("my.photography/portfolio", "my.photography/portfolio"),
        ("EXAMPLE.COM/Path?q=1", "EXAMPLE.COM/Path?q=1"),
        ("no link here", None),
        ("node.js and file.txt", None),
        ("e.g. this, i.e. that", None),
        ("version 1.2.3", None),
        ("costs $1.50", None),
        ("Hello.It's me", None),
        (None, None),
    ],
)
def test_url_detection(text: str | None, url: str | None) -> None:
    assert find_url(text) == url


def test_dedup_within_an_answer_and_across_calls(rules: dict[str, BillingRule]) -> None:
    rule = rules["searchPostsRecent"]
    first = {"data": posts(1, 2, 1), "includes": {"tweets": posts(2, 3), "users": [{"id": "9"}, {"id": "9"}]}}
    assert resource_keys(rule, first) == ["post:1", "post:2", "post:1", "post:2", "post:3", "user:9", "user:9"]
    paid = charge(rule, first, set(), PRICES)
    assert paid.resources == {"Posts: Read": 3, "User: Read": 1}
    assert (paid.usd, paid.repeats, paid.keys) == (Decimal("0.025"), 3, {"post:1", "post:2", "post:3", "user:9"})
    again = charge(rule, {"data": posts(1, 2, 4)}, paid.keys, PRICES)
    assert (again.usd, again.resources, again.repeats, again.keys) == (
        Decimal("0.005"),
        {"Posts: Read": 1},
        2,
        {"post:4"},
    )


def test_items_without_an_id_are_each_counted(rules: dict[str, BillingRule]) -> None:
    trends = {"data": [{"trend_name": "#a", "tweet_count": 5}, {"trend_name": "#a"}]}
    paid = charge(rules["getTrendsByWoeid"], trends, set(), PRICES)
    assert (paid.usd, paid.keys, paid.repeats) == (Decimal("0.020"), frozenset(), 0)
    media = charge(rules["getMediaByMediaKeys"], {"data": [{"media_key": "3_1"}, {"media_key": "3_1"}]}, set(), PRICES)
    assert (media.usd, media.keys) == (Decimal("0.005"), {"media:3_1"})


def test_counts_unpriced_and_empty_answers(rules: dict[str, BillingRule]) -> None:
    counts = rules["getPostsCountsRecent"]
    buckets = {"data": [{"tweet_count": 5}] * 7, "meta": {"total_tweet_count": 35}}
    assert (
        estimate(counts, {"query": "cats"}, PRICES).usd
        == charge(counts, buckets, set(), PRICES).usd
        == Decimal("0.005")
    )
    usage = rules["getUsage"]
    guess = estimate(usage, {}, PRICES)
    assert (guess.usd, guess.priced) == (Decimal(0), False) and "no known price for getUsage" in guess.why
    assert charge(usage, {"data": {"project_usage": "5"}}, set(), PRICES).priced is False
    only_errors = {"errors": [{"title": "Not Found Error", "resource_id": "1"}]}
    assert charge(rules["getPostsByIds"], only_errors, set(), PRICES).usd == 0
    assert charge(rules["getPostsByIds"], None, set(), PRICES).usd == 0


def test_an_overridden_rate_is_what_estimate_and_charge_use(rules: dict[str, BillingRule]) -> None:
    table = PriceTable({**PRICES.rates, "Posts: Read": Decimal("0.0045")}, PRICES.date, PRICES.source)
    guess = estimate(rules["searchPostsRecent"], {"max_results": 10}, table)
    assert guess.usd == Decimal("0.0450") and guess.why == "up to 10 posts at $0.0045"
    assert charge(rules["searchPostsRecent"], {"data": posts(1)}, set(), table).usd == Decimal("0.0045")
    # A rate overridden to zero is zero, not "unknown".
    free_links = PriceTable({**PRICES.rates, "Content: Create with URL": Decimal(0)}, PRICES.date, PRICES.source)
    linked = {"data": {"id": "1", "text": "https://t.co/x"}}
    assert charge(rules["createPosts"], linked, set(), free_links).usd == 0


def test_money_format() -> None:
    assert [usd(Decimal(v)) for v in ("0.005", "0.5", "10", "0.0045", "1.23456")] == [
        "$0.005",
        "$0.500",
        "$10.000",
        "$0.0045",
        "$1.23456",
    ]
