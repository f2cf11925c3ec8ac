"""What each offered tool costs, as `xapi-mcp tools --prices` shows it (text) and returns it (`--json`).

One row per tool: its billing category, whether X bills it per resource or per request, the rate,
the other rate X may apply (Owned Reads, a post with a URL), and the worst-case estimate of a call
with no arguments (plus the worst case at the operation's largest page, when that is more). Tools
with no known price are kept apart, with the reason, so a new spec version's gaps are visible.
Amounts stay `Decimal`; `as_json` turns them into strings ("0.005"), never floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from xapi_mcp.calls.billing import BillingRule, billing_rules
from xapi_mcp.calls.cost import estimate, usd
from xapi_mcp.calls.prices import ENV_PRICES, PriceTable
from xapi_mcp.tools.tooldef import ToolDef


@dataclass(frozen=True)
class PricedTool:
    """One tool with a known price."""

    name: str
    method: str
    path: str
    category: str
    per: str  # "resource" (reads) or "request" (writes, counts, workflows)
    rate_usd: Decimal
    estimate_usd: Decimal | None  # no arguments, worst case; None for a workflow (several requests)
    estimate: str  # "up to 10 posts (...) at $0.005 = $0.050"
    basis: str  # why this category
    owned_reads_usd: Decimal | None = None  # X's Owned Reads rate, where it applies to this operation
    url_rate_usd: Decimal | None = None  # a post whose text has a URL
    max_usd: Decimal | None = None  # worst case at the largest page the spec allows, when more than the estimate
    max: str = ""  # "max_results=100: $0.500"
    workflow: bool = False  # a workflow tool (uploadMedia): several requests, each at the rate


@dataclass(frozen=True)
class UnpricedTool:
    """One tool with no known price: counted as $0 by the estimate and the ledger."""

    name: str
    method: str
    path: str
    basis: str


@dataclass(frozen=True)
class PriceList:
    """What `tools --prices` shows: the priced tools, the unpriced ones, and the table the rates came from."""

    priced: list[PricedTool]
    unpriced: list[UnpricedTool]
    prices: PriceTable
    unpriced_not_offered: int = 0  # the spec's unpriced operations that are not tools here (streams, allowlist)

    def as_json(self) -> dict[str, Any]:
        """The same content as plain data: Decimal amounts as strings."""
        table = self.prices
        return {
            "tools": [_plain(asdict(row)) for row in self.priced],
            "unpriced": [asdict(row) for row in self.unpriced],
            "count": {
                "priced": len(self.priced),
                "unpriced": len(self.unpriced),
                "unpriced_not_offered": self.unpriced_not_offered,
            },
            "prices": {
                "date": table.date,
                "source": table.source,
                "override_file": table.override_path,
                "overridden": sorted(table.overridden),
                "rates": {name: str(rate) for name, rate in table.rates.items()},
            },
        }

    def text_lines(self) -> list[str]:
        """The aligned table of priced tools, where the rates came from, then the unpriced section."""
        header = ("TOOL", "CATEGORY", "PER", "RATE", "ALSO", "NO ARGS", "WORST CASE WITH NO ARGUMENTS  [BASIS]")
        rows = [header, *(_cells(row) for row in self.priced)]
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        lines = []
        for row in rows:  # left-aligned columns, the amount right-aligned, the explanation last
            cells = [f"{cell:<{width}}" for cell, width in zip(row[:5], widths, strict=False)]
            lines.append("  ".join([*cells, f"{row[5]:>{widths[5]}}", row[6]]))
        table = self.prices
        count = len(self.priced)
        lines.append(f"\n{count} priced tool{'s' * (count != 1)}. Rates: {table.source} (date {table.date}).")
        if table.override_path:
            changed = ", ".join(sorted(table.overridden)) or "nothing"
            lines.append(f"Override file ({ENV_PRICES}): {table.override_path}, changing {changed}.")
        else:
            lines.append(f"No override file ({ENV_PRICES}=path, a TOML or JSON file of rates, changes any rate).")
        lines.append(
            "Estimates assume no `expansions` (each can add billed users, posts, media). Owned Reads apply only when "
            "{id} is the app owner's own account and the configured access token signs the call."
        )
        lines.append(f"\nUnpriced operations (no known price; counted as $0): {len(self.unpriced)}")
        name = max((len(row.name) for row in self.unpriced), default=0)
        path = max((len(row.path) for row in self.unpriced), default=0)
        lines += [f"  {r.name:<{name}}  {r.method:<6} {r.path:<{path}}  [{r.basis}]" for r in self.unpriced]
        if self.unpriced_not_offered:
            lines.append(
                f"  (and {self.unpriced_not_offered} unpriced operations of the spec not offered as tools here)"
            )
        return lines


def price_list(tools: Mapping[str, ToolDef], document: Mapping[str, Any], prices: PriceTable) -> PriceList:
    """The price of every tool in `tools` (the allowed ones), by the rules read from `document`."""
    rules = {(rule.method, rule.path): rule for rule in billing_rules(document).values()}
    priced: list[PricedTool] = []
    unpriced: list[UnpricedTool] = []
    for tool in tools.values():
        method, path = tool.plan.method.upper(), tool.plan.path
        rule = rules.get((method, path))
        rate = prices.rate(rule.category) if rule else None
        if rule is None or rule.category is None or rate is None:
            unpriced.append(UnpricedTool(tool.name, method, path, _unpriced_basis(rule, method, path)))
        elif tool.workflow is not None:  # several requests (uploadMedia: INIT, APPENDs, FINALIZE), each billed
            each = f"priced per request it makes ({rule.category}): {usd(rate)} each"
            priced.append(
                PricedTool(
                    tool.name, method, path, rule.category, "request", rate, None, each, rule.basis, workflow=True
                )
            )
        else:
            priced.append(_priced(tool.name, rule, rate, prices))
    offered = {(tool.plan.method.upper(), tool.plan.path) for tool in tools.values()}
    hidden = sum(1 for key, rule in rules.items() if not rule.priced and key not in offered)
    return PriceList(priced, unpriced, prices, hidden)


def _priced(name: str, rule: BillingRule, rate: Decimal, prices: PriceTable) -> PricedTool:
    worst = estimate(rule, {}, prices)
    most, most_text = None, ""
    if rule.limit_arg and rule.limit_max is not None:
        at_max = estimate(rule, {rule.limit_arg: rule.limit_max}, prices)
        if at_max.usd > worst.usd:
            most, most_text = at_max.usd, f"{rule.limit_arg}={rule.limit_max}: {usd(at_max.usd)}"
    text = worst.why if rule.per == "request" else f"{worst.why} = {usd(worst.usd)}"
    return PricedTool(
        name,
        rule.method,
        rule.path,
        str(rule.category),
        rule.per,
        rate,
        worst.usd,
        text,
        rule.basis,
        owned_reads_usd=prices.rate(rule.owned_category) if rule.owned_category else None,
        url_rate_usd=prices.rate(rule.url_category) if rule.url_category else None,
        max_usd=most,
        max=most_text,
    )


def _cells(row: PricedTool) -> tuple[str, ...]:
    also = ""
    if row.owned_reads_usd is not None:
        also = f"Owned Reads {usd(row.owned_reads_usd)}"
    elif row.url_rate_usd is not None:
        also = f"with a URL {usd(row.url_rate_usd)}"
    worst = "per request" if row.estimate_usd is None else usd(row.estimate_usd)
    why = row.estimate + (f"; at most {row.max}" if row.max else "")
    return (row.name, row.category, row.per, usd(row.rate_usd), also, worst, f"{why}  [{row.basis}]")


def _unpriced_basis(rule: BillingRule | None, method: str, path: str) -> str:
    if rule is None:
        return f"no operation {method} {path} in the spec's billing rules"
    if rule.category is None:
        return rule.basis.removeprefix(f"{method} {path}: ")  # the table shows method and path already
    return f"category {rule.category!r} has no rate in the price table"


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in row.items()}
