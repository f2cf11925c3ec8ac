"""Remote mode's HTTP side: /mcp as an OAuth 2.1 protected resource, and the authorization server's pages.

- `RequireAccessToken` guards /mcp: a valid access token (ours, audience = this MCP URL, not
  expired) of a person who is still signed in, else 401 with `WWW-Authenticate: Bearer
  resource_metadata=...` (RFC 9728); the person's X tokens become the request's token store; a
  2025-11-25 session belongs to the person who opened it.
- `auth_routes`: RFC 9728 and RFC 8414 metadata, /authorize (-> X's consent -> back with a code),
  /token, /register (RFC 7591), /signout. The protocol is authlib's (auth/mcp_as.py); this is glue.
"""

from __future__ import annotations

import base64
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xapi_mcp.auth.cimd import ClientMetadataDocuments, MetadataError, is_metadata_url
from xapi_mcp.auth.mcp_as import (
    CODE_TTL,
    Client,
    Grant,
    InvalidTargetError,
    Issuer,
    Loaded,
    json_request,
    oauth_request,
)
from xapi_mcp.auth.people import Person, PersonStore, acting_as, current_person
from xapi_mcp.auth.remote_state import Kind, RemoteState, digest
from xapi_mcp.auth.signin import Refused, XSignIn
from xapi_mcp.auth.signin_oauth2 import XSignInOAuth2
from xapi_mcp.errors import ConsentError, StateUnavailable
from xapi_mcp.server.oauth_pages import _page
from xapi_mcp.stores import MemoryTokenStore

log = logging.getLogger(__name__)

PRM_PATH = "/.well-known/oauth-protected-resource"
Endpoint = Callable[[Request], Awaitable[Response]]


class Remote:
    """Everything remote mode serves, over one state (memory now; Redis fills the same protocol)."""

    def __init__(
        self,
        issuer: Issuer,
        state: RemoteState,
        signin: XSignIn | XSignInOAuth2,
        people: PersonStore,
        documents: ClientMetadataDocuments,
        *,
        refresh_ttl: float,
        callback_path: str,
    ) -> None:
        self.issuer, self.state, self.signin, self.people, self.documents = issuer, state, signin, people, documents
        self.refresh_ttl, self.callback_path = refresh_ttl, callback_path
        self.validator = issuer.validator()
        self.metadata_url = f"{issuer.issuer}{PRM_PATH}/mcp"

    # --- the resource server ----------------------------------------------------------------
    async def person_for(self, authorization: str) -> tuple[Person, dict[str, Any]] | str:
        """The person an `Authorization` header acts for and their X tokens, or why not."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return ""
        try:
            claims = self.validator.authenticate_token(token.strip())
            self.validator.validate_token(claims, None, None)
        except OAuth2Error:
            return "The access token is not valid here (expired, for another server or resource, or altered)."
        tokens = await self.state.get("person", str(claims["sub"]))
        if tokens is None:
            return "You signed out of this server (or an operator removed your X authorisation): sign in again."
        return Person(str(claims["sub"]), tokens.get("screen_name")), tokens

    async def store_for(self, person: Person, tokens: dict[str, Any]) -> MemoryTokenStore:
        """The request's token store: the person's OAuth 1.0a tokens, or their OAuth 2.0 ones (fresh)."""
        if not tokens.get("oauth2_token"):
            return self.people.for_person(person, tokens["token"], tokens["secret"])
        if isinstance(self.signin, XSignInOAuth2):
            tokens = await self.signin.current(person.user_id, tokens)
        return self.people.for_oauth2(person, tokens["oauth2_token"], tokens.get("oauth2_refresh"))

    async def refresh_oauth2(self) -> bool:
        """The executor's refresh when X answers 401 to this request's person's OAuth 2.0 token."""
        if not isinstance(self.signin, XSignInOAuth2):
            return False
        return await self.signin.refresh_current(self.people, current_person())

    async def aclose(self) -> None:
        await self.documents.aclose()

    def guard(self, app: ASGIApp) -> ASGIApp:
        return RequireAccessToken(app, self)

    # --- the authorization server -----------------------------------------------------------
    async def client(self, client_id: str) -> Client | None:
        if is_metadata_url(client_id):
            return await self.documents.client_for(client_id)
        record = await self.state.get("client", client_id)
        if record is None:
            return None
        # A registration lives as long as a refresh token could (each use renews it): /register is open to
        # anyone, so clients that never sign in, or stopped, are forgotten rather than kept for ever.
        await self.state.put("client", client_id, record, self.refresh_ttl)
        return Client(**record)

    def routes(self) -> list[Route]:
        return [
            Route(PRM_PATH, self.protected_resource, methods=["GET"]),
            Route(f"{PRM_PATH}/mcp", self.protected_resource, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", self.server_metadata, methods=["GET"]),
            Route("/authorize", _retry_later(self.authorize), methods=["GET"]),
            Route(self.callback_path, _retry_later(self.x_callback), methods=["GET"]),
            Route("/token", _retry_later(self.token), methods=["POST"]),
            Route("/register", _retry_later(self.register), methods=["POST"]),
            Route("/signout", _retry_later(self.signout), methods=["POST"]),
        ]

    async def protected_resource(self, request: Request) -> Response:
        return JSONResponse(self.issuer.protected_resource(), headers={"Cache-Control": "max-age=3600"})

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse(self.issuer.metadata, headers={"Cache-Control": "max-age=3600"})

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        resource = params.get("resource")
        loaded = Loaded()
        try:
            loaded.client = await self.client(params.get("client_id", ""))
        except MetadataError as exc:
            return _page("This app cannot sign in here", str(exc), 400)
        server = self.issuer.server(loaded)
        oauth = self.issuer.authorize_request(params)
        if loaded.client is None:
            return _page("Unknown app", "This app is not registered with this server; reconnect it.", 400)
        try:
            server.get_consent_grant(oauth)
            if resource is not None and resource != self.issuer.resource:
                raise InvalidTargetError(f"This server issues tokens only for {self.issuer.resource}.")
        except OAuth2Error as error:
            return self._error(server, oauth, error, params, loaded.client)
        try:
            return RedirectResponse(await self.signin.begin(params), status_code=302)
        except ConsentError as exc:
            return _page("Cannot reach X's sign-in", str(exc), 502)

    def _error(self, server: Any, oauth: Any, error: OAuth2Error, params: dict[str, str], client: Client) -> Response:
        """An authorization error goes back to the app when its redirect URI is registered, else on a page."""
        redirect = params.get("redirect_uri", "")
        if redirect and client.check_redirect_uri(redirect):
            error.redirect_uri, error.state = redirect, params.get("state")
            status, _, headers = server.handle_error_response(oauth, error)
            return Response(status_code=status, headers=headers)
        return _page("The app's sign-in request is not valid", f"{error.error}: {error.description}", 400)

    async def x_callback(self, request: Request) -> Response:
        result = await self.signin.complete(dict(request.query_params))
        if isinstance(result, Refused):
            if result.authorize is None or not result.authorize.get("redirect_uri"):
                return _page("Sign-in not completed", result.message, 400)
            query = {"error": "access_denied", "error_description": result.message}
            if result.authorize.get("state"):
                query["state"] = result.authorize["state"]
            return RedirectResponse(f"{result.authorize['redirect_uri']}?{urlencode(query)}", status_code=302)
        loaded = Loaded()
        try:
            loaded.client = await self.client(result.authorize.get("client_id", ""))
        except MetadataError as exc:
            return _page("This app cannot sign in here", str(exc), 400)
        server = self.issuer.server(loaded)
        oauth = self.issuer.authorize_request(result.authorize)
        try:
            grant = server.get_consent_grant(oauth, end_user=result.person)
        except OAuth2Error as error:
            return _page("Sign-in not completed", f"{error.error}: {error.description}", 400)
        status, _, headers = server.create_authorization_response(oauth, grant_user=result.person, grant=grant)
        for code, issued in loaded.issued_codes:
            await self.state.put("code", digest(code), _record(issued), CODE_TTL)
        return Response(status_code=status, headers=headers)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        headers = {"Authorization": request.headers.get("authorization", "")}
        loaded = Loaded()
        client_id = form.get("client_id") or _basic_client_id(headers["Authorization"])
        try:
            loaded.client = await self.client(client_id) if client_id else None
        except MetadataError as exc:
            return JSONResponse({"error": "invalid_client", "error_description": str(exc)}, status_code=401)
        grant_type = form.get("grant_type")
        presented = form.get("code") if grant_type == "authorization_code" else form.get("refresh_token")
        if presented and grant_type in ("authorization_code", "refresh_token"):
            kind: Kind = "code" if grant_type == "authorization_code" else "refresh"
            record = await self.state.take(kind, digest(presented))  # used once, whatever happens next
            loaded.grant = Grant(**record) if record is not None else None
        server = self.issuer.server(loaded)
        oauth = oauth_request("POST", f"{self.issuer.issuer}/token", form, headers)
        resource = form.get("resource")
        if resource is not None and resource != self.issuer.resource:
            status, body, out = server.handle_error_response(oauth, InvalidTargetError())
            return JSONResponse(body, status_code=status, headers=out)
        status, body, out = server.create_token_response(oauth)
        for token, grant in loaded.issued_tokens:
            if token.get("refresh_token"):
                await self.state.put("refresh", digest(token["refresh_token"]), _record(grant), self.refresh_ttl)
        return JSONResponse(body, status_code=status, headers=out)

    async def register(self, request: Request) -> Response:
        try:
            data = await request.json()
        except ValueError:
            data = None
        loaded = Loaded()
        server = self.issuer.server(loaded)
        if not isinstance(data, dict):
            status, body, out = server.handle_error_response(None, InvalidRequestError("Send client metadata as JSON."))
            return JSONResponse(body, status_code=status, headers=out)
        status, body, out = server.create_endpoint_response(
            "client_registration", json_request(f"{self.issuer.issuer}/register", data, dict(request.headers))
        )
        for client in loaded.registered:
            await self.state.put("client", client.client_id, client.record(), self.refresh_ttl)
        return JSONResponse(body, status_code=status, headers=out)

    async def signout(self, request: Request) -> Response:
        """Delete the caller's X tokens and refresh tokens: every client of theirs must sign in again."""
        found = await self.person_for(request.headers.get("authorization", ""))
        if isinstance(found, str):
            return self.unauthorized(found)
        person, _ = found
        await self.state.forget(person.user_id)
        log.info("Signed out: @%s (X user %s)", person.screen_name, person.user_id)
        return JSONResponse({"signed_out": f"@{person.screen_name}" if person.screen_name else person.user_id})

    def unauthorized(self, reason: str) -> Response:
        challenge = f'Bearer resource_metadata="{self.metadata_url}"'
        if reason:
            challenge += f', error="invalid_token", error_description="{reason}"'
        message = reason or "Sign in: this server acts for the person signed in with X (OAuth; see resource_metadata)."
        return Response(message, status_code=401, headers={"WWW-Authenticate": challenge})


class RequireAccessToken:
    """The /mcp guard: the bearer token's person, and only theirs, for the whole request."""

    def __init__(self, app: ASGIApp, remote: Remote, max_sessions: int = 10_000) -> None:
        self.app, self.remote = app, remote
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(remote.issuer.issuer))
        self.sessions: OrderedDict[bytes, str] = OrderedDict()  # Mcp-Session-Id -> the user ID who opened it
        self.max_sessions = max_sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and origin != self.origin:
            await Response("Invalid Origin header", status_code=403)(scope, receive, send)
            return
        try:
            found = await self.remote.person_for(headers.get(b"authorization", b"").decode("latin-1"))
            store = await self.remote.store_for(*found) if not isinstance(found, str) else None
        except StateUnavailable as exc:  # never a guess at who is asking: nobody is served until it answers
            await unavailable(exc)(scope, receive, send)
            return
        if isinstance(found, str) or store is None:
            await self.remote.unauthorized(str(found))(scope, receive, send)
            return
        person, _ = found
        session = headers.get(b"mcp-session-id")
        if session is not None and self.sessions.get(session, person.user_id) != person.user_id:
            message = "This MCP session was opened by another person; open your own session (initialize)."
            await Response(message, status_code=403)(scope, receive, send)
            return

        async def bind(message: Message) -> None:
            if message["type"] == "http.response.start" and session is None:
                opened = dict(message.get("headers") or []).get(b"mcp-session-id")
                if opened is not None:
                    self.sessions[opened] = person.user_id
                    while len(self.sessions) > self.max_sessions:
                        self.sessions.popitem(last=False)
            await send(message)

        with acting_as(store, person.user_id):
            await self.app(scope, receive, bind)


RETRY_AFTER = 5  # seconds: Redis's client gives up within about 2 s, so a few seconds is a fair first retry


def unavailable(exc: StateUnavailable) -> Response:
    """503 with Retry-After: the shared state did not answer (the message says what failed; no secret in it)."""
    return Response(str(exc), status_code=503, headers={"Retry-After": str(RETRY_AFTER)})


def _retry_later(endpoint: Endpoint) -> Endpoint:
    """An authorization-server page whose state store did not answer: 503 and when to retry, nothing half-done."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except StateUnavailable as exc:
            log.warning("%s: %s", request.url.path, exc)
            return unavailable(exc)

    return guarded


def _record(grant: Grant) -> dict[str, Any]:
    return {
        "client_id": grant.client_id,
        "sub": grant.sub,
        "screen_name": grant.screen_name,
        "resource": grant.resource,
        "redirect_uri": grant.redirect_uri,
        "code_challenge": grant.code_challenge,
        "code_challenge_method": grant.code_challenge_method,
    }


def _basic_client_id(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        from urllib.parse import unquote

        return unquote(base64.b64decode(value).decode().split(":", 1)[0])
    except (ValueError, UnicodeDecodeError):
        return ""
