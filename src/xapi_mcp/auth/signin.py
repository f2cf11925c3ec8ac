"""Remote mode: signing in IS X's consent (OAuth 1.0a three-legged, with authlib's client).

`/authorize` validates the MCP client's request, then `begin` gets a request token from X and
keeps the authorization request in the state under it (the X callback may land on another
replica); `complete` exchanges X's verifier for that person's tokens, checks who may sign in, and
stores the tokens under their X user ID. Many people may be signing in at once; each sign-in is
accepted once, before it expires. Tokens are never logged or shown.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from xapi_mcp.auth.oauth1 import _reason
from xapi_mcp.auth.people import Person
from xapi_mcp.auth.remote_state import RemoteState
from xapi_mcp.errors import ConsentError

log = logging.getLogger(__name__)


NOT_STARTED = (
    "There is no sign-in in progress for this link (it was used, expired, or never started). "
    "Connect again from your MCP client."
)


@dataclass(frozen=True)
class SignedIn:
    person: Person
    authorize: dict[str, str]  # the MCP client's authorization request, as it was validated


@dataclass(frozen=True)
class Refused:
    message: str  # for the person's browser; never holds a secret
    authorize: dict[str, str] | None = None  # when known: send the error back to the client


class Allowed:
    """Who may sign in (X_MCP_SIGNIN_ALLOW): `*`, or X user IDs and @handles (case-insensitive)."""

    def __init__(self, setting: str) -> None:
        names = [n.strip() for n in setting.split(",") if n.strip()]
        self.anyone = "*" in names
        self.names = {n.lstrip("@").lower() for n in names if n != "*"}

    def __call__(self, person: Person) -> bool:
        return self.anyone or person.user_id in self.names or (person.screen_name or "").lower() in self.names

    def refusal(self, person: Person) -> str | None:
        """Why `person` may not sign in (for their browser), or None when they may; a refusal is logged."""
        if self(person):
            return None
        who = f"@{person.screen_name}" if person.screen_name else f"X user {person.user_id}"
        log.info("Sign-in refused for %s: not in X_MCP_SIGNIN_ALLOW", who)
        return (
            f"{who} may not use this xapi-mcp server (it admits only the accounts its operator listed). "
            "Ask the operator to add you, or sign in with another X account."
        )


class XSignIn:
    def __init__(
        self,
        state: RemoteState,
        *,
        consumer_key: str,
        consumer_secret: str,
        oauth_base_url: str,
        callback_url: str,
        allowed: Allowed,
        timeout: float = 300.0,
    ) -> None:
        self.state, self.allowed, self.timeout = state, allowed, timeout
        self.key, self.secret = consumer_key, consumer_secret
        self.base, self.callback_url = oauth_base_url.rstrip("/"), callback_url

    async def begin(self, authorize: dict[str, str]) -> str:
        """X's consent URL for this authorization request; raises ConsentError when X refuses."""
        from authlib.integrations.httpx_client import AsyncOAuth1Client

        client = AsyncOAuth1Client(self.key, self.secret, redirect_uri=self.callback_url)
        try:
            async with client:
                token = await client.fetch_request_token(f"{self.base}/oauth/request_token")
        except Exception as exc:  # authlib's OAuthError, transport errors: reported without secrets
            raise ConsentError(
                f"X refused the request token ({_reason(exc)}). The operator should check X_OAUTH_CONSUMER_KEY/"
                f"SECRET and that {self.callback_url} is a registered callback URL of the X app."
            ) from None
        if str(token.get("oauth_callback_confirmed", "")).lower() != "true":
            raise ConsentError(f"X did not confirm the callback URL; register {self.callback_url} in the X app.")
        request_token = str(token["oauth_token"])
        record = {"authorize": authorize, "request_secret": str(token["oauth_token_secret"])}
        await self.state.put("pending", request_token, record, self.timeout)
        return f"{self.base}/oauth/authorize?{urlencode({'oauth_token': request_token})}"

    async def complete(self, params: Mapping[str, str]) -> SignedIn | Refused:
        """X's redirect: the person and their stored tokens, or why not (nothing changed then)."""
        denied = params.get("denied")
        key = denied if denied is not None else params.get("oauth_token", "")
        pending = await self.state.take("pending", key) if key else None
        if pending is None:
            return Refused(NOT_STARTED)
        authorize: dict[str, str] = pending["authorize"]
        if denied is not None:
            return Refused("You declined to authorise xapi-mcp on X. Nothing was changed.", authorize)
        verifier = params.get("oauth_verifier", "")
        if not verifier:
            return Refused("X's redirect has no oauth_verifier; the sign-in cannot finish.", authorize)
        from authlib.integrations.httpx_client import AsyncOAuth1Client

        client = AsyncOAuth1Client(self.key, self.secret, token=key, token_secret=pending["request_secret"])
        try:
            async with client:
                access: dict[str, Any] = await client.fetch_access_token(f"{self.base}/oauth/access_token", verifier)
        except Exception as exc:
            return Refused(f"X refused to exchange the verifier for a token ({_reason(exc)}).", authorize)
        user_id = str(access.get("user_id") or str(access["oauth_token"]).split("-", 1)[0])
        person = Person(user_id, str(access.get("screen_name") or "") or None)
        refused = self.allowed.refusal(person)
        if refused is not None:
            return Refused(refused, authorize)
        tokens = {"token": str(access["oauth_token"]), "secret": str(access["oauth_token_secret"])}
        await self.state.put("person", user_id, {**tokens, "screen_name": person.screen_name}, None)
        log.info("Signed in: @%s (X user %s)", person.screen_name, user_id)
        return SignedIn(person, authorize)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
