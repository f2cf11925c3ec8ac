"""Remote mode's state in Redis (X_MCP_REDIS_URL): any replica serves any request, a restart loses nobody.

Same protocol as `MemoryRemoteState` (auth/remote_state.py). Keys (P = prefix, parts percent-encoded):

    P:auth:client:<client id>      registered client (RFC 7591), JSON, no expiry
    P:auth:code:<sha256 of code>   authorization code's grant, JSON, expires with the code
    P:auth:refresh:<sha256>        refresh token's grant, JSON, expires with the token
    P:auth:refreshes:<user id>     set of that person's refresh keys (for sign-out)
    P:auth:pending:<request token> a sign-in waiting for X's redirect, sealed, expires with the sign-in
    P:auth:person:<user id>        the person's X tokens, sealed; expires `person_ttl` after the last
                                   refresh (nobody can use them once every refresh token has expired)

Sealed values (`auth/vault.py`, AES-GCM) are bound to their key: a sealed token copied under
another person's key does not open. Codes and refresh tokens are found by their SHA-256 only.
`take` is GETDEL: a code or refresh token works once, even with two replicas racing for it.

The hot path (every /mcp request) reads the person's tokens. With a `Broadcast` (redis_state.py),
every change to a person's record (sign-in, sign-out) is announced in the same round trip that
makes it, each replica drops its copy when it hears it, and a copy is trusted only while the
announcements are heard without a gap (and for at most `person_cache_for` seconds): a person is
read once per replica, not once per request, and a sign-out is seen everywhere as soon as the
announcement arrives. Without a broadcast, or while it is not heard, a copy is reused for
`person_fresh_for` seconds (default 1): a sign-out then takes up to that long on other replicas.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis

from xapi_mcp.auth.remote_state import SECRET_FIELDS, Kind
from xapi_mcp.auth.vault import Vault, VaultError
from xapi_mcp.redis_state import DEFAULT_PREFIX, Broadcast, guarded, key_part

log = logging.getLogger(__name__)

SEALED: frozenset[Kind] = frozenset({"person", "pending"})  # what holds X tokens or a request token's secret
_REMEMBER = 10_000  # opened values kept for redaction (logs.watch_secrets), newest last

# KEYS: 1 the person's set of refresh keys, 2 the person's tokens; ARGV: 1 channel ('' none), 2 message.
# Deletes every refresh key in the set and the tokens, then tells every replica.
_FORGET = """
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('DEL', key) end
local deleted = redis.call('DEL', KEYS[1], KEYS[2])
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return deleted
"""


class RedisRemoteState:
    """Clients, hashed codes and refresh tokens, pending sign-ins and sealed X tokens in Redis."""

    def __init__(
        self,
        client: aioredis.Redis,
        vault: Vault,
        *,
        prefix: str = DEFAULT_PREFIX,
        person_ttl: float | None = None,
        person_fresh_for: float = 1.0,
        person_cache_for: float = 300.0,
        broadcast: Broadcast | None = None,
    ) -> None:
        self._client, self._vault, self._prefix = client, vault, prefix
        self.person_ttl, self.person_fresh_for, self.person_cache_for = person_ttl, person_fresh_for, person_cache_for
        self._forget = client.register_script(_FORGET)
        # user id -> (read at, broadcast epoch then, record); user id -> changes heard (a read racing one is not kept)
        self._people: dict[str, tuple[float, int, dict[str, Any] | None]] = {}
        self._changes: dict[str, int] = {}
        self._opened: OrderedDict[str, None] = OrderedDict()
        self._broadcast = broadcast
        if broadcast is not None:
            broadcast.on(self._heard)

    def _heard(self, message: str) -> None:
        kind, _, who = message.partition(" ")
        if kind == "person":
            subject = unquote(who)
            self._people.pop(subject, None)
            self._changes[subject] = self._changes.get(subject, 0) + 1

    def _announce(self, subject: str) -> str:
        return f"person {key_part(subject)}"

    def _copy(self, subject: str) -> tuple[bool, dict[str, Any] | None]:
        """(found, record) from this replica's copy of a person, when it can be trusted."""
        cached = self._people.get(subject)
        if cached is None:
            return False, None
        age = time.monotonic() - cached[0]
        heard = self._broadcast is not None and self._broadcast.trusted(cached[1]) and age < self.person_cache_for
        if heard or age < self.person_fresh_for:
            return True, dict(cached[2]) if cached[2] is not None else None
        return False, None

    def _key(self, kind: str, key: str) -> str:
        return f"{self._prefix}:auth:{kind}:{key_part(key)}"

    def _encode(self, kind: Kind, name: str, record: dict[str, Any]) -> str:
        text = json.dumps(record, separators=(",", ":"))
        return self._vault.seal(text, name) if kind in SEALED else text

    def _decode(self, kind: Kind, name: str, raw: bytes | str | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        try:
            text = self._vault.open(raw, name) if kind in SEALED else raw.decode() if isinstance(raw, bytes) else raw
        except VaultError as exc:  # altered, or its key is gone: as if absent (the person signs in again)
            log.warning("%s", exc)
            return None
        record: dict[str, Any] = json.loads(text)
        self._remember(kind, record)
        return record

    async def put(self, kind: Kind, key: str, record: dict[str, Any], ttl: float | None) -> None:
        name = self._key(kind, key)
        if kind == "person":
            ttl = self.person_ttl if ttl is None else ttl
            self._people.pop(key, None)
        seconds = None if ttl is None else max(1, int(ttl))
        value = self._encode(kind, name, record)
        self._remember(kind, record)
        with guarded(self._client, f"storing a {kind} record", "Nothing was changed; sign in again."):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(name, value, ex=seconds)
                if kind == "person" and self._broadcast is not None:
                    await self._broadcast.publish(self._announce(key), pipe)
                subject = str(record.get("sub") or "")
                if kind == "refresh" and subject:
                    owned = self._key("refreshes", subject)
                    pipe.sadd(owned, name)
                    if seconds:
                        pipe.expire(owned, seconds)  # the newest refresh token expires last
                    if self.person_ttl is not None:  # the X tokens live as long as a way to use them
                        pipe.expire(self._key("person", subject), max(1, int(self.person_ttl)))
                await pipe.execute()

    async def get(self, kind: Kind, key: str) -> dict[str, Any] | None:
        if kind == "person":
            found, copy = self._copy(key)
            if found:
                return copy
        name = self._key(kind, key)
        epoch, changes = (self._broadcast.epoch if self._broadcast else 0), self._changes.get(key, 0)
        with guarded(self._client, f"reading a {kind} record", "Nothing was sent to X."):
            raw = await self._client.get(name)
        record = self._decode(kind, name, raw)
        if kind == "person" and self._changes.get(key, 0) == changes:  # no change announced while we read
            self._people[key] = (time.monotonic(), epoch, record)
            if len(self._people) > _REMEMBER:
                self._people.pop(next(iter(self._people)))
        return dict(record) if record is not None else None

    async def take(self, kind: Kind, key: str) -> dict[str, Any] | None:
        name = self._key(kind, key)
        with guarded(self._client, f"using a {kind} record", "Nothing was changed; try again."):
            raw = await self._client.getdel(name)
        record = self._decode(kind, name, raw)
        if kind == "refresh" and record is not None and record.get("sub"):
            with guarded(self._client, "updating a person's refresh tokens", "The token was used."):
                await self._client.srem(self._key("refreshes", str(record["sub"])), name)
        return record

    async def update(self, kind: Kind, key: str, record: dict[str, Any]) -> bool:
        name = self._key(kind, key)
        value = self._encode(kind, name, record)
        self._remember(kind, record)
        with guarded(self._client, f"updating a {kind} record", "Nothing was changed."):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(name, value, xx=True, keepttl=True)  # only while it exists: a sign-out is not undone
                if kind == "person" and self._broadcast is not None:
                    await self._broadcast.publish(self._announce(key), pipe)
                written = (await pipe.execute())[0]
        if kind == "person":
            self._people.pop(key, None)
        return bool(written)

    async def forget(self, subject: str) -> None:
        self._people.pop(subject, None)
        keys = [self._key("refreshes", subject), self._key("person", subject)]
        channel = self._broadcast.channel if self._broadcast is not None else ""
        with guarded(self._client, "signing a person out", "Nothing was deleted; sign out again."):
            await self._forget(keys=keys, args=[channel, self._announce(subject)])

    def secrets(self) -> list[str]:
        return list(self._opened)

    def _remember(self, kind: Kind, record: dict[str, Any]) -> None:
        """Token values this process has held, so logs redact them (never written anywhere)."""
        for field in SECRET_FIELDS.get(kind, ()):
            value = record.get(field)
            if value:
                self._opened[str(value)] = None
                self._opened.move_to_end(str(value))
        while len(self._opened) > _REMEMBER:
            self._opened.popitem(last=False)
