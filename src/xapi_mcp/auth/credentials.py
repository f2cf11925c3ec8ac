"""Credentials as httpx `Auth` plug-ins, one per kind, chosen per operation (tools/tooldef.py).

- `BearerAuth`: the app bearer token.
- `OAuth1Signer`: OAuth 1.0a user context, signed per request.
- `OAuth2UserAuth`: an OAuth 2.0 user token; on a 401 it refreshes the token (a callable wired in
  app.py, backed by the consent flow) and retries once, inside its own `auth_flow`, so whoever sends
  the request never talks to the consent flow.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator

import httpx2 as httpx
from authlib.common.urls import extract_params, url_decode
from authlib.oauth1 import ClientAuth
from authlib.oauth1.rfc5849.client_auth import generate_timestamp
from authlib.oauth1.rfc5849.errors import InsecureTransportError
from authlib.oauth1.rfc5849.parameters import prepare_headers
from authlib.oauth1.rfc5849.signature import (
    SIGNATURE_HMAC_SHA1,
    SIGNATURE_TYPE_HEADER,
    construct_base_string,
    hmac_sha1_signature,
)

from xapi_mcp.stores import CredentialKind, TokenStore


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

    Signing is a good part of the server's work per call, and authlib's `sign` renders the
    Authorization header, parses it back into a request object for the base string, then renders
    it again. For a request without form parameters (all of X's API: query strings, JSON and
    multipart bodies) the header is built once here from authlib's own pieces (its OAuth
    parameters, base string, HMAC-SHA1 and header rendering), with one random 128-bit nonce
    instead of 30 separate random draws; form-encoded bodies, whose fields are signed, take
    authlib's whole path.
    """

    requires_request_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        content_type = request.headers.get("Content-Type", "")
        form = "application/x-www-form-urlencoded" in content_type or (
            not content_type and bool(extract_params(request.content))
        )
        if form or self.signature_method != SIGNATURE_HMAC_SHA1 or self.signature_type != SIGNATURE_TYPE_HEADER:
            _, headers, _ = self.prepare(request.method, str(request.url), request.headers, request.content)
            request.headers["Authorization"] = headers["Authorization"]
        else:
            request.headers["Authorization"] = self.header(request)
        yield request

    def header(self, request: httpx.Request) -> str:
        """The Authorization header for a request whose only signed parameters are in its query."""
        url = str(request.url)
        InsecureTransportError.check(url)
        oauth = self.get_oauth_params(secrets.token_hex(16), generate_timestamp())
        query = url_decode(request.url.query.decode()) if request.url.query else []
        base = construct_base_string(request.method, url, [*query, *oauth], request.headers.get("Host"))
        oauth.append(("oauth_signature", hmac_sha1_signature(base, self.client_secret, self.token_secret)))
        return str(prepare_headers(oauth, {}, realm=self.realm)["Authorization"])

    def __repr__(self) -> str:
        return "OAuth1Signer(***)"


Refresh = Callable[[], Awaitable[bool]]


class OAuth2UserAuth(httpx.Auth):
    """`Authorization: Bearer <OAuth 2.0 user token>`, read from the store on every request.

    An access token lives 2 hours; when X answers 401 and a refresh is possible, the token is
    refreshed and the request sent once more with the new one.
    """

    def __init__(self, store: TokenStore, refresh: Refresh | None = None) -> None:
        self._store, self._refresh = store, refresh

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {self._store.oauth2_access_token}"
        response = yield request
        if response.status_code == 401 and self._refresh is not None and await self._refresh():
            request.headers["Authorization"] = f"Bearer {self._store.oauth2_access_token}"
            yield request

    def __repr__(self) -> str:
        return "OAuth2UserAuth(***)"


class Signers:
    """The `Auth` plug-in for each credential kind over one token store, built once per credential."""

    def __init__(self, store: TokenStore, *, refresh: Refresh | None = None) -> None:
        self.store = store
        self._oauth2 = OAuth2UserAuth(store, refresh)
        self._built: dict[CredentialKind, tuple[tuple[str | None, ...], httpx.Auth]] = {}

    def signer(self, kind: CredentialKind) -> httpx.Auth | None:
        """An httpx auth object for `kind`, reused while the credential is the same (signing is per request)."""
        if kind is CredentialKind.NONE:
            return None
        if kind is CredentialKind.OAUTH2_USER:
            return self._oauth2
        store = self.store
        if kind is CredentialKind.OAUTH1_USER:
            key: tuple[str | None, ...] = (
                store.consumer_key,
                store.consumer_secret,
                store.access_token,
                store.access_token_secret,
            )
        else:
            key = (store.bearer_token,)
        built = self._built.get(kind)
        if built is None or built[0] != key:
            built = self._built[kind] = (key, self._build(kind))
        return built[1]

    def _build(self, kind: CredentialKind) -> httpx.Auth:
        store = self.store
        if kind is CredentialKind.OAUTH1_USER:
            return OAuth1Signer(
                client_id=store.consumer_key,
                client_secret=store.consumer_secret,
                token=store.access_token,
                token_secret=store.access_token_secret,
            )
        return BearerAuth(str(store.bearer_token))
