"""X's billing refusals (credits, usage cap, enrolment) in both error shapes, apart from a rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from xapi_mcp.calls.billing_errors import DEFAULT_PAUSE, billing_stop, is_rate_limit

# Shapes from X's docs and public issue trackers (REFERENCE.md, "Billing and enrolment errors").
USAGE_CAP = {
    "title": "UsageCapExceeded",
    "detail": "Usage cap exceeded: Monthly product cap",
    "period": "Monthly",
    "scope": "Product",
    "type": "https://api.x.com/2/problems/usage-capped",
}
CREDITS = {
    "title": "CreditsDepleted",
    "detail": "Your enrolled account does not have any credits to fulfill this request.",
    "type": "https://api.x.com/2/problems/credits-depleted",
}
NOT_ENROLLED = {
    "title": "Client Forbidden",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a "
    "Twitter developer App that is attached to a Project.",
    "reason": "client-not-enrolled",
    "registration_url": "https://developer.x.com/en/portal/opt-in",
    "required_enrollment": "Appropriate Level of API Access",
    "type": "https://api.x.com/2/problems/client-forbidden",
}
RATE_HEADERS = {"x-rate-limit-limit": "300", "x-rate-limit-remaining": "0", "x-rate-limit-reset": "1795000000"}
NOW = datetime(2026, 11, 30, 21, 15, tzinfo=UTC)


def shapes(problem: dict[str, Any]) -> list[Any]:
    """problem+json at the top level, and the same problem inside `errors[]`."""
    return [problem, {"errors": [problem]}]


@pytest.mark.parametrize("body", shapes(USAGE_CAP))
def test_usage_cap_is_not_a_rate_limit_even_with_rate_limit_headers(body: Any) -> None:
    stop = billing_stop(429, body)
    assert stop is not None and stop.kind == "usage-capped"
    assert (stop.period, stop.scope, stop.status) == ("Monthly", "Product", 429)
    assert "not a rate limit" in stop.message and "spending limit" in stop.message
    assert "console.x.com" in stop.message and "Usage cap exceeded: Monthly product cap" in stop.message
    assert not is_rate_limit(429, RATE_HEADERS, body)
    # A monthly cap holds until the month is over (UTC), not for 15 minutes.
    assert stop.blocked_until(NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    assert stop.blocked_until(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)


def test_a_daily_cap_ends_at_the_next_utc_midnight_and_an_unknown_period_pauses() -> None:
    daily = billing_stop(429, {**USAGE_CAP, "period": "Daily", "scope": "Account"})
    assert daily is not None and "daily account usage cap" in daily.message
    assert daily.blocked_until(NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    odd = billing_stop(429, {**USAGE_CAP, "period": "Fortnightly"})
    assert odd is not None and odd.blocked_until(NOW, timedelta(minutes=5)) == NOW + timedelta(minutes=5)


@pytest.mark.parametrize("body", shapes(CREDITS))
def test_credits_depleted(body: Any) -> None:
    stop = billing_stop(402, body)
    assert stop is not None and stop.kind == "credits-depleted"
    assert "buy credits" in stop.message and "console.x.com" in stop.message
    assert stop.blocked_until(NOW) == NOW + DEFAULT_PAUSE


def test_credits_depleted_recognised_by_title_alone() -> None:
    stop = billing_stop(402, {"errors": [{"title": "CreditsDepleted", "message": "No credits"}]})
    assert stop is not None and stop.kind == "credits-depleted" and "No credits" in stop.message


@pytest.mark.parametrize("body", shapes(NOT_ENROLLED))
def test_client_not_enrolled(body: Any) -> None:
    stop = billing_stop(403, body)
    assert stop is not None and stop.kind == "client-not-enrolled"
    assert "not enrolled" in stop.message and "https://developer.x.com/en/portal/opt-in" in stop.message
    assert stop.blocked_until(NOW, timedelta(minutes=1)) == NOW + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (429, RATE_HEADERS, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"}),
        (429, {}, {"type": "https://api.x.com/2/problems/rate-limit-exceeded", "title": "Rate limit exceeded"}),
        (429, {}, {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}),
        (429, {"X-Rate-Limit-Reset": "1795000000"}, None),
    ],
)
def test_real_rate_limits(status: int, headers: dict[str, str], body: Any) -> None:
    assert billing_stop(status, body) is None
    assert is_rate_limit(status, headers, body)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, {**NOT_ENROLLED, "reason": "official-client-forbidden"}),  # forbidden, but not about enrolment
        (403, {"title": "Forbidden", "detail": "You are not permitted to perform this action."}),
        (200, {"data": [], "errors": [CREDITS]}),  # a partial error inside a success is not a refusal
        (500, "upstream timeout"),
        (400, {"errors": "not a list"}),
    ],
)
def test_other_answers_are_not_billing_stops(status: int, body: Any) -> None:
    assert billing_stop(status, body) is None
    assert not is_rate_limit(status, {}, body)
