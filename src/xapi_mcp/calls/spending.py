"""What every call to X costs: estimated before, held against the daily budget, settled after.

The executor sends each request through `Spending.send`: X's self-serve posting rules and a local
pause after X's billing refusals are checked first (nothing is sent), the worst-case estimate is
reserved against the budget (refused before sending when it would cross it), and what X returned
is charged — once per resource per UTC day, as X bills — when the answer comes. A `Tally` adds up
the requests of one tool call (a workflow sends several), and becomes the cost line and the
`_meta["xapi-mcp/cost"]` of its result.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio

from xapi_mcp.calls.arguments import PreparedRequest, prepare
from xapi_mcp.calls.billing import BillingRule, billing_rules
from xapi_mcp.calls.billing_errors import DEFAULT_PAUSE, billing_stop
from xapi_mcp.calls.cost import ASSUMED, Assumptions, Charge, Estimate, charge, estimate, resource_keys, usd
from xapi_mcp.calls.ledger import BudgetExceeded, Clock, SpendLedger, usd_setting, utc_now
from xapi_mcp.calls.posting_rules import Plan, explain_reply_refusal, posting_rule_violation
from xapi_mcp.calls.prices import PriceTable
from xapi_mcp.calls.results import ToolOutcome
from xapi_mcp.errors import StateUnavailable, XapiMcpError
from xapi_mcp.stores import CredentialKind
from xapi_mcp.tools.streams import ITEMS_ARG
from xapi_mcp.tools.tooldef import ToolDef

META_KEY = "xapi-mcp/cost"
ENV_CONFIRM_COST = "X_API_CONFIRM_COST_USD"
DEFAULT_CONFIRM_COST = Decimal("0.25")
Send = Callable[[ToolDef, PreparedRequest, CredentialKind], Awaitable[ToolOutcome]]
# Who the app owner is, for X's Owned Reads: the user ID behind `kind`'s tokens when they are the
# app owner's own (the access token configured in the environment), else None.
OwnerOf = Callable[[CredentialKind], str | None]

_NOUNS = {
    "Posts: Read": ("post", "posts"),
    "User: Read": ("user", "users"),
    "Following/Followers: Read": ("follower/following user", "follower/following users"),
    "DM Event: Read": ("DM event", "DM events"),
    "List: Read": ("list", "lists"),
    "Space: Read": ("space", "spaces"),
    "Community: Read": ("community", "communities"),
    "Note: Read": ("note", "notes"),
    "Media: Read": ("media item", "media items"),
    "Analytics: Read": ("analytics record", "analytics records"),
    "Trend: Read": ("trend", "trends"),
    "Owned Reads": ("owned read", "owned reads"),
}


log = logging.getLogger(__name__)

UNRECORDED = (
    "(X answered, so this result is real; but the spend ledger did not answer, so this call's cost is not in "
    "today's total and the budget may let through more than it should until it does. Do not repeat the call.)"
)


@dataclass
class Tally:
    """What one tool call cost so far: every request it sent to X (a workflow sends several)."""

    estimate: Decimal = Decimal(0)
    charged: Decimal = Decimal(0)
    resources: dict[str, int] = field(default_factory=dict)
    repeats: int = 0
    requests: int = 0
    unpriced: list[str] = field(default_factory=list)  # operations with no known price
    unrecorded: bool = False  # X answered, but the ledger did not take the charge (its store was down)

    def add(self, charged: Charge) -> None:
        self.charged += charged.usd
        self.repeats += charged.repeats
        for category, count in charged.resources.items():
            self.resources[category] = self.resources.get(category, 0) + count


class Spending:
    """The cost policy of this server: prices, rules per operation, the ledger and X's refusals."""

    def __init__(
        self,
        document: Mapping[str, Any],
        prices: PriceTable,
        ledger: SpendLedger,
        *,
        plan: Plan = "pay-per-use",
        confirm_above: Decimal | None = DEFAULT_CONFIRM_COST,
        owner_of: OwnerOf | None = None,
        pause: timedelta = DEFAULT_PAUSE,
        now: Clock = utc_now,
        assumptions: Assumptions = ASSUMED,
    ) -> None:
        self.rules = {(rule.method, rule.path): rule for rule in billing_rules(document).values()}
        self.prices, self.ledger, self.plan = prices, ledger, plan
        self.confirm_above, self.pause, self.assumptions = confirm_above, pause, assumptions
        self._owner_of = owner_of or (lambda kind: None)
        self._now = now
        self._paused: tuple[datetime, str] | None = None  # after X's billing refusal: until, why
        self._owned_id: dict[str, re.Pattern[str]] = {}

    def rule(self, tool: ToolDef) -> BillingRule | None:
        return self.rules.get((tool.plan.method, tool.plan.path))

    def estimate(self, tool: ToolDef, request: PreparedRequest, kind: CredentialKind) -> Estimate:
        """The worst-case price of sending `request` (what the budget holds and a person is shown)."""
        rule = self.rule(tool)
        if rule is None:
            return Estimate(Decimal(0), {}, f"{tool.name} is not an operation of the spec; counted as $0", False)
        return estimate(
            rule,
            _x_arguments(request),
            self.prices,
            owner_context=self._owned(rule, request, kind),
            assumptions=self.assumptions,
        )

    def refusal(self, tool: ToolDef, request: PreparedRequest) -> str | None:
        """Why this request must not be sent at all: X's posting rules, or the pause after a billing refusal."""
        broken = posting_rule_violation(request.method, tool.plan.path, _x_arguments(request), self.plan)
        if broken is not None:
            return broken
        rule = self.rule(tool)
        paused = self.paused() if rule is not None and rule.priced else None
        return f"Not sent: {paused}" if paused else None

    def paused(self) -> str | None:
        """While calls that cost money are paused after X's billing refusal: what happened and until when."""
        if self._paused is None:
            return None
        until, why = self._paused
        now = self._now()
        if now >= until:
            self._paused = None
            return None
        minutes = max(1, int((until - now).total_seconds() // 60))
        left = f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
        return (
            f"{why} Calls that cost money are paused here until {until:%Y-%m-%d %H:%M} UTC ({left} left) so that X "
            "is not sent calls it would refuse; restart xapi-mcp once it is fixed in the console to resume now."
        )

    def price(self, tool: ToolDef, estimated: Estimate | None, *, workflow: bool = False) -> str | None:
        """In a confirmation question: "$0.015 (Content: Create)", "up to $0.500 (up to 100 posts at $0.005)".

        `workflow`: the estimate covers every request a workflow tool sends (a thread's posts and uploads, a
        collection's pages), and says so in its own words.
        """
        rule = self.rule(tool)
        rate = self.prices.rate(rule.category) if rule is not None else None
        if estimated is None:  # a workflow without an estimate: priced per request it sends
            return f"{usd(rate)} per request it sends to X ({rule.category})" if rule and rate is not None else None
        if not estimated.priced:
            return f"unknown ({estimated.why})"
        if rule is None or rule.per == "resource":
            return f"{'' if rule and rule.single else 'up to '}{usd(estimated.usd)} ({estimated.why})"
        if workflow:
            return f"{usd(estimated.usd)} ({estimated.why})"
        if estimated.url and rate is not None:
            return (
                f"{usd(estimated.usd)} instead of {usd(rate)}, because the text has a URL ({estimated.url}): X charges "
                f"{usd(estimated.usd)} for a post with a link"
            )
        return f"{usd(estimated.usd)} ({', '.join(estimated.resources)})"

    def needs_confirmation(self, estimated: Estimate | None) -> bool:
        return estimated is not None and self.confirm_above is not None and estimated.usd > self.confirm_above

    def may_need_confirmation(self, tool: ToolDef, arguments: Mapping[str, Any]) -> bool:
        """Before the call is checked: could its price be asked about? Errs towards yes (Owned Reads'
        lower rate is not applied; arguments that do not validate say yes) so that a call which will
        ask is never answered where nothing can be asked."""
        if self.confirm_above is None:
            return False
        if tool.workflow is not None:  # several requests (a thread, a collection): priced by its own steps
            return True
        rule = self.rule(tool)
        if rule is None or not rule.priced:
            return False
        try:
            request = prepare(tool, arguments)
        except XapiMcpError:
            return True
        worst = estimate(rule, _x_arguments(request), self.prices, assumptions=self.assumptions)
        return self.needs_confirmation(worst)

    async def budget_refusal(self, tool: ToolDef, estimated: Estimate) -> str | None:
        """Would this estimate cross today's budget? Asked before a person is (the reservation decides later)."""
        budget = self.ledger.budget
        if budget is None or estimated.usd <= 0:
            return None
        spent = await self.ledger.day_total(self.ledger.today())
        if spent + estimated.usd <= budget:
            return None
        refused = BudgetExceeded(estimated.usd, spent, Decimal(0), budget, estimated.why, self._now())
        return refused.advice_for(tool.plan.method)

    async def send(
        self,
        tool: ToolDef,
        request: PreparedRequest,
        kind: CredentialKind,
        send: Send,
        tally: Tally,
        arrived: Callable[[], Any] | None = None,
    ) -> ToolOutcome:
        """`send(request)` with its estimate held against the budget and its cost charged after.

        `arrived`: what a stream delivered so far, charged when the call is cancelled mid-collection.
        """
        refused = self.refusal(tool, request)
        if refused is not None:
            return ToolOutcome(f"{tool.name}: {refused}", True)
        estimated = self.estimate(tool, request, kind)
        tally.estimate += estimated.usd
        if not estimated.priced:
            tally.unpriced.append(tool.name)
        try:
            held = await self.ledger.reserve(tool.name, estimated.usd, estimated.why)
        except BudgetExceeded as exc:  # nothing sent: a workflow reports its steps so far
            return ToolOutcome(f"{tool.name}: {exc.advice_for(request.method)}", True)
        except StateUnavailable as exc:
            return ToolOutcome(f"{tool.name}: {exc}", True)
        tally.requests += 1
        rule = self.rule(tool)
        try:
            outcome = await send(tool, request, kind)
        except BaseException:
            with anyio.CancelScope(shield=True):  # cancelled mid-send: a write may have been billed
                body = arrived() if arrived is not None else None
                if rule is not None and body:  # a stream's items arrived and were billed by X
                    await self._charge(held, rule, request, kind, body, tally)
                else:
                    await self._unsure(held, tool, request, estimated, tally)
            raise
        try:
            if outcome.is_error:
                if outcome.uncertain:
                    await self._unsure(held, tool, request, estimated, tally)
                else:
                    await self.ledger.release(held)
                return self._explained(tool, request, outcome)
            if rule is None:
                await self.ledger.settle(held, Charge(Decimal(0), {}, priced=False))
                return outcome
            await self._charge(held, rule, request, kind, outcome.body, tally)
        except StateUnavailable as exc:  # X answered: its answer is returned whatever the ledger says
            log.warning("%s: X answered, but its cost was not recorded: %s", tool.name, exc)
            tally.unrecorded = True
            note = f"{outcome.note} " if outcome.note else ""
            return replace(outcome, note=f"{note}{UNRECORDED}")
        return outcome

    async def _charge(
        self, held: Any, rule: BillingRule, request: PreparedRequest, kind: CredentialKind, body: Any, tally: Tally
    ) -> None:
        """Settle `held` at what `body` (X's answer) costs: once per resource per UTC day."""
        day = self.ledger.today()
        seen = await self.ledger.seen(day, resource_keys(rule, body, assumptions=self.assumptions))
        charged = charge(
            rule,
            body,
            seen,
            self.prices,
            arguments=_x_arguments(request),
            owner_context=self._owned(rule, request, kind),
            assumptions=self.assumptions,
        )
        await self.ledger.settle(held, charged)
        tally.add(charged)

    async def summary(self, tally: Tally) -> tuple[dict[str, Any], str]:
        """The `_meta` entry and the one line the model reads: `cost $0.050 (10 posts, 0 repeats) · today …`."""
        budget = self.ledger.budget
        try:
            day_total: Decimal | None = await self.ledger.day_total(self.ledger.today())
        except StateUnavailable as exc:
            log.warning("Today's spend not read for the cost line: %s", exc)
            day_total = None
        meta = {
            "estimate_usd": float(tally.estimate),
            "charged_usd": float(tally.charged),
            "resources": dict(tally.resources),
            "repeats": tally.repeats,
            "day_total_usd": None if day_total is None else float(day_total),
            "budget_usd": None if budget is None else float(budget),
        }
        parts = [_noun(category, count) for category, count in tally.resources.items()]
        if tally.repeats or any(category in _NOUNS for category in tally.resources):
            parts.append(f"{tally.repeats} repeat{'s' if tally.repeats != 1 else ''}")  # already charged today: free
        if tally.unpriced and not tally.charged:
            parts.append(f"no known price for {', '.join(dict.fromkeys(tally.unpriced))}")
        what = f" ({', '.join(parts)})" if parts else ""
        limit = f"of {usd(budget)} daily budget" if budget is not None else "(no daily budget)"
        if tally.unrecorded:
            meta["unrecorded"] = True
        today = "today: unknown (the spend ledger did not answer)" if day_total is None else f"today {usd(day_total)}"
        return meta, f"cost {usd(tally.charged)}{what} · {today} {limit}"

    async def _unsure(
        self, held: Any, tool: ToolDef, request: PreparedRequest, estimated: Estimate, tally: Tally
    ) -> None:
        """No answer: a write may have reached X and been billed (counted at its price); a read returned nothing."""
        if request.method == "GET":
            await self.ledger.release(held)
            return
        counted = Charge(estimated.usd, dict(estimated.resources))
        await self.ledger.settle(held, counted)
        tally.add(counted)

    def _explained(self, tool: ToolDef, request: PreparedRequest, outcome: ToolOutcome) -> ToolOutcome:
        """X's billing refusals and self-serve reply refusals, said in words that name the fix."""
        status = outcome.status or 0
        stop = billing_stop(status, outcome.body)
        if stop is not None:
            until = stop.blocked_until(self._now(), self.pause)
            self._paused = (until, stop.message)
            pause = f" Calls that cost money are paused here until {until:%Y-%m-%d %H:%M} UTC (not retried)."
            return replace(outcome, text=f"{tool.name}: {stop.message}{pause}")
        reply = explain_reply_refusal(request.method, tool.plan.path, _x_arguments(request), status, self.plan)
        return replace(outcome, text=f"{outcome.text} {reply}") if reply else outcome

    def _owned(self, rule: BillingRule, request: PreparedRequest, kind: CredentialKind) -> bool:
        """X's Owned Reads: `{id}` in the path is the app owner's own account and so are the tokens."""
        if rule.owned_category is None:
            return False
        owner = self._owner_of(kind)
        if owner is None:
            return False
        pattern = self._owned_id.get(rule.path)
        if pattern is None:
            parts = re.split(r"(\{[^}/]+\})", rule.path)
            regex = "".join(
                "(?P<id>[^/]+)" if p == "{id}" else "[^/]+" if p.startswith("{") else re.escape(p) for p in parts
            )
            pattern = self._owned_id[rule.path] = re.compile(regex)
        found = pattern.fullmatch(request.path)
        return found is not None and found.group("id") == owner


def _x_arguments(request: PreparedRequest) -> dict[str, Any]:
    """The request's query and JSON body by X's own names: what the estimate and the posting rules read."""
    args: dict[str, Any] = {}
    for name, value in request.query:  # a repeated (exploded) parameter counts every value
        args[name] = f"{args[name]},{value}" if name in args else value
    if isinstance(request.body, dict):
        args.update(request.body)
    if request.stream is not None:  # a stream is billed per item: its item cap bounds the estimate
        args[ITEMS_ARG] = request.stream.max_items
    return args


def _noun(category: str, count: int) -> str:
    nouns = _NOUNS.get(category)
    if nouns is None:
        return f"{count} × {category}"
    return f"{count} {nouns[count != 1]}"


def confirm_cost_from(raw: str) -> Decimal | None:
    """`X_API_CONFIRM_COST_USD`: ask before calls estimated above this many USD (default 0.25), or `off`."""
    error = (
        f"{ENV_CONFIRM_COST}={raw.strip()!r} is not an amount: give USD like 0.25 (ask before calls that may cost "
        "more), or off to never ask about cost."
    )
    return usd_setting(raw, DEFAULT_CONFIRM_COST, error)
