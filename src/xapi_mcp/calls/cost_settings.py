"""The cost settings (X_API_BUDGET_USD, X_API_CONFIRM_COST_USD, X_API_SPEND_DB, X_API_PRICES, X_API_PLAN,
X_API_BILLING_PAUSE, X_API_DEPLOYMENT_BUDGET_USD)
turned into the `Spending` every call goes through, or a ConfigError naming the fix."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from xapi_mcp.calls.ledger import (
    ENV_BUDGET,
    ENV_SPEND_DB,
    MemoryLedger,
    SpendLedger,
    SqliteLedger,
    budget_from_env,
    spend_db_path,
    usd_setting,
)
from xapi_mcp.calls.ledger_people import PersonLedgers
from xapi_mcp.calls.posting_rules import ENV_PLAN, plan_from_env
from xapi_mcp.calls.prices import load_prices
from xapi_mcp.calls.spending import Spending, confirm_cost_from
from xapi_mcp.config import Settings
from xapi_mcp.errors import ConfigError
from xapi_mcp.stores import CredentialKind, TokenStore

log = logging.getLogger("xapi_mcp")

ENV_CAP = "X_API_DEPLOYMENT_BUDGET_USD"
CAP_HINT = "USD per UTC day for everyone using this server together, like 50.00, or off (the default)."


def build_spending(
    settings: Settings, document: Mapping[str, Any], store: TokenStore, *, redis: Any = None, people: bool = False
) -> Spending:
    """Prices, the spend ledger and the cost settings; a ConfigError names a bad setting and its fix.

    `redis`: the shared client when X_MCP_REDIS_URL is set (the ledger lives there, for every replica);
    `people`: remote mode, where each person has their own budget.
    """
    env = {**os.environ, ENV_BUDGET: settings.budget_usd, ENV_SPEND_DB: settings.spend_db, ENV_PLAN: settings.plan}
    raw_cap = settings.deployment_budget_usd
    try:
        prices = load_prices(settings.prices_file or None)
        budget, plan = budget_from_env(env), plan_from_env(env)
        confirm_above = confirm_cost_from(settings.confirm_cost_usd)
        cap = usd_setting(raw_cap or "off", Decimal(0), f"{ENV_CAP}={raw_cap.strip()!r} is not an amount: {CAP_HINT}")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if cap is not None and redis is None:
        raise ConfigError(f"{ENV_CAP} is kept in Redis, shared by every replica: set X_MCP_REDIS_URL or unset it.")
    path = spend_db_path(env)
    ledger = _ledger(budget, cap, path, redis, settings.redis_prefix, people)
    owner = _owner_id(settings)
    env_token = settings.access_token.get_secret_value() if settings.access_token else None

    def owner_of(kind: CredentialKind) -> str | None:
        """The app owner's user ID while the configured (the owner's own) access token signs the call."""
        signing = getattr(store, "access_token", None)
        return owner if kind is CredentialKind.OAUTH1_USER and env_token and signing == env_token else None

    where = "in Redis" if redis is not None else "in memory only" if path is None or people else str(path)
    each = " for each person" if people else ""
    if budget is None:
        log.info("Cost: no daily budget (%s=off); every call's cost is still counted, %s", ENV_BUDGET, where)
    else:
        log.info("Cost: daily budget $%s per UTC day%s (%s); spend ledger %s", budget, each, ENV_BUDGET, where)
    if cap is not None:
        log.info("Cost: the whole deployment's spend is capped at $%s per UTC day (%s)", cap, ENV_CAP)
    return Spending(
        document,
        prices,
        ledger,
        plan=plan,
        confirm_above=confirm_above,
        owner_of=owner_of,
        pause=timedelta(seconds=settings.billing_pause),
    )


def _ledger(
    budget: Decimal | None, cap: Decimal | None, path: Path | None, redis: Any, prefix: str, people: bool
) -> SpendLedger:
    """Redis (any replica) when configured; else memory per person in remote mode, else SQLite or memory."""
    if redis is not None:
        from xapi_mcp.calls.ledger_redis import RedisLedger

        shared = RedisLedger(redis, budget=budget, deployment_cap=cap, prefix=prefix)
        return PersonLedgers(lambda person: shared.for_person(person, budget), budget) if people else shared
    if people:  # one replica, no Redis: each person's budget, today's spend gone on restart
        return PersonLedgers(lambda person: MemoryLedger(budget), budget)
    try:
        return MemoryLedger(budget) if path is None else SqliteLedger(path, budget)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            f"The spend ledger {path} cannot be opened ({exc}). Set {ENV_SPEND_DB} to a writable file path, or to "
            "memory to keep today's spend only while the server runs."
        ) from None


def _owner_id(settings: Settings) -> str | None:
    """The user ID an OAuth 1.0a access token belongs to: X writes it before the token's first '-'."""
    token = settings.access_token.get_secret_value() if settings.access_token else ""
    user_id = token.split("-", 1)[0]
    return user_id if "-" in token and user_id.isdigit() else None
