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

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, unquote

import redis
import redis.asyncio as aioredis
from httpx2 import Headers
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from xapi_mcp.errors import StateUnavailable
from xapi_mcp.stores import LOCAL_PERSON, Window, parse_window

log = logging.getLogger(__name__)

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


class Broadcast:
    """What one replica changed, told to the others at once (Redis pub/sub), so copies can be trusted.

    A replica keeps copies of what it read (a person's tokens, rate-limit marks) and drops one when
    a message says it changed. Pub/sub delivers only to listeners connected at that moment, so a copy
    is trusted only while `live` and made in the current `epoch`: the epoch moves on every
    (re)subscription and every loss of the subscription, so whatever was read before a gap in
    listening is read again. The subscription is checked by a PING every `heartbeat` seconds: a
    link that died silently counts as lost after `heartbeat` + 2 s without an answer.
    """

    def __init__(self, client: aioredis.Redis, channel: str, *, heartbeat: float = 5.0) -> None:
        self._client, self.channel, self.heartbeat = client, channel, heartbeat
        self.epoch, self.live = 0, False
        self._handlers: list[Callable[[str], None]] = []
        self._task: asyncio.Task[None] | None = None

    def on(self, handler: Callable[[str], None]) -> None:
        self._handlers.append(handler)

    def trusted(self, epoch: int) -> bool:
        """Whether a copy made in `epoch` can still be trusted (no message about it can have been missed)."""
        self._start()
        return self.live and epoch == self.epoch

    async def publish(self, message: str, pipe: Pipeline | None = None) -> None:
        """Tell every replica (this one included): in `pipe` when given (sent with the change it announces)."""
        if pipe is not None:
            pipe.publish(self.channel, message)
        else:
            await self._client.publish(self.channel, message)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            with contextlib.suppress(RuntimeError):  # no loop running: nothing is trusted yet
                self._task = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._session()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning(
                    "Redis pub/sub %s lost (%s); replicas' copies are re-read until it is back", self.channel, exc
                )
            finally:
                self.live, self.epoch = False, self.epoch + 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _session(self) -> None:
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            heard = pinged = time.monotonic()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    heard = now
                    if message["type"] == "subscribe":  # first subscription, or a reconnection's
                        self.live, self.epoch = True, self.epoch + 1
                    elif message["type"] == "message":
                        data = message["data"]
                        for handler in self._handlers:
                            handler(data.decode() if isinstance(data, bytes) else str(data))
                if now - heard > self.heartbeat + 2:
                    raise TimeoutError(f"no answer to PING in {self.heartbeat + 2:.0f} s")
                if now - max(heard, pinged) > self.heartbeat:
                    pinged = now
                    await pubsub.ping()
        finally:
            self.live = False
            await pubsub.aclose()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


@dataclass
class Shared:
    """The Redis every replica shares (X_MCP_REDIS_URL): its client, its broadcast, the keys' prefix."""

    client: aioredis.Redis
    broadcast: Broadcast
    prefix: str = DEFAULT_PREFIX

    @classmethod
    def connect(cls, url: str, prefix: str = DEFAULT_PREFIX) -> Shared:
        client = connect(url)
        return cls(client, Broadcast(client, f"{prefix}:changes"), prefix)

    async def aclose(self) -> None:
        await self.broadcast.aclose()
        await self.client.aclose()


class RedisRateLimits:
    """X's rate limits shared by replicas: when X says an endpoint is exhausted for a person, every
    replica answers at once until the reset instead of spending a request (and a 429) on it.

    Key: `<prefix>:rate:<person>:<endpoint>` → the reset time (Unix seconds), expiring at the
    reset. Only exhaustion is written (an answer with requests left writes nothing, unless it
    clears a mark this process knows of). With a `Broadcast`, a mark or its clearing is announced
    in the same round trip, every replica keeps its copy current, and an endpoint is read from
    Redis once per person while the broadcast is trusted: the hot path costs no round trip. Without
    one (or while it is down), a read is reused for `fresh_for` seconds: another replica's mark is
    then seen up to that late, and the worst it costs is a request X answers with 429.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        person: str = LOCAL_PERSON,
        *,
        prefix: str = DEFAULT_PREFIX,
        fresh_for: float = 1.0,
        broadcast: Broadcast | None = None,
    ) -> None:
        self._client = client
        self._who = key_part(person)
        self._base = f"{prefix}:rate:{self._who}:"
        self.fresh_for = fresh_for
        self._resets: dict[str, float] = {}  # endpoint -> reset, as last read, written or announced
        self._asked: dict[str, tuple[float, int]] = {}  # endpoint -> (time.monotonic(), epoch) of the last read
        self._broadcast = broadcast
        if broadcast is not None:
            broadcast.on(self._heard)

    def _heard(self, message: str) -> None:
        """Another replica's (or our own) mark or clearing for this person: `rate <person> <endpoint> <reset>`."""
        kind, _, rest = message.partition(" ")
        who, _, rest = rest.partition(" ")
        if kind != "rate" or who != self._who:
            return
        part, _, reset = rest.partition(" ")
        endpoint = unquote(part)
        if float(reset or 0) > 0:
            self._resets[endpoint] = float(reset)
        else:
            self._resets.pop(endpoint, None)

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
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.delete(self._key(endpoint))
                    await self._announce(pipe, endpoint, 0)
                    await pipe.execute()
        return window

    async def _announce(self, pipe: Pipeline, endpoint: str, reset: float) -> None:
        if self._broadcast is not None:
            await self._broadcast.publish(f"rate {self._who} {key_part(endpoint)} {reset!r}", pipe)

    async def mark_exhausted(self, endpoint: str, reset: float) -> None:
        await self._mark(endpoint, reset, time.time())

    async def exhausted_until(self, endpoint: str, now: float | None = None) -> float | None:
        """The reset time when X said this endpoint has no requests left for this person, else None."""
        now = time.time() if now is None else now
        reset = self._resets.get(endpoint)
        if reset is None or reset <= now:
            asked = self._asked.get(endpoint)
            if asked is not None and (
                time.monotonic() - asked[0] < self.fresh_for
                or (self._broadcast is not None and self._broadcast.trusted(asked[1]))
            ):
                return None
            epoch = self._broadcast.epoch if self._broadcast is not None else 0
            known = self._resets.get(endpoint)
            with guarded(self._client, "reading a rate-limit mark", "Nothing was sent to X."):
                raw = await self._client.get(self._key(endpoint))
            self._asked[endpoint] = (time.monotonic(), epoch)
            if raw is not None:
                self._resets[endpoint] = float(raw)
            elif self._resets.get(endpoint) == known:  # else a mark announced while we read is newer
                self._resets.pop(endpoint, None)
            reset = self._resets.get(endpoint)
        return reset if reset is not None and reset > now else None

    async def _mark(self, endpoint: str, reset: float, now: float) -> None:
        self._resets[endpoint] = reset
        seconds = max(1, int(reset - now) + 1)
        with guarded(self._client, "recording a rate-limit mark", "X's answer was received."):
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.set(self._key(endpoint), repr(reset), ex=seconds)
                await self._announce(pipe, endpoint, reset)
                await pipe.execute()
