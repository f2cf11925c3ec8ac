"""X's answers that mean "no more money" or "not allowed to spend", told apart from a rate limit.

A usage cap comes back as HTTP 429 like a rate limit, but waiting 15 minutes does not help: the
cap holds until the period ends or the person raises the spending limit. Credits run out (402),
and an app that is not enrolled is refused (403). None of these may be retried, and each needs a
person in the developer console; this module recognises them in both of X's error shapes
(problem+json at the top level, and `{"errors": [...]}`) and says what to do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Kind = Literal["credits-depleted", "usage-capped", "client-not-enrolled"]
CONSOLE = "https://console.x.com"
# How long billable calls stay refused locally after a refusal with no period of its own (credits,
# enrolment): long enough not to hammer X, short enough to notice a fix made in the console.
DEFAULT_PAUSE = timedelta(minutes=15)


@dataclass(frozen=True)
class BillingStop:
    """X refused a call for a billing or enrolment reason: what happened, what to do, how long to stop."""

    kind: Kind
    status: int
    title: str
    detail: str = ""
    period: str | None = None  # usage cap: "Daily" / "Monthly"
    scope: str | None = None  # usage cap: "Product" / "Account" ...
    registration_url: str | None = None  # enrolment: where X says to enrol

    @property
    def message(self) -> str:
        said = f"{self.status} {self.title}" + (f": {self.detail}" if self.detail else "")
        if self.kind == "credits-depleted":
            return (
                f"X refused the call: the app's prepaid credits are used up ({said}). Nothing that costs money "
                f"will work until credits are added: buy credits (or turn on auto-recharge) in the developer "
                f"console, {CONSOLE}, under Billing."
            )
        if self.kind == "usage-capped":
            which = " ".join(part.lower() for part in (self.period, self.scope) if part) or "a"
            return (
                f"X refused the call: {which} usage cap or spending limit is reached ({said}). This is not a rate "
                f"limit; waiting minutes will not help. Raise the spending limit in the developer console, "
                f"{CONSOLE}, under Billing, or wait until the cap resets"
                + (
                    " (the monthly post-read cap of self-serve plans needs an Enterprise plan to go higher)."
                    if self.scope == "Product"
                    else "."
                )
            )
        where = self.registration_url or CONSOLE
        return (
            f"X refused the call: this app is not enrolled for X API access ({said}). Enrol it — put the app in a "
            f"project with pay-per-use access and buy credits — in the developer console: {where}."
        )

    def blocked_until(self, now: datetime, pause: timedelta = DEFAULT_PAUSE) -> datetime:
        """Until when to refuse billable calls locally: a cap's period end, else `pause` from now.

        A monthly cap is taken to end with the calendar month (UTC); X's billing cycle may start on
        another day, which only X's console shows.
        """
        now = now.astimezone(UTC)
        period = (self.period or "").lower() if self.kind == "usage-capped" else ""
        if period == "daily":
            return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        if period == "monthly":
            year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
            return datetime(year, month, 1, tzinfo=UTC)
        return now + pause


def billing_stop(status: int, body: Any) -> BillingStop | None:
    """The billing/enrolment refusal in an error answer, or None for any other answer."""
    if status < 400:
        return None
    for problem in _problems(body):
        kind = _kind(problem)
        if kind is not None:
            return BillingStop(
                kind=kind,
                status=status,
                title=_text(problem.get("title")) or kind,
                detail=_text(problem.get("detail") or problem.get("message")),
                period=_text(problem.get("period")) or None,
                scope=_text(problem.get("scope")) or None,
                registration_url=_text(problem.get("registration_url")) or None,
            )
    return None


def is_rate_limit(status: int, headers: Mapping[str, str], body: Any) -> bool:
    """A real rate limit (wait for `x-rate-limit-reset`), as opposed to a usage cap on the same 429."""
    if status != 429 or billing_stop(status, body) is not None:
        return False
    if any(name.lower().startswith("x-rate-limit-") for name in headers):
        return True
    return any(_text(p.get("type")).endswith("/rate-limit-exceeded") or p.get("code") == 88 for p in _problems(body))


def _kind(problem: Mapping[str, Any]) -> Kind | None:
    kind = _text(problem.get("type")).rsplit("/", 1)[-1]
    title = _text(problem.get("title")).replace(" ", "").lower()
    if kind == "credits-depleted" or title == "creditsdepleted":
        return "credits-depleted"
    if kind == "usage-capped" or title == "usagecapexceeded":
        return "usage-capped"
    if (kind == "client-forbidden" or title == "clientforbidden") and problem.get("reason") == "client-not-enrolled":
        return "client-not-enrolled"
    return None


def _problems(body: Any) -> Iterator[Mapping[str, Any]]:
    """Each problem object in a body: the problem+json itself, then each of `errors[]`."""
    if isinstance(body, dict):
        yield body
        errors = body.get("errors")
        for item in errors if isinstance(errors, list) else []:
            if isinstance(item, dict):
                yield item


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
