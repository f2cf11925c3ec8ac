"""What remote mode (X_MCP_AUTH=oauth) keeps between requests, behind one small async protocol.

Kinds of record: registered clients, authorization codes and refresh tokens (keyed by the SHA-256
of the value: a copy of the store holds nothing a client could present), sign-ins waiting for X's
redirect, and each person's X tokens. `take` is get-and-delete in one step (a code or refresh token
works once, even with two replicas racing). The memory implementation serves one process; a Redis
one (GETDEL, key TTLs, a set of keys per person for sign-out) fills the same protocol.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Literal, Protocol

Kind = Literal["client", "code", "refresh", "pending", "person"]
# The fields of a record that hold a secret (redacted from logs): X tokens (OAuth 1.0a or 2.0), a pending
# sign-in's request-token secret or PKCE verifier.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("token", "secret", "oauth2_token", "oauth2_refresh"),
    "pending": ("request_secret", "verifier"),
}


def digest(value: str) -> str:
    """How codes and refresh tokens are keyed: SHA-256 of a high-entropy value (no salt needed)."""
    return hashlib.sha256(value.encode()).hexdigest()


class RemoteState(Protocol):
    async def put(self, kind: Kind, key: str, record: dict[str, Any], ttl: float | None) -> None: ...

    async def get(self, kind: Kind, key: str) -> dict[str, Any] | None: ...

    async def take(self, kind: Kind, key: str) -> dict[str, Any] | None:
        """The record, deleted in the same step; None when absent, expired or already taken."""
        ...

    async def update(self, kind: Kind, key: str, record: dict[str, Any]) -> bool:
        """Replace a record that still exists, keeping its lifetime; False when it is gone (a sign-out wins)."""
        ...

    async def forget(self, subject: str) -> None:
        """Sign-out: the person's X tokens and every refresh token issued for them."""
        ...

    def secrets(self) -> list[str]:
        """X token values held in this process, for redaction (logs.watch_secrets)."""
        ...


class MemoryRemoteState:
    """In process memory: one replica, gone on restart."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._records: dict[tuple[str, str], tuple[dict[str, Any], float | None]] = {}
        self._clock = clock

    def _live(self, kind: Kind, key: str) -> dict[str, Any] | None:
        found = self._records.get((kind, key))
        if found is None:
            return None
        record, expires = found
        if expires is not None and expires <= self._clock():
            del self._records[(kind, key)]
            return None
        return record

    async def put(self, kind: Kind, key: str, record: dict[str, Any], ttl: float | None) -> None:
        if len(self._records) > 100_000:  # expired records otherwise stay until looked up
            now = self._clock()
            self._records = {k: v for k, v in self._records.items() if v[1] is None or v[1] > now}
        self._records[(kind, key)] = (dict(record), None if ttl is None else self._clock() + ttl)

    async def get(self, kind: Kind, key: str) -> dict[str, Any] | None:
        record = self._live(kind, key)
        return dict(record) if record is not None else None

    async def take(self, kind: Kind, key: str) -> dict[str, Any] | None:
        record = self._live(kind, key)
        if record is not None:
            del self._records[(kind, key)]
        return record

    async def update(self, kind: Kind, key: str, record: dict[str, Any]) -> bool:
        if self._live(kind, key) is None:
            return False
        self._records[(kind, key)] = (dict(record), self._records[(kind, key)][1])
        return True

    async def forget(self, subject: str) -> None:
        self._records.pop(("person", subject), None)
        for key in [k for k, (r, _) in self._records.items() if k[0] == "refresh" and r.get("sub") == subject]:
            del self._records[key]

    def secrets(self) -> list[str]:
        found = []
        for (kind, _), (record, _) in list(self._records.items()):
            found += [str(record[k]) for k in SECRET_FIELDS.get(kind, ()) if record.get(k)]
        return found
