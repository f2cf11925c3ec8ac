"""OAuth 1.0a three-legged consent flow (authlib), ending with user tokens in the TokenStore.

request_token (with oauth_callback, which X must confirm) -> the person opens the authorize URL
-> X redirects to our callback with oauth_token + oauth_verifier -> access_token. One flow is
pending at a time; a callback is accepted once, only for the pending request token, and only
before the timeout. Secrets never leave this module except into the TokenStore.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import anyio
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth1Client

from xapi_mcp.auth.credentials import TokenStore

log = logging.getLogger(__name__)


class ConsentError(Exception):
    """The consent flow could not start or finish; the message says why and what to do."""


@dataclass(frozen=True)
class CallbackResult:
    ok: bool
    message: str  # shown to the person on the callback page; never contains a secret


@dataclass
class _Pending:
    token: str
    secret: str
    url: str
    expires: float


class OAuth1Flow:
    """Runs the consent flow for one X app; finished tokens go into `store`."""

    def __init__(
        self,
        store: TokenStore,
        *,
        oauth_base_url: str,
        callback_url: str,
        timeout: float = 300.0,
    ) -> None:
        self.store = store
        self.base = oauth_base_url.rstrip("/")
        self.callback_url = callback_url
        self.timeout = timeout
        self._pending: _Pending | None = None
        self._lock = anyio.Lock()
        self._done = anyio.Event()

    @property
    def pending(self) -> bool:
        return self._pending is not None and self._pending.expires > time.monotonic()

    async def begin(self) -> str:
        """The authorize URL of the pending flow, starting one (request token) if none is pending."""
        async with self._lock:
            if self.pending:
                assert self._pending is not None
                return self._pending.url
            if not (self.store.consumer_key and self.store.consumer_secret):
                raise ConsentError(
                    "OAuth 1.0a consent needs the app's keys: set X_OAUTH_CONSUMER_KEY and "
                    "X_OAUTH_CONSUMER_SECRET (developer.x.com > your app > Keys and tokens)."
                )
            client = AsyncOAuth1Client(
                self.store.consumer_key, self.store.consumer_secret, redirect_uri=self.callback_url
            )
            try:
                async with client:
                    token = await client.fetch_request_token(f"{self.base}/oauth/request_token")
            except (OAuthError, OSError, ValueError) as exc:
                raise ConsentError(
                    f"X refused the request token ({_reason(exc)}). Check X_OAUTH_CONSUMER_KEY/SECRET, and "
                    f"that {self.callback_url} is a registered callback URL of your X app."
                ) from None
            except Exception as exc:  # httpx2 transport errors
                raise ConsentError(f"Could not reach X for a request token: {type(exc).__name__}.") from None
            if str(token.get("oauth_callback_confirmed", "")).lower() != "true":
                raise ConsentError(
                    "X did not confirm the callback URL (oauth_callback_confirmed is not true); "
                    f"register {self.callback_url} as a callback URL in your X app settings."
                )
            request_token = str(token["oauth_token"])
            url = f"{self.base}/oauth/authorize?{urlencode({'oauth_token': request_token})}"
            self._pending = _Pending(
                request_token, str(token["oauth_token_secret"]), url, time.monotonic() + self.timeout
            )
            self._done = anyio.Event()
            log.info("Consent needed: open %s to authorise xapi-mcp for your X account", url)
            return url

    async def complete(self, params: Mapping[str, str]) -> CallbackResult:
        """Handle X's redirect to the callback. Anything unexpected is rejected and changes nothing."""
        async with self._lock:
            pending = self._pending
            if pending is None:
                return self._reject("There is no authorisation in progress (or it was already completed).")
            if pending.expires <= time.monotonic():
                self._pending = None
                return self._reject("This authorisation link expired. Start again from your MCP client.")
            denied = params.get("denied")
            if denied is not None:
                if hmac.compare_digest(denied, pending.token):
                    self._pending = None
                    self._done.set()
                    return self._reject("You declined to authorise xapi-mcp. Nothing was changed.")
                return self._reject("This callback does not belong to the authorisation in progress.")
            token, verifier = params.get("oauth_token", ""), params.get("oauth_verifier", "")
            if not hmac.compare_digest(token.encode(), pending.token.encode()):
                return self._reject("This callback does not belong to the authorisation in progress.")
            if not verifier:
                return self._reject("X's redirect has no oauth_verifier; the authorisation cannot finish.")
            client = AsyncOAuth1Client(
                self.store.consumer_key,
                self.store.consumer_secret,
                token=pending.token,
                token_secret=pending.secret,
            )
            try:
                async with client:
                    access = await client.fetch_access_token(f"{self.base}/oauth/access_token", verifier)
            except Exception as exc:
                self._pending = None
                return self._reject(f"X refused to exchange the verifier for a token ({_reason(exc)}).")
            self._pending = None
            self.store.set_oauth1_user(str(access["oauth_token"]), str(access["oauth_token_secret"]))
            self.store.screen_name = str(access.get("screen_name") or "") or None
            self._done.set()
            who = f"@{self.store.screen_name}" if self.store.screen_name else "your X account"
            log.info("Authorised as %s (OAuth 1.0a user context; tokens held in memory only)", who)
            return CallbackResult(True, f"xapi-mcp is now authorised to act as {who}. You can close this tab.")

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until the pending flow ends; True when user tokens are present."""
        with anyio.move_on_after(self.timeout if timeout is None else timeout):
            await self._done.wait()
        return self.store.has_oauth1_user()

    @staticmethod
    def _reject(message: str) -> CallbackResult:
        log.warning("OAuth 1.0a callback rejected: %s", message)
        return CallbackResult(False, message)


def _reason(exc: BaseException) -> str:
    """An error's kind and description, without echoing anything that could hold a secret."""
    if isinstance(exc, OAuthError):
        return f"{exc.error}: {exc.description}" if exc.description else str(exc.error)
    return type(exc).__name__
