"""The cost settings (X_API_BUDGET_USD, X_API_CONFIRM_COST_USD, X_API_SPEND_DB, X_API_PRICES, X_API_PLAN,
X_API_BILLING_PAUSE) turned into the `Spending` every call goes through, or a ConfigError naming the fix."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from xapi_mcp.calls.ledger import ENV_BUDGET, ENV_SPEND_DB, MemoryLedger, SqliteLedger, budget_from_env, spend_db_path
from xapi_mcp.calls.posting_rules import ENV_PLAN, plan_from_env
from xapi_mcp.calls.prices import load_prices
from xapi_mcp.calls.spending import Spending, confirm_cost_from
from xapi_mcp.config import Settings
from xapi_mcp.errors import ConfigError
from xapi_mcp.stores import CredentialKind, TokenStore

log = logging.getLogger("xapi_mcp")


def build_spending(settings: Settings, document: Mapping[str, Any], store: TokenStore) -> Spending:
    """Prices, the spend ledger and the cost settings; a ConfigError names a bad setting and its fix."""
    env = {**os.environ, ENV_BUDGET: settings.budget_usd, ENV_SPEND_DB: settings.spend_db, ENV_PLAN: settings.plan}
    try:
        prices = load_prices(settings.prices_file or None)
        budget, plan = budget_from_env(env), plan_from_env(env)
        confirm_above = confirm_cost_from(settings.confirm_cost_usd)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    path = spend_db_path(env)
    try:
        ledger = MemoryLedger(budget) if path is None else SqliteLedger(path, budget)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            f"The spend ledger {path} cannot be opened ({exc}). Set {ENV_SPEND_DB} to a writable file path, or to "
            "memory to keep today's spend only while the server runs."
        ) from None
    owner = _owner_id(settings)
    env_token = settings.access_token.get_secret_value() if settings.access_token else None

    def owner_of(kind: CredentialKind) -> str | None:
        """The app owner's user ID while the configured (the owner's own) access token signs the call."""
        signing = getattr(store, "access_token", None)
        return owner if kind is CredentialKind.OAUTH1_USER and env_token and signing == env_token else None

    if budget is None:
        log.info("Cost: no daily budget (%s=off); every call's cost is still counted", ENV_BUDGET)
    else:
        where = "in memory only" if path is None else str(path)
        log.info("Cost: daily budget $%s per UTC day (%s); spend ledger %s", budget, ENV_BUDGET, where)
    return Spending(
        document,
        prices,
        ledger,
        plan=plan,
        confirm_above=confirm_above,
        owner_of=owner_of,
        pause=timedelta(seconds=settings.billing_pause),
    )


def _owner_id(settings: Settings) -> str | None:
    """The user ID an OAuth 1.0a access token belongs to: X writes it before the token's first '-'."""
    token = settings.access_token.get_secret_value() if settings.access_token else ""
    user_id = token.split("-", 1)[0]
    return user_id if "-" in token and user_id.isdigit() else None
