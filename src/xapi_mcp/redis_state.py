"""Shared state in Redis, for many replicas: the client, key names, errors, and X's rate limits.

Every key starts with a prefix (default `xapi-mcp`, so several deployments can share one Redis)
and names the person it belongs to; values a person supplies (their id, an endpoint) are
percent-encoded, so no `:` or `{` from them can change a key's shape or its Redis Cluster slot.
For Redis Cluster, put the prefix in braces (`{xapi-mcp}`): every key then hashes to one slot,
which the spend ledger's scripts need (they touch a person's keys and the deployment's together).

Redis that is down or slow raises `StateUnavailable` with what was affected and a retry hint; the
client gives up after about 2 s (one retry), so a call never hangs on it. Nothing here is
imported unless a Redis URL is configured. The spend ledger is in `calls/ledger_redis.py`, the
encryption of tokens in `auth/vault.py`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import redis
import redis.asyncio as aioredis
from httpx2 import Headers
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from xapi_mcp.errors import StateUnavailable
from xapi_mcp.stores import LOCAL_PERSON, Window, parse_window

ENV_REDIS_URL = "X_MCP_REDIS_URL"
DEFAULT_PREFIX = "xapi-mcp"


def connect(url: str, *, timeout: float = 2.0) -> aioredis.Redis:
    """An asyncio client for `url` (redis://, rediss://, unix://): short timeouts, one retry."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=1),
        health_check_interval=30,  # a connection idle that long is checked before use (a restarted Redis)
    )


def unreachable(url: str, *, timeout: float = 2.0) -> str | None:
    """Why Redis at `url` does not answer a PING now (for one startup line), or None when it does."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
        return None
    except RedisError as exc:
        return f"Redis at {where(client)} does not answer ({type(exc).__name__}: {exc})"
    finally:
        client.close()


def key_part(value: str) -> str:
    """A value as one segment of a key: percent-encoded, so `:`, `{`, `}` and spaces cannot appear."""
    return quote(value, safe="")


def where(client: aioredis.Redis | redis.Redis) -> str:
    """`host:port` (or the socket path) of the client's Redis, never its password."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


@contextmanager
def guarded(client: aioredis.Redis, doing: str, outcome: str) -> Iterator[None]:
    """Redis errors as `StateUnavailable`: what failed (`doing`), what it means (`outcome`), what to do."""
    try:
        yield
    except RedisError as exc:
        raise StateUnavailable(
            f"Redis at {where(client)} did not answer while {doing} ({type(exc).__name__}: {exc}). {outcome} "
            f"Try again in a few seconds; if it goes on, check that Redis is running and reachable "
            f"({ENV_REDIS_URL})."
        ) from exc


class RedisRateLimits:
    """X's rate limits shared by replicas: when X says an endpoint is exhausted for a person, every
    replica answers at once until the reset instead of spending a request (and a 429) on it.

    Key: `<prefix>:rate:<person>:<endpoint>` → the reset time (Unix seconds), expiring at the
    reset. Only exhaustion is written (an answer with requests left writes nothing, unless it
    clears a mark this process made), so a call's hot path costs one GET, or none while this
    process asked less than `fresh_for` seconds ago. That short local memory is advisory state
    by design: another replica's mark is seen at most `fresh_for` seconds late, and the worst it
    costs is a request X answers with 429.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        person: str = LOCAL_PERSON,
        *,
        prefix: str = DEFAULT_PREFIX,
        fresh_for: float = 1.0,
    ) -> None:
        self._client = client
        self._base = f"{prefix}:rate:{key_part(person)}:"
        self.fresh_for = fresh_for
        self._resets: dict[str, float] = {}  # endpoint -> reset, as last read or written here
        self._asked: dict[str, float] = {}  # endpoint -> time.monotonic() of the last read

    def _key(self, endpoint: str) -> str:
        return self._base + key_part(endpoint)

    async def update(self, endpoint: str, headers: Headers) -> Window | None:
        window = parse_window(headers)
        if window is None:
            return None
        now = time.time()
        if window.exhausted(now):
            await self._mark(endpoint, window.reset, now)
        elif self._resets.pop(endpoint, None) is not None:
            with guarded(self._client, "clearing a rate-limit mark", "X's answer was received."):
                await self._client.delete(self._key(endpoint))
        return window

    async def mark_exhausted(self, endpoint: str, reset: float) -> None:
        await self._mark(endpoint, reset, time.time())

    async def exhausted_until(self, endpoint: str, now: float | None = None) -> float | None:
        """The reset time when X said this endpoint has no requests left for this person, else None."""
        now = time.time() if now is None else now
        reset = self._resets.get(endpoint)
        if reset is None or reset <= now:
            asked = self._asked.get(endpoint)
            if asked is not None and time.monotonic() - asked < self.fresh_for:
                return None
            with guarded(self._client, "reading a rate-limit mark", "Nothing was sent to X."):
                raw = await self._client.get(self._key(endpoint))
            self._asked[endpoint] = time.monotonic()
            if raw is None:
                self._resets.pop(endpoint, None)
                return None
            reset = float(raw)
            self._resets[endpoint] = reset
        return reset if reset > now else None

    async def _mark(self, endpoint: str, reset: float, now: float) -> None:
        self._resets[endpoint] = reset
        seconds = max(1, int(reset - now) + 1)
        with guarded(self._client, "recording a rate-limit mark", "X's answer was received."):
            await self._client.set(self._key(endpoint), repr(reset), ex=seconds)
