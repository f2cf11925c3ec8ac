"""Remote mode: signing in with X's OAuth 2.0 (authorization code + PKCE S256), when X_OAUTH2_CLIENT_ID is set.

Same shape as `XSignIn` (auth/signin.py): `begin` keeps the MCP client's authorization request and the
PKCE verifier under X's `state` (kind "pending": the callback may land on another replica) and returns
X's consent URL; `complete` takes that record once, exchanges the code, asks X who signed in
(`GET /2/users/me`: X's token answer names no user), checks who may sign in and stores the person's
OAuth 2.0 tokens with their expiry (kind "person").

X rotates refresh tokens: each works once. `refresh` swaps one for new tokens and writes them back;
when two replicas refresh the same person at once, X accepts one (the other gets `invalid_grant`),
and the loser then reads the person's record until the winner's tokens appear and uses those.
Tokens are never logged or shown.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from xapi_mcp.auth.people import Person
from xapi_mcp.auth.remote_state import RemoteState
from xapi_mcp.auth.signin import NOT_STARTED, Allowed, Refused, SignedIn
from xapi_mcp.errors import StateUnavailable

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

log = logging.getLogger(__name__)

SIGNIN_SCOPES = ("users.read", "tweet.read", "offline.access")  # who signed in (/2/users/me); a refresh token
EARLY = 60.0  # seconds: a token this close to its expiry is refreshed before a request uses it
WAIT_FOR_WINNER = 5.0  # seconds the loser of a refresh race waits for the winner's tokens


class XSignInOAuth2:
    def __init__(
        self,
        state: RemoteState,
        *,
        client_id: str,
        client_secret: str | None,
        authorize_url: str,
        token_url: str,
        api_base_url: str,
        callback_url: str,
        scopes: Iterable[str],
        allowed: Allowed,
        timeout: float = 300.0,
    ) -> None:
        self.state, self.allowed, self.timeout = state, allowed, timeout
        self.client_id, self.client_secret = client_id, client_secret
        self.authorize_url, self.token_url, self.callback_url = authorize_url, token_url, callback_url
        self.me_url = f"{api_base_url.rstrip('/')}/2/users/me"
        self.scope = " ".join(sorted({*scopes, *SIGNIN_SCOPES}))
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _client(self, **token: Any) -> AsyncOAuth2Client:
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(
            self.client_id,
            self.client_secret,
            scope=self.scope,
            redirect_uri=self.callback_url,
            code_challenge_method="S256",
            timeout=30,
            **token,
        )

    async def begin(self, authorize: dict[str, str]) -> str:
        """X's consent URL for this authorization request (the pending record is written first)."""
        verifier = secrets.token_urlsafe(64)
        async with self._client() as client:
            url, state = client.create_authorization_url(self.authorize_url, code_verifier=verifier)
        await self.state.put("pending", state, {"authorize": authorize, "verifier": verifier}, self.timeout)
        return str(url)

    async def complete(self, params: Mapping[str, str]) -> SignedIn | Refused:
        """X's redirect: the person and their stored tokens, or why not (nothing stored then)."""
        key = params.get("state", "")
        pending = await self.state.take("pending", key) if key else None
        if pending is None:
            return Refused(NOT_STARTED)
        authorize: dict[str, str] = pending["authorize"]
        if params.get("error"):
            if params["error"] == "access_denied":
                return Refused("You declined to authorise xapi-mcp on X. Nothing was changed.", authorize)
            return Refused(f"X reported an error: {params['error'][:100]}. Nothing was changed.", authorize)
        code = params.get("code", "")
        if not code:
            return Refused("X's redirect has no authorization code; the sign-in cannot finish.", authorize)
        try:
            async with self._client() as client:
                token = await client.fetch_token(
                    self.token_url, grant_type="authorization_code", code=code, code_verifier=pending["verifier"]
                )
                me = await client.get(self.me_url)
        except Exception as exc:  # authlib's OAuthError, transport errors: reported without secrets
            return Refused(f"X refused to exchange the code for a token ({_reason(exc)}).", authorize)
        data = (me.json() if me.status_code == 200 else {}).get("data") or {}
        if not data.get("id"):
            return Refused(
                f"X did not say which account signed in (GET /2/users/me answered {me.status_code}). "
                "The operator should check that the X app's OAuth 2.0 settings allow the users.read scope.",
                authorize,
            )
        person = Person(str(data["id"]), str(data.get("username") or "") or None)
        refused = self.allowed.refusal(person)
        if refused is not None:
            return Refused(refused, authorize)
        await self.state.put("person", person.user_id, {**_tokens(token), "screen_name": person.screen_name}, None)
        log.info("Signed in with OAuth 2.0: @%s (X user %s)", person.screen_name, person.user_id)
        return SignedIn(person, authorize)

    async def current(self, user_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """The person's record, refreshed first when its access token is (nearly) past its expiry."""
        expires = record.get("expires_at")
        if expires is None or float(expires) - EARLY > time.time():
            return record
        return await self.refresh(user_id, str(record["oauth2_token"])) or record

    async def refresh(self, user_id: str, stale: str) -> dict[str, Any] | None:
        """The person's record with an access token other than `stale` (refreshed at X if need be), or None."""
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        async with lock:  # one refresh per person in this process; other replicas: see `_winner`
            record = await self.state.get("person", user_id)
            if record is None or not record.get("oauth2_token"):
                return None  # signed out meanwhile
            if record["oauth2_token"] != stale:
                return record  # refreshed already, here or on another replica
            if not record.get("oauth2_refresh"):
                return None
            try:
                async with self._client(token={"refresh_token": record["oauth2_refresh"]}) as client:
                    token = await client.refresh_token(self.token_url, refresh_token=record["oauth2_refresh"])
            except Exception as exc:
                if getattr(exc, "error", None) == "invalid_grant":  # another replica used it first
                    return await self._winner(user_id, stale)
                log.warning("OAuth 2.0 token refresh for X user %s failed (%s)", user_id, _reason(exc))
                return None
            updated = {**record, **_tokens(token)}
            if not await self.state.update("person", user_id, updated):
                return None  # signed out while X refreshed: the new tokens are not kept
            log.info("OAuth 2.0 access token of X user %s refreshed", user_id)
            return updated

    async def _winner(self, user_id: str, stale: str) -> dict[str, Any] | None:
        """The tokens the replica that won the refresh stores (it may not have written them yet)."""
        deadline = time.monotonic() + WAIT_FOR_WINNER
        while time.monotonic() < deadline:
            record = await self.state.get("person", user_id)
            if record is None:
                return None
            if record.get("oauth2_token") not in (None, stale):
                return record
            await asyncio.sleep(0.1)
        log.warning("X refused the refresh token of X user %s and no other replica stored new tokens", user_id)
        return None

    async def refresh_current(self, people: Any, user_id: str) -> bool:
        """The executor's refresh on a 401: new tokens into this request's store (`people`: PersonStore)."""
        stale = people.oauth2_access_token
        if not stale:
            return False
        try:
            record = await self.refresh(user_id, stale)
        except StateUnavailable as exc:  # X's 401 stands; the call says so
            log.warning("OAuth 2.0 token refresh not possible: %s", exc)
            return False
        if record is None:
            return False
        people.set_oauth2_user(record["oauth2_token"], record.get("oauth2_refresh"))
        return True


def _tokens(token: Mapping[str, Any]) -> dict[str, Any]:
    expires = token.get("expires_at")
    return {
        "oauth2_token": str(token["access_token"]),
        "oauth2_refresh": str(token["refresh_token"]) if token.get("refresh_token") else None,
        "expires_at": int(expires) if expires else None,
    }


def _reason(exc: Exception) -> str:
    """What went wrong, in words that hold no secret (authlib's error code, or the exception's type)."""
    error = getattr(exc, "error", None)
    return str(error)[:100] if error else type(exc).__name__
