"""What every browser consent flow shares: one pending flow at a time, accepted once, before it expires.

The rules that make a callback safe to accept live here once, for OAuth 1.0a and OAuth 2.0 alike.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallbackResult:
    ok: bool
    message: str  # shown to the person on the callback page; never contains a secret


@dataclass
class Pending:
    key: str  # what the callback must present: the request token (1.0a) or the state (2.0)
    secret: str  # what finishing needs: the request token secret (1.0a) or the PKCE verifier (2.0)
    url: str
    expires: float


class PendingFlow:
    """Holds the one pending flow; subclasses start it and finish it."""

    label = "OAuth"

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pending: Pending | None = None
        self._lock = anyio.Lock()
        self._done = anyio.Event()

    @property
    def pending(self) -> bool:
        return self._pending is not None and self._pending.expires > time.monotonic()

    def secrets(self) -> list[str]:
        """The pending flow's secret (request token secret or PKCE verifier), for redaction."""
        return [self._pending.secret] if self._pending is not None else []

    def _open(self, key: str, secret: str, url: str) -> str:
        self._pending = Pending(key, secret, url, time.monotonic() + self.timeout)
        self._done = anyio.Event()
        log.info("Consent needed (%s): open %s to authorise xapi-mcp for your X account", self.label, url)
        return url

    def _current(self) -> Pending | CallbackResult:
        """The pending flow, or the rejection for a callback when there is none (or it expired)."""
        pending = self._pending
        if pending is None:
            return self._reject("There is no authorisation in progress (or it was already completed).")
        if pending.expires <= time.monotonic():
            self._pending = None
            return self._reject("This authorisation link expired. Start again from your MCP client.")
        return pending

    def _close(self) -> None:
        """The flow ended (tokens stored, declined, or failed): a new one may start."""
        self._pending = None
        self._done.set()

    def _reject(self, message: str) -> CallbackResult:
        log.warning("%s callback rejected: %s", self.label, message)
        return CallbackResult(False, message)

    def _has_tokens(self) -> bool:
        raise NotImplementedError

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until the pending flow ends; True when the user's tokens are present."""
        with anyio.move_on_after(self.timeout if timeout is None else timeout):
            await self._done.wait()
        return self._has_tokens()
