"""State behind small stores: each a tiny protocol with an in-memory implementation.

Callers hold the protocol, so a SQLite or Redis implementation (many replicas, restarts) plugs in
without touching them. Here: the credentials of the running process (`TokenStore`) and X's
rate-limit windows (`RateLimitState`; shared by replicas: `redis_state.py`). The spend ledger is the
third store; it lives with the cost model it records (`calls/ledger.py`: `SpendLedger`, `MemoryLedger`,
`SqliteLedger`; `calls/ledger_redis.py`).
Nothing in this module writes anywhere: tokens stay in memory by default.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Protocol

from httpx2 import Headers


class CredentialKind(enum.Enum):
    OAUTH1_USER = "OAuth 1.0a user context"
    OAUTH2_USER = "OAuth 2.0 user token"
    BEARER = "app bearer token"
    NONE = "no credentials"


# Whose state (spend, rate limits) the local single-user mode keeps: remote mode keys it by X user ID.
LOCAL_PERSON = "local"

# Preference order when an operation accepts several kinds: act as the user when we can.
PREFERENCE = (CredentialKind.OAUTH1_USER, CredentialKind.OAUTH2_USER, CredentialKind.BEARER)


class TokenStore(Protocol):
    """Credentials of one X identity: the app's keys and the user tokens a consent obtained."""

    consumer_key: str | None
    consumer_secret: str | None
    access_token: str | None
    access_token_secret: str | None
    bearer_token: str | None
    oauth2_access_token: str | None
    oauth2_refresh_token: str | None
    screen_name: str | None

    def has(self, kind: CredentialKind) -> bool: ...

    def has_oauth1_user(self) -> bool: ...

    def set_oauth1_user(self, token: str, secret: str) -> None: ...

    def set_oauth2_user(self, token: str, refresh_token: str | None) -> None: ...

    def secrets(self) -> list[str]: ...

    def clear(self) -> None: ...


@dataclass
class MemoryTokenStore:
    """Credentials of the running process. In memory only: nothing here is written anywhere."""

    consumer_key: str | None = None
    consumer_secret: str | None = None
    access_token: str | None = None
    access_token_secret: str | None = None
    bearer_token: str | None = None
    oauth2_access_token: str | None = None
    oauth2_refresh_token: str | None = field(default=None, repr=False)
    screen_name: str | None = None  # of the user who consented, when X told us

    def __repr__(self) -> str:
        held = ", ".join(kind.name for kind in PREFERENCE if self.has(kind)) or "none"
        return f"TokenStore(holds: {held})"

    def has(self, kind: CredentialKind) -> bool:
        if kind is CredentialKind.OAUTH1_USER:
            return all((self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret))
        if kind is CredentialKind.OAUTH2_USER:
            return bool(self.oauth2_access_token)
        if kind is CredentialKind.BEARER:
            return bool(self.bearer_token)
        return True

    def has_oauth1_user(self) -> bool:
        return self.has(CredentialKind.OAUTH1_USER)

    def set_oauth1_user(self, token: str, secret: str) -> None:
        self.access_token, self.access_token_secret = token, secret

    def set_oauth2_user(self, token: str, refresh_token: str | None) -> None:
        self.oauth2_access_token = token
        self.oauth2_refresh_token = refresh_token or self.oauth2_refresh_token

    def secrets(self) -> list[str]:
        """Every credential value held (the consumer key too: X echoes it), for redaction."""
        values = (
            self.consumer_key,
            self.consumer_secret,
            self.access_token,
            self.access_token_secret,
            self.bearer_token,
            self.oauth2_access_token,
            self.oauth2_refresh_token,
        )
        return [v for v in values if v]

    def clear(self) -> None:
        """Forget every user token (shutdown); the app's own keys stay as configured."""
        self.access_token = self.access_token_secret = None
        self.oauth2_access_token = self.oauth2_refresh_token = self.screen_name = None


@dataclass(frozen=True)
class Window:
    """X's rate-limit window for one endpoint, as X last reported it."""

    limit: int
    remaining: int
    reset: float  # Unix time

    def exhausted(self, now: float) -> bool:
        return self.remaining <= 0 and self.reset > now


class RateLimitState(Protocol):
    """X's rate limits per endpoint (`METHOD /path/template`), as X last reported them.

    Async so that a store shared by replicas (`redis_state.RedisRateLimits`) fits the same protocol.
    """

    async def update(self, endpoint: str, headers: Headers) -> Window | None: ...

    async def exhausted_until(self, endpoint: str, now: float | None = None) -> float | None: ...

    async def mark_exhausted(self, endpoint: str, reset: float) -> None: ...


class MemoryRateLimits:
    """X sends `x-rate-limit-limit`, `-remaining` and `-reset` (Unix seconds) on every response.

    Knowing an endpoint is exhausted lets us answer a looping agent at once instead of spending a
    request (and a 429) on it.
    """

    def __init__(self) -> None:
        self._windows: dict[str, Window] = {}

    async def update(self, endpoint: str, headers: Headers) -> Window | None:
        window = parse_window(headers)
        if window is not None:
            self._windows[endpoint] = window
        return window

    async def exhausted_until(self, endpoint: str, now: float | None = None) -> float | None:
        """The reset time when X said this endpoint has no requests left, else None."""
        window = self._windows.get(endpoint)
        now = time.time() if now is None else now
        return window.reset if window is not None and window.exhausted(now) else None

    async def mark_exhausted(self, endpoint: str, reset: float) -> None:
        previous = self._windows.get(endpoint)
        self._windows[endpoint] = Window(previous.limit if previous else 0, 0, reset)


def parse_window(headers: Headers) -> Window | None:
    try:
        return Window(
            limit=int(headers["x-rate-limit-limit"]),
            remaining=int(headers["x-rate-limit-remaining"]),
            reset=float(headers["x-rate-limit-reset"]),
        )
    except (KeyError, ValueError):
        return None
