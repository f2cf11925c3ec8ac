"""`collect_x_api`: one list operation of X, page after page, in one tool call.

An agent collecting 500 posts otherwise calls search five times and carries five next_tokens. Here
each page is an ordinary request of that operation (`Workflow.send`: validated, signed, retried as
safe, priced, held against the budget and counted like any call), asking for what is left up to
the operation's largest page. It stops at max_items; before a page that could take the collection
past max_cost_usd or today's budget, or that would not fit in X_API_MAX_RESULT_BYTES; at the last
page; or at an error — and says which, with the next_token that resumes it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from xapi_mcp.calls.arguments import prepare
from xapi_mcp.calls.cost import Estimate, usd
from xapi_mcp.calls.results import ToolOutcome, dumps, fit
from xapi_mcp.calls.workflow import Progress, Workflow
from xapi_mcp.errors import ArgumentError
from xapi_mcp.tools.tooldef import ToolDef
from xapi_mcp.tools.workflows import COLLECT, DEFAULT_COLLECT_ITEMS, PAGE_TOKENS, page_token, pageable

LIMIT_ARG = "max_results"
# Named first when the error lists operations that page: the ones people collect most.
FAMILIAR = ("searchPostsRecent", "getUsersPosts", "getUsersMentions", "getUsersFollowers", "getListsMembers")


@dataclass(frozen=True)
class _Plan:
    """A checked collection: the operation, its arguments without a page token, and the limits."""

    op: ToolDef
    args: dict[str, Any]
    token_arg: str
    start: str | None  # a next_token to resume from
    page_min: int
    page_max: int | None  # None: the operation takes no page size (X decides)
    max_items: int
    max_cost: Decimal | None

    def page(self, left: int, token: str | None) -> dict[str, Any]:
        """The arguments of the next page: what is left, within the operation's page sizes."""
        args = dict(self.args)
        if self.page_max is not None:
            args[LIMIT_ARG] = max(self.page_min, min(left, self.page_max))
        if token:
            args[self.token_arg] = token
        return args

    def sizes(self) -> list[int]:
        """The worst case's pages: full pages, then the rest (without a page size, one item a page)."""
        if self.page_max is None:
            return [1] * self.max_items
        full, rest = divmod(self.max_items, self.page_max)
        return [self.page_max] * full + ([max(self.page_min, rest)] if rest else [])


def _plan(workflow: Workflow, args: dict[str, Any]) -> _Plan:
    """The collection `args` ask for, checked; ArgumentError says what is wrong and what would do."""
    name = str(args["tool"])
    offered = [n for n in pageable(workflow.tools) if workflow.allowed is None or n in workflow.allowed]
    op = workflow.tools.get(name)
    if op is None or (workflow.allowed is not None and name not in workflow.allowed):
        raise ArgumentError(f"{COLLECT}: '{name}' is not a tool this server offers. {_which(offered)}")
    token = page_token(op) if name in offered else None
    if token is None:
        raise ArgumentError(
            f"{COLLECT}: {name} does not page (it takes no pagination_token or next_token), so there is nothing to "
            f"collect: call it directly. {_which(offered)}"
        )
    given = dict(args.get("arguments") or {})
    start = next((str(given[key]) for key in PAGE_TOKENS if given.get(key)), None)
    rest = {key: value for key, value in given.items() if key not in PAGE_TOKENS}
    try:
        prepare(op, rest)  # the operation's own checks, in its own words
    except ArgumentError as exc:
        raise ArgumentError(f"{COLLECT}: {exc}") from None
    page_min, page_max = 1, None
    limit = op.input_schema["properties"].get(LIMIT_ARG) if LIMIT_ARG in op.arg_types else None
    if limit is not None and isinstance(limit.get("maximum"), int):
        page_min, page_max = int(limit.get("minimum", 1)), int(limit["maximum"])
        if rest.get(LIMIT_ARG) is not None:  # the page size asked for caps every page
            page_max = max(page_min, min(page_max, int(rest.pop(LIMIT_ARG))))
    max_items = int(args.get("max_items", DEFAULT_COLLECT_ITEMS))
    if max_items > workflow.collect_max_items:
        raise ArgumentError(
            f"{COLLECT}: max_items {max_items:,} is over this server's limit of {workflow.collect_max_items:,} "
            f"(X_API_COLLECT_MAX_ITEMS). Ask for at most {workflow.collect_max_items:,}, and call again with the "
            "stopped.next_token it returns for more."
        )
    cap = args.get("max_cost_usd")
    if cap is not None and workflow.spending is None:
        raise ArgumentError(f"{COLLECT}: max_cost_usd cannot be kept: this server does not count cost. Leave it out.")
    max_cost = Decimal(str(cap)) if cap is not None else None
    return _Plan(op, rest, token.arg, start, page_min, page_max, max_items, max_cost)


def _which(offered: list[str]) -> str:
    if not offered:
        return "No operation this server offers pages."
    named = [n for n in FAMILIAR if n in offered] + [n for n in offered if n not in FAMILIAR]
    more = f" and {len(named) - 6} more" if len(named) > 6 else ""
    return f"Operations that page here: {', '.join(named[:6])}{more}."


def check_collect(workflow: Workflow, args: dict[str, Any]) -> ToolDef:
    """What run_collect would refuse before its first page; the operation it pages (its credentials apply)."""
    return _checked(workflow, args).op


def _checked(workflow: Workflow, args: dict[str, Any]) -> _Plan:
    plan = _plan(workflow, args)
    request = prepare(plan.op, plan.page(plan.max_items, plan.start))
    if workflow.spending is not None:
        refused = workflow.spending.refusal(plan.op, request)
        if refused is not None:
            raise ArgumentError(f"{COLLECT}: {refused}")
    first = workflow.estimate(plan.op, request)
    if first is not None and plan.max_cost is not None and first.usd > plan.max_cost:
        raise ArgumentError(
            f"{COLLECT}: the first page of {plan.op.name} could cost up to {usd(first.usd)} ({first.why}), over "
            f"max_cost_usd={usd(plan.max_cost)}, so nothing would be collected. Raise max_cost_usd, or ask for "
            f"smaller pages (arguments.{LIMIT_ARG}) or fewer expansions."
        )
    return plan


def estimate_collect(workflow: Workflow, tool: ToolDef, args: dict[str, Any]) -> tuple[Estimate, Estimate] | None:
    """(The whole collection's worst case, capped by max_cost_usd; its first page, which the budget must hold.)"""
    plan = _plan(workflow, args)
    sizes = plan.sizes()
    each: dict[int, Estimate] = {}
    for size in dict.fromkeys(sizes):
        estimated = workflow.estimate(plan.op, prepare(plan.op, plan.page(size, plan.start)))
        if estimated is None:
            return None
        each[size] = estimated
    first = each[sizes[0]]
    if not first.priced:
        return first, first
    total = sum((each[size].usd for size in sizes), Decimal(0))
    resources: Counter[str] = Counter()
    for size in sizes:
        resources.update(each[size].resources)
    last = each[sizes[-1]]
    why = f"{len(sizes)} page{'s' if len(sizes) != 1 else ''} of {plan.op.name}, each {first.why}"
    if plan.page_max is None:
        why = f"up to {len(sizes)} pages of {plan.op.name} (X sets the page size), each {first.why}"
    elif last is not first:
        why += f"; the last {last.why}"
    cap = plan.max_cost
    if cap is not None and total > cap:
        total, why = cap, f"{why}; stopped at max_cost_usd {usd(cap)}"
    worst = Estimate(total, dict(resources), why)
    return worst, Estimate(min(first.usd, cap if cap is not None else first.usd), first.resources, first.why)


@dataclass
class _Merged:
    """The pages so far: their data, includes deduplicated by id / media_key, X's partial errors."""

    data: list[Any] = field(default_factory=list)
    includes: dict[str, list[Any]] = field(default_factory=dict)
    errors: list[Any] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    bytes: int = 0

    def growth(self, body: dict[str, Any]) -> int:
        """About how many bytes `body` would add to the result."""
        added = len(dumps(_items(body.get("data")))) + len(dumps(body.get("errors") or []))
        for name, item in _included(body):
            if (name, _key(item)) not in self.seen:
                added += len(dumps(item)) + 1
        return added

    def add(self, body: dict[str, Any]) -> int:
        """Merge one page; the number of data items it had."""
        self.bytes += self.growth(body)
        page = _items(body.get("data"))
        self.data.extend(page)
        self.errors.extend(body.get("errors") or [])
        for name, item in _included(body):
            if (name, _key(item)) not in self.seen:
                self.seen.add((name, _key(item)))
                self.includes.setdefault(name, []).append(item)
        return len(page)


def _items(data: Any) -> list[Any]:
    return data if isinstance(data, list) else [data] if isinstance(data, dict) else []


def _included(body: dict[str, Any]) -> list[tuple[str, Any]]:
    includes = body.get("includes")
    if not isinstance(includes, dict):
        return []
    return [(name, item) for name, items in includes.items() if isinstance(items, list) for item in items]


def _key(item: Any) -> str:
    if isinstance(item, dict):
        for name in ("id", "media_key"):
            if isinstance(item.get(name), str | int):
                return f"{name}:{item[name]}"
    return dumps(item)


async def run_collect(
    workflow: Workflow, tool: ToolDef, args: dict[str, Any], progress: Progress | None
) -> ToolOutcome:
    """collect_x_api with `args` already validated against its schema (Executor.call/preflight)."""
    try:
        plan = _checked(workflow, args)
    except ArgumentError as exc:
        return ToolOutcome(str(exc), True)
    op, limit = plan.op, workflow.max_result_bytes
    merged, pages, items = _Merged(), 0, 0
    token, followed = plan.start, {plan.start}
    reason, why = "", ""
    while not reason:
        if items >= plan.max_items:
            reason, why = "max_items", f"collected {items} items (max_items {plan.max_items})"
            break
        if pages >= plan.max_items:  # pages with almost nothing on them: as many requests as items asked for
            reason, why = "max_items", f"sent {pages} requests for {items} items; stopped so as not to page on"
            break
        if pages and merged.bytes + merged.bytes // pages > limit:
            reason = "max_result_bytes"
            why = (
                f"another page would not fit in X_API_MAX_RESULT_BYTES ({limit:,} bytes) with the {items} items so far"
            )
            break
        request = prepare(op, plan.page(plan.max_items - items, token))
        estimated = workflow.estimate(op, request)
        if (
            estimated is not None
            and plan.max_cost is not None
            and workflow.tally.charged + estimated.usd > plan.max_cost
        ):
            reason = "max_cost_usd"
            why = (
                f"the next page could cost up to {usd(estimated.usd)} ({estimated.why}); with "
                f"{usd(workflow.tally.charged)} spent that could pass max_cost_usd {usd(plan.max_cost)}"
            )
            break
        if estimated is not None and workflow.spending is not None:
            refused = await workflow.spending.budget_refusal(op, estimated)
            if refused is not None:
                reason, why = "budget", refused
                break
        outcome = await workflow.send(op, request)
        if outcome.is_error:
            if not pages:
                return ToolOutcome(f"{COLLECT}: the first page failed, so nothing was collected. {outcome.text}", True)
            reason, why = "error", f"page {pages + 1} failed: {outcome.text}"
            break
        if workflow.dry_run:
            plan_note = f"then follow meta.next_token up to {plan.max_items} items"
            return ToolOutcome(
                outcome.text, note=f"X_API_DRY_RUN=1: {COLLECT} would send this first page, {plan_note}."
            )
        body = outcome.body if isinstance(outcome.body, dict) else {}
        if pages and merged.bytes + merged.growth(body) > limit:
            reason = "max_result_bytes"
            why = (
                f"page {pages + 1} did not fit in X_API_MAX_RESULT_BYTES ({limit:,} bytes) with the {items} items so "
                "far, so it is left out: next_token reads it again (X bills a resource once per UTC day)"
            )
            break
        items += merged.add(body)
        pages += 1
        meta = body.get("meta")
        token = str(meta["next_token"]) if isinstance(meta, dict) and meta.get("next_token") else None
        if progress is not None:
            await progress(items, plan.max_items, f"page {pages}: {items} items")
        if token is None:
            reason, why = "end", "that was the last page (X's answer had no meta.next_token)"
        elif token in followed:
            reason, why = (
                "error",
                f"X answered page {pages} with a next_token it had given before; stopped so as not to loop",
            )
        followed.add(token)
    return _result(workflow, plan, merged, pages, items, reason, why, token)


def _result(
    workflow: Workflow, plan: _Plan, merged: _Merged, pages: int, items: int, reason: str, why: str, token: str | None
) -> ToolOutcome:
    resume = token if reason != "end" else None
    result: dict[str, Any] = {"data": merged.data}
    if merged.includes:
        result["includes"] = merged.includes
    if merged.errors:
        result["errors"] = merged.errors
    result["stopped"] = {"reason": reason, "pages": pages, "items": items, "next_token": resume, "why": why}
    if not pages:  # stopped before the first page (the cost cap or the budget): nothing to return
        return ToolOutcome(f"{COLLECT}: nothing was collected: {why.rstrip('.')}.", True)
    text, cut = fit(result, workflow.max_result_bytes)
    note = f"{COLLECT}: {pages} page{'s' if pages != 1 else ''} of {plan.op.name}, {items} items; stopped: {reason}."
    if resume:
        note += f' To go on, call {COLLECT} again with arguments.{plan.token_arg}="{resume}".'
    if cut:
        note += (
            f" {cut} (stopped.next_token continues after the last item X returned, not the last one shown here: for "
            "the rest, collect fewer items per call.)"
        )
    return ToolOutcome(text, note=note)
