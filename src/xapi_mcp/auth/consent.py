"""When a tool needs user tokens we lack: start the right consent flow and tell the person where to go.

Also routes X's redirects to the flow they belong to, and reports status without ever exposing a
token. Where the callback is not served by the MCP app itself (another port, stdio transport,
startup mode), a small listener runs only while a flow is pending.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
import webbrowser
from collections.abc import Mapping
from typing import Any, Protocol

import anyio
import anyio.to_thread

from xapi_mcp.auth.oauth1 import OAuth1Flow
from xapi_mcp.auth.oauth2 import OAuth2PkceFlow
from xapi_mcp.auth.pending import CallbackResult
from xapi_mcp.errors import ConsentError
from xapi_mcp.stores import CredentialKind, TokenStore
from xapi_mcp.tools.tooldef import AuthRequirement

log = logging.getLogger(__name__)

USER_KINDS = (CredentialKind.OAUTH1_USER, CredentialKind.OAUTH2_USER)


class Listener(Protocol):
    """A server for the callback that runs only while needed."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Flow(Protocol):
    @property
    def pending(self) -> bool: ...

    async def begin(self) -> str: ...

    async def complete(self, params: Mapping[str, str]) -> CallbackResult: ...

    async def wait(self, timeout: float | None = None) -> bool: ...

    def secrets(self) -> list[str]: ...


class Consent:
    def __init__(
        self,
        store: TokenStore,
        *,
        oauth1: OAuth1Flow | None = None,
        oauth2: OAuth2PkceFlow | None = None,
        open_browser: bool = True,
        listener: Listener | None = None,
    ) -> None:
        self.store = store
        self.flows: dict[CredentialKind, Flow] = {}
        if oauth1 is not None:
            self.flows[CredentialKind.OAUTH1_USER] = oauth1
        if oauth2 is not None:
            self.flows[CredentialKind.OAUTH2_USER] = oauth2
        self.oauth2 = oauth2
        self.open_browser = open_browser
        self.listener = listener
        self._listening = False
        self._lock = anyio.Lock()
        self._stopper: asyncio.Task[None] | None = None
        # Where the HTTP server serves /oauth/start; unset (stdio, terminal): links go straight to X.
        self.start_url: str | None = None
        self._links: dict[str, tuple[CredentialKind, float]] = {}  # one-time code -> kind, expiry

    def secrets(self) -> list[str]:
        """Secrets of pending flows (the tokens they obtain go to the store), for redaction."""
        return [secret for flow in self.flows.values() for secret in flow.secrets()]

    async def prompt(self, requirement: AuthRequirement) -> str | None:
        """Start consent for the first user kind the operation accepts; the message to show, or None."""
        for kind in USER_KINDS:
            if kind in requirement.accepted and kind in self.flows:
                try:
                    url = await self.begin(kind)
                except ConsentError as exc:
                    return f"This tool needs a user's authorisation, and starting it failed: {exc}"
                if self.start_url is not None:
                    url = self.link(kind)
                    log.info("Consent link (works once): %s", url)
                return (
                    "This tool acts as an X user, and no user has authorised xapi-mcp yet. Open this URL "
                    f"in a browser and approve access: {url} — then call the tool again."
                )
        return None

    def link(self, kind: CredentialKind) -> str:
        """A one-time link to /oauth/start: only the links we hand out may start a flow there (CSRF)."""
        now = time.monotonic()
        self._links = {n: v for n, v in self._links.items() if v[1] > now}
        while len(self._links) >= 32:  # a model calling again and again must not grow this
            del self._links[next(iter(self._links))]
        nonce = secrets.token_urlsafe(24)
        timeout = getattr(self.flows.get(kind), "timeout", 300.0)
        self._links[nonce] = (kind, now + timeout)
        name = "oauth2" if kind is CredentialKind.OAUTH2_USER else "oauth1"
        return f"{self.start_url}?kind={name}&nonce={nonce}"

    def relink(self, kind: CredentialKind) -> str | None:
        """After X refused a user token: a one-time link to authorise again, where /oauth/start is served."""
        return self.link(kind) if self.start_url and kind in USER_KINDS else None

    def redeem(self, kind: CredentialKind, nonce: str) -> bool:
        """True once for a link we handed out for `kind`, before it expires; False for anything else."""
        found = next((n for n in self._links if hmac.compare_digest(n.encode(), nonce.encode())), None)
        if found is None:
            return False
        link_kind, expires = self._links.pop(found)
        return link_kind is kind and expires > time.monotonic()

    async def begin(self, kind: CredentialKind) -> str:
        flow = self.flows.get(kind)
        if flow is None:
            raise ConsentError(_not_configured(kind))
        already = flow.pending
        async with self._lock:
            if self.listener is not None and not self._listening:
                await self.listener.start()
                self._listening = True
        url = await flow.begin()
        if not already and self.open_browser:
            # Never block the event loop on a browser; the URL is also in the log and the result.
            await anyio.to_thread.run_sync(_open, url)
        return url

    async def complete(self, kind: CredentialKind, params: Mapping[str, str]) -> CallbackResult:
        flow = self.flows.get(kind)
        if flow is None:
            return CallbackResult(False, _not_configured(kind))
        result = await flow.complete(params)
        # This runs inside a request the listener is serving, and its shutdown waits for that
        # request: stop it from a task of its own, after the page is sent.
        self._stopper = asyncio.get_running_loop().create_task(self._stop_listener_if_idle())
        return result

    async def wait(self, kind: CredentialKind, timeout: float | None = None) -> bool:
        flow = self.flows.get(kind)
        done = await flow.wait(timeout) if flow is not None else False
        await self._stop_listener_if_idle()
        return done

    async def refresh_oauth2(self) -> bool:
        return await self.oauth2.refresh() if self.oauth2 is not None else False

    async def _stop_listener_if_idle(self) -> None:
        async with self._lock:
            if self.listener is not None and self._listening and not any(f.pending for f in self.flows.values()):
                await self.listener.stop()
                self._listening = False

    async def aclose(self) -> None:
        async with self._lock:
            if self.listener is not None and self._listening:
                await self.listener.stop()
                self._listening = False

    def status(self) -> dict[str, Any]:
        """What a person (or a health check) may know: which kinds are held, never their values."""
        return {
            "oauth1_user": self.store.has(CredentialKind.OAUTH1_USER),
            "oauth2_user": self.store.has(CredentialKind.OAUTH2_USER),
            "bearer": self.store.has(CredentialKind.BEARER),
            "screen_name": self.store.screen_name,
            "pending": sorted(kind.name for kind, flow in self.flows.items() if flow.pending),
        }


def _open(url: str) -> None:
    try:
        webbrowser.open(url, new=2)
    except Exception:
        log.debug("Could not open a browser", exc_info=True)


def _not_configured(kind: CredentialKind) -> str:
    if kind is CredentialKind.OAUTH2_USER:
        return (
            "OAuth 2.0 consent is not configured: set X_OAUTH2_CLIENT_ID (and X_OAUTH2_CLIENT_SECRET for a "
            "confidential client) from developer.x.com > your app > Keys and tokens > OAuth 2.0."
        )
    return "OAuth 1.0a consent is not configured: set X_OAUTH_CONSUMER_KEY and X_OAUTH_CONSUMER_SECRET."
