"""X's pay-per-use rates: the table shipped with the package, and a person's overrides.

Rates change more often than code, so they are data (`data/prices.toml`, with the date and source
they were copied from) and every rate can be replaced by a file named in `X_API_PRICES` (TOML or
JSON). Money is `Decimal` throughout: $0.005 × 3 must be $0.015, not 0.015000000000000001.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from xapi_mcp.errors import XapiMcpError

ENV_PRICES = "X_API_PRICES"
_META_KEYS = {"date", "source", "currency"}


class PriceFileError(XapiMcpError, ValueError):
    """The price override file cannot be used; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class PriceTable:
    """USD per billing category (per resource for reads, per request for writes)."""

    rates: Mapping[str, Decimal]
    date: str  # when the shipped rates were copied from X ("2026-11")
    source: str  # where they were copied from
    override_path: str | None = None  # the X_API_PRICES file merged in, if any
    overridden: frozenset[str] = field(default_factory=frozenset)

    def rate(self, category: str | None) -> Decimal | None:
        """The rate for `category`, or None when it has no known price."""
        return None if category is None else self.rates.get(category)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.rates)


def shipped_prices() -> PriceTable:
    """The rates in the package's `data/prices.toml`."""
    text = resources.files("xapi_mcp").joinpath("data/prices.toml").read_text(encoding="utf-8")
    document = tomllib.loads(text, parse_float=Decimal)
    rates = {name: _usd(value, name, "the shipped data/prices.toml") for name, value in document["rates"].items()}
    return PriceTable(rates=rates, date=str(document["date"]), source=str(document["source"]))


def load_prices(override: str | Path | None = None) -> PriceTable:
    """The shipped rates with `override` (a TOML or JSON file) merged over them."""
    table = shipped_prices()
    if override is None or str(override).strip() == "":
        return table
    path = Path(override).expanduser()
    overrides = _read_override(path)
    unknown = sorted(set(overrides) - set(table.rates))
    if unknown:
        named = ", ".join(_with_hint(name, table) for name in unknown)
        raise PriceFileError(
            f"{path}: unknown billing categor{'y' if len(unknown) == 1 else 'ies'} {named}. "
            f"Valid names (spelled exactly): {', '.join(table.rates)}."
        )
    rates = dict(table.rates)
    for name, value in overrides.items():
        rates[name] = _usd(value, name, str(path))
    return PriceTable(
        rates=rates, date=table.date, source=table.source, override_path=str(path), overridden=frozenset(overrides)
    )


def prices_from_env(environ: Mapping[str, str] | None = None) -> PriceTable:
    """The price table for this process: shipped rates, plus `X_API_PRICES` when it is set."""
    env = os.environ if environ is None else environ
    return load_prices(env.get(ENV_PRICES))


def _read_override(path: Path) -> dict[str, Any]:
    """The `rates` of an override file: either under a `rates` table or at the top level."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceFileError(
            f"{ENV_PRICES} names {path}, which cannot be read ({exc.strerror or exc}). Fix: point {ENV_PRICES} at a "
            "TOML or JSON file of rates, or unset it to use the shipped rates."
        ) from None
    is_json = path.suffix.lower() == ".json"
    try:
        document = json.loads(text, parse_float=Decimal) if is_json else tomllib.loads(text, parse_float=Decimal)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if is_json else "TOML (a file not ending in .json is read as TOML)"
        raise PriceFileError(f"{path} is not valid {kind}: {exc}.") from None
    if not isinstance(document, dict):
        raise PriceFileError(f'{path} must hold a table of rates, e.g. {{"Posts: Read": 0.005}}.')
    rates = document.get("rates", {k: v for k, v in document.items() if k not in _META_KEYS})
    if not isinstance(rates, dict):
        raise PriceFileError(f'{path}: "rates" must be a table of category = USD, e.g. "Posts: Read" = 0.005.')
    return rates


def _usd(value: Any, name: str, where: str) -> Decimal:
    """A non-negative USD amount from a TOML/JSON number or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise PriceFileError(f"{where}: the rate for {name!r} must be a number of USD, like 0.005; got {value!r}.")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise PriceFileError(
            f"{where}: the rate for {name!r} must be a number of USD, like 0.005; got {value!r}."
        ) from None
    if not amount.is_finite() or amount < 0:
        raise PriceFileError(f"{where}: the rate for {name!r} must be zero or more USD; got {value!r}.")
    return amount


def _with_hint(name: str, table: PriceTable) -> str:
    close = difflib.get_close_matches(name, list(table.rates), n=1, cutoff=0.6)
    return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)
