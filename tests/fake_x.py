"""A fake X API on loopback that records every request it receives.

It answers a few `/2` routes the way X does, anything else with a generic `{"data": {}}`, and tells
which credential kind each request carried. OAuth 1.0a signatures are verified for real with
authlib's server-side functions, so a request signed with the wrong secret is a failure the tests
can see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth1.rfc5849 import signature as oauth1_signature
from authlib.oauth1.rfc5849.wrapper import OAuth1Request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CONSUMER_KEY = "fake-consumer-key"
CONSUMER_SECRET = "fake-consumer-secret-0123456789"
ACCESS_TOKEN = "fake-access-token-12-abcdef"
ACCESS_TOKEN_SECRET = "fake-access-token-secret-0123456789"
BEARER_TOKEN = "fake-app-bearer-token-AAAAAAAAAAAAAAAA"
OAUTH2_USER_TOKEN = "fake-oauth2-user-token-BBBBBBBBBBBB"


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    raw_query: str
    headers: dict[str, str]
    body: Any
    auth_kind: str  # "oauth1" | "oauth1-bad-signature" | "bearer" | "oauth2-user" | "unknown-bearer" | "none"


@dataclass
class FakeX:
    consumer_secret: str = CONSUMER_SECRET
    token_secrets: dict[str, str] = field(default_factory=lambda: {ACCESS_TOKEN: ACCESS_TOKEN_SECRET})
    requests: list[Recorded] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2/users/by/username/{username}", self.user_by_username, methods=["GET"]),
                Route("/2/tweets", self.create_post, methods=["POST"]),
                Route("/2/tweets/{id}", self.delete_post, methods=["DELETE"]),
                Route("/{rest:path}", self.anything, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
            ]
        )

    # --- routes -------------------------------------------------------------------------------
    async def user_by_username(self, request: Request) -> Response:
        await self._record(request)
        username = request.path_params["username"]
        if username == "missing":
            return JSONResponse(
                {
                    "errors": [
                        {
                            "title": "Not Found Error",
                            "detail": f"Could not find user with username: [{username}].",
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                },
                status_code=200,
            )
        return JSONResponse({"data": {"id": "2244994945", "name": "X Developers", "username": username}})

    async def create_post(self, request: Request) -> Response:
        recorded = await self._record(request)
        text = (recorded.body or {}).get("text", "")
        return JSONResponse({"data": {"id": "1445880548472328192", "text": text}}, status_code=201)

    async def delete_post(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"data": {"deleted": True}})

    async def anything(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"data": {}})

    # --- recording ----------------------------------------------------------------------------
    async def _record(self, request: Request) -> Recorded:
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            query=parse_qsl(request.url.query, keep_blank_values=True),
            raw_query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            auth_kind=self._auth_kind(request, raw),
        )
        self.requests.append(recorded)
        return recorded

    def _auth_kind(self, request: Request, raw_body: bytes) -> str:
        header = request.headers.get("authorization", "")
        if header.startswith("OAuth "):
            return "oauth1" if self._valid_oauth1(request, raw_body) else "oauth1-bad-signature"
        if header.startswith("Bearer "):
            token = header[len("Bearer ") :]
            return {BEARER_TOKEN: "bearer", OAUTH2_USER_TOKEN: "oauth2-user"}.get(token, "unknown-bearer")
        return "none" if not header else "unknown"

    def _valid_oauth1(self, request: Request, raw_body: bytes) -> bool:
        """Recompute the HMAC-SHA1 signature with the secrets we know (RFC 5849 section 3.4)."""
        form = (
            raw_body if request.headers.get("content-type", "").startswith("application/x-www-form") else None
        )
        # authlib looks the header up as "Authorization"; Starlette gives lower-case names.
        headers = {"Authorization": request.headers.get("authorization", "")}
        oauth_request = OAuth1Request(request.method, str(request.url), form, headers)
        token = oauth_request.token
        if oauth_request.client_id != CONSUMER_KEY or token not in self.token_secrets:
            return False
        oauth_request.client = _Client(self.consumer_secret)  # type: ignore[attr-defined]
        oauth_request.credential = _Credential(self.token_secrets[token])  # type: ignore[attr-defined]
        return oauth1_signature.verify_hmac_sha1(oauth_request)


class _Client:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def get_client_secret(self) -> str:
        return self._secret


class _Credential:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def get_oauth_token_secret(self) -> str:
        return self._secret
