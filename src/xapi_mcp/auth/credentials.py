"""Which credential signs which request.

X operations declare the credential kinds they accept in `security`. Sending the wrong kind is the
most common failure of generic OpenAPI-to-MCP servers (XMCP signs every call with OAuth 1.0a, and
X rejects 28 of its 124 tools for it). Here each operation gets the best kind it accepts that we
hold: OAuth 1.0a user context, then an OAuth 2.0 user token, then the app bearer token.
"""

from __future__ import annotations

import enum
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
from authlib.oauth1 import ClientAuth

from xapi_mcp.errors import MissingCredentials


class CredentialKind(enum.Enum):
    OAUTH1_USER = "OAuth 1.0a user context"
    OAUTH2_USER = "OAuth 2.0 user token"
    BEARER = "app bearer token"
    NONE = "no credentials"


# Preference order when an operation accepts several kinds: act as the user when we can.
PREFERENCE = (CredentialKind.OAUTH1_USER, CredentialKind.OAUTH2_USER, CredentialKind.BEARER)

WHAT_TO_SET = {
    CredentialKind.OAUTH1_USER: (
        "X_OAUTH_CONSUMER_KEY and X_OAUTH_CONSUMER_SECRET (your X app's API key and secret; the browser "
        "consent flow then runs on first use, or also set X_OAUTH_ACCESS_TOKEN and X_OAUTH_ACCESS_TOKEN_SECRET)"
    ),
    CredentialKind.OAUTH2_USER: (
        "X_OAUTH2_CLIENT_ID (and X_OAUTH2_CLIENT_SECRET) from your X app's OAuth 2.0 settings, to authorise in "
        "the browser, or X_OAUTH2_ACCESS_TOKEN (a user access token with these scopes)"
    ),
    CredentialKind.BEARER: "X_BEARER_TOKEN (your X app's bearer token)",
}


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <token>`; the token never leaves this object except in that header."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class OAuth1Signer(httpx.Auth, ClientAuth):
    """authlib's OAuth 1.0a signer for httpx2, keeping JSON bodies.

    authlib's `ClientAuth.prepare` returns an empty body for anything not form-encoded (JSON is
    not part of the signature base string), and its httpx `OAuth1Auth` sends that empty body:
    every signed POST would reach X without its JSON (authlib issue #543). We sign with authlib
    and add only its Authorization header to the request as built (header signing changes
    nothing else), which also spares building the request a second time.
    """

    requires_request_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        _, headers, _ = self.prepare(request.method, str(request.url), request.headers, request.content)
        request.headers["Authorization"] = headers["Authorization"]
        yield request

    def __repr__(self) -> str:
        return "OAuth1Signer(***)"


@dataclass
class TokenStore:
    """Credentials of the running process. In memory only: nothing here is written anywhere."""

    consumer_key: str | None = None
    consumer_secret: str | None = None
    access_token: str | None = None
    access_token_secret: str | None = None
    bearer_token: str | None = None
    oauth2_access_token: str | None = None
    oauth2_refresh_token: str | None = field(default=None, repr=False)
    screen_name: str | None = None  # of the user who consented, when X told us
    _signers: dict[CredentialKind, httpx.Auth] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        held = ", ".join(kind.name for kind in PREFERENCE if self.has(kind)) or "none"
        return f"TokenStore(holds: {held})"

    def has(self, kind: CredentialKind) -> bool:
        if kind is CredentialKind.OAUTH1_USER:
            return all((self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret))
        if kind is CredentialKind.OAUTH2_USER:
            return bool(self.oauth2_access_token)
        if kind is CredentialKind.BEARER:
            return bool(self.bearer_token)
        return True

    def has_oauth1_user(self) -> bool:
        return self.has(CredentialKind.OAUTH1_USER)

    def set_oauth1_user(self, token: str, secret: str) -> None:
        self.access_token, self.access_token_secret = token, secret
        self._signers.pop(CredentialKind.OAUTH1_USER, None)

    def set_oauth2_user(self, token: str, refresh_token: str | None) -> None:
        self.oauth2_access_token = token
        self.oauth2_refresh_token = refresh_token or self.oauth2_refresh_token
        self._signers.pop(CredentialKind.OAUTH2_USER, None)

    def secrets(self) -> list[str]:
        """Every credential value held (the consumer key too: X echoes it), for redaction."""
        values = (
            self.consumer_key,
            self.consumer_secret,
            self.access_token,
            self.access_token_secret,
            self.bearer_token,
            self.oauth2_access_token,
            self.oauth2_refresh_token,
        )
        return [v for v in values if v]

    def clear(self) -> None:
        """Forget every user token (shutdown); the app's own keys stay as configured."""
        self.access_token = self.access_token_secret = None
        self.oauth2_access_token = self.oauth2_refresh_token = self.screen_name = None
        self._signers.clear()

    def signer(self, kind: CredentialKind) -> httpx.Auth | None:
        """An httpx auth object for `kind`, built once and reused (signing is per request)."""
        if kind is CredentialKind.NONE:
            return None
        if kind not in self._signers:
            self._signers[kind] = self._build_signer(kind)
        return self._signers[kind]

    def _build_signer(self, kind: CredentialKind) -> httpx.Auth:
        if kind is CredentialKind.OAUTH1_USER:
            return OAuth1Signer(
                client_id=self.consumer_key,
                client_secret=self.consumer_secret,
                token=self.access_token,
                token_secret=self.access_token_secret,
            )
        if kind is CredentialKind.OAUTH2_USER:
            return BearerAuth(str(self.oauth2_access_token))
        return BearerAuth(str(self.bearer_token))


def scheme_kinds(security_schemes: Mapping[str, Any]) -> dict[str, CredentialKind]:
    """Map the document's security scheme names to credential kinds by what the schemes are."""
    kinds: dict[str, CredentialKind] = {}
    for name, scheme in security_schemes.items():
        if not isinstance(scheme, dict):
            continue
        scheme_type = scheme.get("type")
        http_scheme = str(scheme.get("scheme", "")).lower()
        if scheme_type == "http" and http_scheme == "bearer":
            kinds[name] = CredentialKind.BEARER
        elif scheme_type == "http" and http_scheme == "oauth":
            kinds[name] = CredentialKind.OAUTH1_USER
        elif scheme_type in ("oauth2", "openIdConnect"):
            kinds[name] = CredentialKind.OAUTH2_USER
    return kinds


@dataclass(frozen=True)
class AuthRequirement:
    """The credential kinds one operation accepts, and the OAuth 2.0 scopes it names."""

    accepted: tuple[CredentialKind, ...]
    scopes: tuple[str, ...] = ()

    @classmethod
    def from_security(
        cls, security: Iterable[Mapping[str, list[str]]] | None, kinds: Mapping[str, CredentialKind]
    ) -> AuthRequirement:
        if security is None:
            return cls(accepted=(CredentialKind.NONE,))
        accepted: list[CredentialKind] = []
        scopes: list[str] = []
        for alternative in security:
            if not alternative:  # `{}`: anonymous access allowed
                accepted.append(CredentialKind.NONE)
                continue
            if len(alternative) != 1:
                continue  # combined requirements (A and B) are not used by X; not supported
            ((name, names_scopes),) = alternative.items()
            kind = kinds.get(name)
            if kind is not None:
                accepted.append(kind)
                if kind is CredentialKind.OAUTH2_USER:
                    scopes.extend(names_scopes or [])
        if not list(security):
            accepted.append(CredentialKind.NONE)
        return cls(accepted=tuple(dict.fromkeys(accepted)), scopes=tuple(dict.fromkeys(scopes)))

    def choose(self, store: TokenStore) -> CredentialKind:
        """The preferred kind we hold, or MissingCredentials naming what to configure."""
        for kind in PREFERENCE:
            if kind in self.accepted and store.has(kind):
                return kind
        if CredentialKind.NONE in self.accepted:
            return CredentialKind.NONE
        raise MissingCredentials(self.missing_message())

    def missing_message(self) -> str:
        options = [WHAT_TO_SET[kind] for kind in PREFERENCE if kind in self.accepted]
        if not options:
            return "This operation declares no credential kind that xapi-mcp supports."
        scope_note = f" (OAuth 2.0 scopes: {', '.join(self.scopes)})" if self.scopes else ""
        names = " or ".join(kind.value for kind in PREFERENCE if kind in self.accepted)
        return (
            f"This tool needs {names}{scope_note}, and none is configured. Set "
            + "; or ".join(options)
            + " in the environment or .env, then restart xapi-mcp."
        )
