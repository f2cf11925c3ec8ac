"""OAuth 2.0 authorization code + PKCE for the operations that accept only OAuth 2.0 user tokens.

X's bookmarks and `getSpacesBuyers` accept nothing else. Same model as the OAuth 1.0a flow: one
pending flow, the callback checked against it (`state`), tokens in memory only. With
`offline.access` X returns a refresh token, used when a call comes back 401.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import anyio
from authlib.integrations.httpx_client import AsyncOAuth2Client

from xapi_mcp.auth.credentials import TokenStore
from xapi_mcp.auth.oauth1 import CallbackResult

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    state: str
    verifier: str
    url: str
    expires: float


class OAuth2PkceFlow:
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
        self.store = store
        self.client_id = client_id
        self.client_secret = client_secret
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.callback_url = callback_url
        self.scope = " ".join(sorted({*scopes, "offline.access"}))
        self.timeout = timeout
        self._pending: _Pending | None = None
        self._lock = anyio.Lock()
        self._done = anyio.Event()

    @property
    def pending(self) -> bool:
        return self._pending is not None and self._pending.expires > time.monotonic()

    def _client(self) -> AsyncOAuth2Client:
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
            self._pending = _Pending(state, verifier, url, time.monotonic() + self.timeout)
            self._done = anyio.Event()
            log.info("Consent needed (OAuth 2.0): open %s to authorise xapi-mcp", url)
            return url

    async def complete(self, params: Mapping[str, str]) -> CallbackResult:
        async with self._lock:
            pending = self._pending
            if pending is None:
                return _reject("There is no OAuth 2.0 authorisation in progress (or it was already completed).")
            if pending.expires <= time.monotonic():
                self._pending = None
                return _reject("This authorisation link expired. Start again from your MCP client.")
            if not hmac.compare_digest(params.get("state", "").encode(), pending.state.encode()):
                return _reject("This callback does not belong to the authorisation in progress.")
            if params.get("error"):
                self._pending = None
                self._done.set()
                if params["error"] == "access_denied":
                    return _reject("You declined to authorise xapi-mcp. Nothing was changed.")
                return _reject(f"X reported an error: {params['error'][:100]}.")
            code = params.get("code", "")
            if not code:
                return _reject("X's redirect has no authorization code; the authorisation cannot finish.")
            try:
                async with self._client() as client:
                    token = await client.fetch_token(
                        self.token_url,
                        grant_type="authorization_code",
                        code=code,
                        code_verifier=pending.verifier,
                    )
            except Exception as exc:
                self._pending = None
                return _reject(f"X refused to exchange the code for a token ({type(exc).__name__}).")
            self._pending = None
            self._store(token)
            self._done.set()
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

    async def wait(self, timeout: float | None = None) -> bool:
        with anyio.move_on_after(self.timeout if timeout is None else timeout):
            await self._done.wait()
        return bool(self.store.oauth2_access_token)

    def _store(self, token: Mapping[str, object]) -> None:
        self.store.set_oauth2_user(str(token["access_token"]), _optional(token.get("refresh_token")))


def _optional(value: object) -> str | None:
    return str(value) if value else None


def _reject(message: str) -> CallbackResult:
    log.warning("OAuth 2.0 callback rejected: %s", message)
    return CallbackResult(False, message)
