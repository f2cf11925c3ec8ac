"""OAuth 1.0a three-legged consent flow (authlib), ending with user tokens in the TokenStore.

request_token (with oauth_callback, which X must confirm) -> the person opens the authorize URL
-> X redirects to our callback with oauth_token + oauth_verifier -> access_token. The pending-flow
rules (one at a time, accepted once, before the timeout) are in pending.py. Secrets never leave
this module except into the TokenStore.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from urllib.parse import urlencode

from xapi_mcp.auth.credentials import TokenStore
from xapi_mcp.auth.pending import CallbackResult, PendingFlow
from xapi_mcp.errors import ConsentError

__all__ = ["OAuth1Flow"]

log = logging.getLogger(__name__)


class OAuth1Flow(PendingFlow):
    """Runs the consent flow for one X app; finished tokens go into `store`."""

    label = "OAuth 1.0a"

    def __init__(
        self,
        store: TokenStore,
        *,
        oauth_base_url: str,
        callback_url: str,
        timeout: float = 300.0,
    ) -> None:
        super().__init__(timeout)
        self.store = store
        self.base = oauth_base_url.rstrip("/")
        self.callback_url = callback_url

    def _has_tokens(self) -> bool:
        return self.store.has_oauth1_user()

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
            # Imported when a consent flow runs: authlib's client integrations add ~0.1 s to startup.
            from authlib.integrations.base_client import OAuthError
            from authlib.integrations.httpx_client import AsyncOAuth1Client

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
            return self._open(request_token, str(token["oauth_token_secret"]), url)

    async def complete(self, params: Mapping[str, str]) -> CallbackResult:
        """Handle X's redirect to the callback. Anything unexpected is rejected and changes nothing."""
        async with self._lock:
            pending = self._current()
            if isinstance(pending, CallbackResult):
                return pending
            denied = params.get("denied")
            if denied is not None:
                if hmac.compare_digest(denied.encode(), pending.key.encode()):
                    self._close()
                    return self._reject("You declined to authorise xapi-mcp. Nothing was changed.")
                return self._reject("This callback does not belong to the authorisation in progress.")
            token, verifier = params.get("oauth_token", ""), params.get("oauth_verifier", "")
            if not hmac.compare_digest(token.encode(), pending.key.encode()):
                return self._reject("This callback does not belong to the authorisation in progress.")
            if not verifier:
                return self._reject("X's redirect has no oauth_verifier; the authorisation cannot finish.")
            from authlib.integrations.httpx_client import AsyncOAuth1Client

            client = AsyncOAuth1Client(
                self.store.consumer_key,
                self.store.consumer_secret,
                token=pending.key,
                token_secret=pending.secret,
            )
            try:
                async with client:
                    access = await client.fetch_access_token(f"{self.base}/oauth/access_token", verifier)
            except Exception as exc:  # any failure leaves no tokens and is reported
                self._close()
                return self._reject(f"X refused to exchange the verifier for a token ({_reason(exc)}).")
            self.store.set_oauth1_user(str(access["oauth_token"]), str(access["oauth_token_secret"]))
            self.store.screen_name = str(access.get("screen_name") or "") or None
            self._close()
            who = f"@{self.store.screen_name}" if self.store.screen_name else "your X account"
            log.info("Authorised as %s (OAuth 1.0a user context; tokens held in memory only)", who)
            return CallbackResult(True, f"xapi-mcp is now authorised to act as {who}. You can close this tab.")


def _reason(exc: BaseException) -> str:
    """An error's kind and description, without echoing anything that could hold a secret."""
    from authlib.integrations.base_client import OAuthError

    if isinstance(exc, OAuthError):
        return f"{exc.error}: {exc.description}" if exc.description else str(exc.error)
    return type(exc).__name__
