"""Remote mode's OAuth 2.1 authorization server, built from authlib's components.

authlib's `AuthorizationServer` with its authorization-code grant (PKCE: `CodeChallenge`, S256
only), refresh-token grant (rotating: every refresh returns a new refresh token and the old one is
gone), RFC 7591 registration endpoint and RFC 9068 JWT access tokens (audience: the MCP URL,
RFC 8707). authlib is synchronous and the state is async (Redis later), so each request loads
what it needs first (`Loaded`), runs authlib on a server made for that request, and then writes
what authlib produced (`Loaded.issued_*`). Codes and refresh tokens are stored hashed.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    AuthorizationServer,
    ClientMixin,
    JsonRequest,
    OAuth2Error,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, JsonPayload
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator

from xapi_mcp.auth.people import Person

GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic")
CODE_TTL = 60.0
SCOPE = "xapi"  # the one scope: act as the signed-in person with every tool this server offers


class InvalidTargetError(OAuth2Error):
    """RFC 8707: the `resource` asked for is not this server's MCP endpoint."""

    error = "invalid_target"


@dataclass
class Client(ClientMixin):
    """A registered (RFC 7591) or metadata-document (CIMD) client; redirect URIs compared exactly."""

    client_id: str
    redirect_uris: list[str]
    token_endpoint_auth_method: str = "none"
    secret_digest: str | None = None
    client_name: str = ""

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return SCOPE

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        from xapi_mcp.auth.remote_state import digest

        return self.secret_digest is not None and secrets.compare_digest(self.secret_digest, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES

    def record(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "redirect_uris": self.redirect_uris,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "secret_digest": self.secret_digest,
            "client_name": self.client_name,
        }


@dataclass
class Grant(AuthorizationCodeMixin, TokenMixin):
    """What a code or a refresh token stands for: client, person, PKCE challenge, resource."""

    client_id: str
    sub: str
    screen_name: str | None
    resource: str
    redirect_uri: str = ""
    code_challenge: str | None = None
    code_challenge_method: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return SCOPE

    def check_client(self, client: ClientMixin) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def is_expired(self) -> bool:
        return False  # the store's TTL removes it

    def is_revoked(self) -> bool:
        return False  # taken (deleted) when used

    def person(self) -> Person:
        return Person(self.sub, self.screen_name)


@dataclass
class Loaded:
    """What one request needs from the state, loaded before authlib runs, and what it produced."""

    client: Client | None = None
    grant: Grant | None = None  # the code or refresh token presented (already taken from the state)
    issued_codes: list[tuple[str, Grant]] = field(default_factory=list)
    issued_tokens: list[tuple[dict[str, Any], Grant]] = field(default_factory=list)
    registered: list[Client] = field(default_factory=list)


class S256Only(CodeChallenge):
    """PKCE required on every authorization request, and only with S256 (OAuth 2.1, MCP)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (authlib's name and type)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            from authlib.oauth2.rfc6749 import InvalidRequestError

            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if grant.request.form.get("code_verifier") is None:
            from authlib.oauth2.rfc6749 import InvalidRequestError

            raise InvalidRequestError("Missing 'code_verifier' (PKCE).")
        super().validate_code_verifier(grant, result)


class _CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)  # noqa: RUF012

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data, user = request.payload.data, request.user
        grant = Grant(
            client_id=request.client.get_client_id(),
            sub=user.user_id,
            screen_name=user.screen_name,
            resource=self.server.resource,
            redirect_uri=data.get("redirect_uri") or "",
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )
        self.server.loaded.issued_codes.append((code, grant))

    def query_authorization_code(self, code: str, client: ClientMixin) -> Grant | None:
        grant = self.server.loaded.grant
        return grant if grant is not None and grant.check_client(client) else None

    def delete_authorization_code(self, authorization_code: Grant) -> None:
        """Nothing left to delete: the code was taken from the state before authlib saw it."""

    def authenticate_user(self, authorization_code: Grant) -> Person:
        return authorization_code.person()


class _RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)  # noqa: RUF012
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: the presented refresh token is already gone

    def authenticate_refresh_token(self, refresh_token: str) -> Grant | None:
        return self.server.loaded.grant

    def authenticate_user(self, refresh_token: Grant) -> Person:
        return refresh_token.person()

    def revoke_old_credential(self, refresh_token: Grant) -> None:
        """Taken from the state when presented: it cannot be used twice."""


class _Registration(ClientRegistrationEndpoint):
    def authenticate_token(self, request: Any) -> bool:
        return True  # open registration (RFC 7591 section 3): who may sign in is decided at X's consent

    def get_server_metadata(self) -> dict[str, Any]:
        return self.server.metadata

    def save_client(self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any) -> Client:
        from xapi_mcp.auth.remote_state import digest

        method = client_metadata.get("token_endpoint_auth_method") or "client_secret_basic"
        client = Client(
            client_id=client_info["client_id"],
            redirect_uris=list(client_metadata.get("redirect_uris") or []),
            token_endpoint_auth_method=method,
            secret_digest=digest(client_info["client_secret"]) if method != "none" else None,
            client_name=str(client_metadata.get("client_name") or ""),
        )
        if method == "none":
            client_info.pop("client_secret", None)
            client_info.pop("client_secret_expires_at", None)
        self.server.loaded.registered.append(client)
        return client


class _Tokens(JWTBearerTokenGenerator):
    def __init__(self, issuer: str, resource: str, key: bytes, expires_in: int) -> None:
        super().__init__(issuer, alg="HS256", refresh_token_generator=_refresh_token, expires_generator=expires_in)
        self.resource, self.key = resource, key

    def get_jwks(self) -> dict[str, Any]:
        return _jwk(self.key)

    def get_audiences(self, client: Any, user: Any, scope: Any) -> str:
        return self.resource


def _refresh_token(**_: Any) -> str:
    return secrets.token_urlsafe(32)


def _jwk(key: bytes) -> dict[str, Any]:
    return {"kty": "oct", "k": base64.urlsafe_b64encode(key).rstrip(b"=").decode()}


class Issuer:
    """The authorization server's settings, and one authlib server per request built from them."""

    def __init__(self, public_url: str, key: bytes, access_ttl: int) -> None:
        self.issuer = public_url.rstrip("/")
        self.resource = f"{self.issuer}/mcp"
        self.key, self.access_ttl = key, access_ttl
        self.metadata: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "registration_endpoint": f"{self.issuer}/register",
            "scopes_supported": [SCOPE],
            "response_types_supported": ["code"],
            "grant_types_supported": list(GRANT_TYPES),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "client_id_metadata_document_supported": True,
            "service_documentation": "https://github.com/xapi-mcp/xapi-mcp/blob/main/docs/deploy.md",
        }

    def protected_resource(self) -> dict[str, Any]:
        """RFC 9728 metadata of the MCP endpoint."""
        return {
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "bearer_methods_supported": ["header"],
            "scopes_supported": [SCOPE],
            "resource_name": "xapi-mcp (X API)",
        }

    def server(self, loaded: Loaded) -> _Server:
        server = _Server(self, loaded)
        server.register_grant(_CodeGrant, [S256Only(required=True)])
        server.register_grant(_RefreshGrant)
        server.register_endpoint(_Registration)
        server.register_token_generator("default", _Tokens(self.issuer, self.resource, self.key, self.access_ttl))
        return server

    def validator(self) -> JWTBearerTokenValidator:
        """Checks an access token: our signature, our issuer, audience = the MCP URL, not expired."""
        key = self.key

        class _Validator(JWTBearerTokenValidator):
            def get_jwks(self) -> dict[str, Any]:
                return _jwk(key)

        return _Validator(self.issuer, self.resource)

    def authorize_request(self, params: dict[str, str]) -> OAuth2Request:
        return _request("GET", f"{self.issuer}/authorize?{urlencode(params)}", params, {})


class _Server(AuthorizationServer):
    def __init__(self, issuer: Issuer, loaded: Loaded) -> None:
        super().__init__(scopes_supported=None)
        self.issuer, self.loaded, self.resource, self.metadata = issuer, loaded, issuer.resource, issuer.metadata

    def query_client(self, client_id: str) -> Client | None:
        client = self.loaded.client
        return client if client is not None and client.client_id == client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        grant = request.authorization_code or request.refresh_token
        self.loaded.issued_tokens.append((dict(token), grant))

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request  # built by the Starlette glue (`oauth_request`)

    def create_json_request(self, request: JsonRequest) -> JsonRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, dict[str, str]]:
        return status, body, dict(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


class _Payload(BasicOAuth2Payload):
    pass


class _FormRequest(OAuth2Request):
    def __init__(self, method: str, uri: str, data: dict[str, str], headers: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = _Payload(data)
        self._data = data

    @property
    def args(self) -> dict[str, str]:
        return self._data if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self._data if self.method == "POST" else {}


def _request(method: str, uri: str, data: dict[str, str], headers: dict[str, str]) -> OAuth2Request:
    return _FormRequest(method, uri, data, headers)


def oauth_request(method: str, uri: str, data: dict[str, str], headers: dict[str, str]) -> OAuth2Request:
    """An authlib request from what Starlette parsed (query or form, and the headers authlib reads)."""
    return _request(method, uri, data, headers)


class _Json(JsonPayload):
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def data(self) -> dict[str, Any]:
        return self._data


def json_request(uri: str, data: dict[str, Any], headers: dict[str, str]) -> JsonRequest:
    request = JsonRequest("POST", uri, headers)
    request.payload = _Json(data)
    return request
