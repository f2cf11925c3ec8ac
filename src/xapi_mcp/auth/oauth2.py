"""OAuth 2.0 authorization code + PKCE for the operations that accept only OAuth 2.0 user tokens.

X's bookmarks and `getSpacesBuyers` accept nothing else. Same model as the OAuth 1.0a flow (the
pending-flow rules are in pending.py; the callback must present the pending `state`), tokens in
memory only. With `offline.access` X returns a refresh token, used when a call comes back 401.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from xapi_mcp.auth.credentials import TokenStore
from xapi_mcp.auth.pending import CallbackResult, PendingFlow

log = logging.getLogger(__name__)


class OAuth2PkceFlow(PendingFlow):
    label = "OAuth 2.0"

    def __init__(
        self,
        store: TokenStore,
        *,
        client_id: str,
        client_secret: str | None,
        authorize_url: str,
        token_url: str,
        callback_url: str,
        scopes: Iterable[str],
        timeout: float = 300.0,
    ) -> None:
        super().__init__(timeout)
        self.store = store
        self.client_id = client_id
        self.client_secret = client_secret
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.callback_url = callback_url
        self.scope = " ".join(sorted({*scopes, "offline.access"}))

    def _has_tokens(self) -> bool:
        return bool(self.store.oauth2_access_token)

    def _client(self) -> AsyncOAuth2Client:
        # Imported when a consent flow runs: authlib's client integrations add ~0.1 s to startup.
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(
            self.client_id,
            self.client_secret,
            scope=self.scope,
            redirect_uri=self.callback_url,
            code_challenge_method="S256",
        )

    async def begin(self) -> str:
        async with self._lock:
            if self.pending:
                assert self._pending is not None
                return self._pending.url
            verifier = secrets.token_urlsafe(64)
            async with self._client() as client:
                url, state = client.create_authorization_url(self.authorize_url, code_verifier=verifier)
            return self._open(state, verifier, url)

    async def complete(self, params: Mapping[str, str]) -> CallbackResult:
        async with self._lock:
            pending = self._current()
            if isinstance(pending, CallbackResult):
                return pending
            if not hmac.compare_digest(params.get("state", "").encode(), pending.key.encode()):
                return self._reject("This callback does not belong to the authorisation in progress.")
            if params.get("error"):
                self._close()
                if params["error"] == "access_denied":
                    return self._reject("You declined to authorise xapi-mcp. Nothing was changed.")
                return self._reject(f"X reported an error: {params['error'][:100]}.")
            code = params.get("code", "")
            if not code:
                return self._reject("X's redirect has no authorization code; the authorisation cannot finish.")
            try:
                async with self._client() as client:
                    token = await client.fetch_token(
                        self.token_url, grant_type="authorization_code", code=code, code_verifier=pending.secret
                    )
            except Exception as exc:  # any failure leaves no tokens and is reported
                self._close()
                return self._reject(f"X refused to exchange the code for a token ({type(exc).__name__}).")
            self._store(token)
            self._close()
            log.info("Authorised with OAuth 2.0 (scopes: %s; tokens held in memory only)", token.get("scope", ""))
            return CallbackResult(True, "xapi-mcp is now authorised (OAuth 2.0). You can close this tab.")

    async def refresh(self) -> bool:
        """Swap the refresh token for a new access token; False when there is none or X refuses."""
        refresh_token = self.store.oauth2_refresh_token
        if not refresh_token:
            return False
        try:
            async with self._client() as client:
                token = await client.refresh_token(self.token_url, refresh_token=refresh_token)
        except Exception as exc:
            log.warning("OAuth 2.0 token refresh failed (%s)", type(exc).__name__)
            return False
        self._store(token)
        log.info("OAuth 2.0 access token refreshed")
        return True

    def _store(self, token: Mapping[str, object]) -> None:
        refresh = token.get("refresh_token")
        self.store.set_oauth2_user(str(token["access_token"]), str(refresh) if refresh else None)
