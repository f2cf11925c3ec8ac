"""A fake X API on loopback that records every request it receives.

It answers a few `/2` routes the way X does, anything else with a generic `{"data": {}}`, and tells
which credential kind each request carried. OAuth 1.0a signatures are verified for real with
authlib's server-side functions, so a request signed with the wrong secret is a failure the tests
can see.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from authlib.oauth1.rfc5849 import signature as oauth1_signature
from authlib.oauth1.rfc5849.wrapper import OAuth1Request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

# Shaped like X's: an access token is "<user id>-<letters and digits>", a bearer token carries percent-escapes,
# OAuth 2.0 client secrets and tokens have "-" and "_". Every one is a secret the suite hunts for in logs.
CONSUMER_KEY = "Fk3CnsKeY9dLq2WmZr8TbVx1u"
CONSUMER_SECRET = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw8fakeCS"
ACCESS_TOKEN = "1445880548472328192-Ab3dEfGh1jKlMnOpQrStUvWxYz0123fakeAT"
ACCESS_TOKEN_SECRET = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE3fakeTS"
BEARER_TOKEN = "AAAAAAAAAAAAAAAAAAAAAFakeBr0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DEUifiRBkKG5E2XzMDjRfl76ZC9Ub0wnz4XsNiRVBCh"
OAUTH2_USER_TOKEN = "bWRWa0VxSjFwd2xhU0FKeF-fakeO2_VzQTNtbXZUNDZmOjE3MjU2MDQ2MTE5MjY6MTowOmF0OjE"
OAUTH2_CLIENT_ID = "fake-oauth2-client-id"
OAUTH2_CLIENT_SECRET = "Zx8-fake_client-secret-JkL0mNoPqRsTuVwXyZ0123456789abcdEFGH"
SCREEN_NAME = "fake_user"
MCP_AUTH_TOKEN = "q2N-8fR_mcpAuth-VbX4kTz9LpWq7sJ0hY3uE6iO"  # not X's; the server's own, for remote binds
BAD_CREDENTIALS = ("oauth1-bad-signature", "unknown-bearer", "unknown")
ECHOES = ("detail", "problem", "partial", "headers", "proxy")  # FakeX.echo: where X echoes credentials
# Every secret any fake handed out in this test session: no log line may ever contain one.
ISSUED_SECRETS: list[str] = []


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    raw_query: str
    headers: dict[str, str]
    body: Any
    auth_kind: str
    raw: bytes = b""  # "oauth1" | "oauth1-bad-signature" | "bearer" | "oauth2-user" | "unknown-bearer" | "none"
    signer: str | None = None  # the X user ID whose OAuth 1.0a (or OAuth 2.0) token validly signed the request


@dataclass
class Fault:
    """One scripted answer for the next request to a path: X failing in one of its ways."""

    status: int = 503
    body: bytes = b'{"title":"Service Unavailable","detail":"Service Unavailable","type":"about:blank","status":503}'
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a timeout when longer than the client waits)


@dataclass
class StreamScript:
    """What the fake sends on a connection to one stream path, NDJSON as X does, and what it saw."""

    items: int = 0
    interval: float = 0.0  # seconds between items; 0: as fast as the connection takes them
    keep_alive: bool = True  # a blank keep-alive line before each item, and every 0.2 s once they are sent
    then: str = "hang"  # after the items: "hang" (keep-alives until the client closes), "close" or "error"
    connections: int = 0
    sent: int = 0  # items handed to the connection (on the last one)
    closed_by_client: float | None = None  # time.monotonic() when the client closed the connection


OPERATIONAL_DISCONNECT = {
    "title": "operational-disconnect",
    "disconnect_type": "OperationalDisconnect",
    "detail": "This stream has been disconnected for operational reasons.",
    "type": "https://api.twitter.com/2/problems/operational-disconnect",
}


def stream_item(n: int, rule: dict[str, str] | None = None) -> bytes:
    """One filtered-stream message: a post, its author in includes, the rule it matched (`rule`'s id and tag)."""
    message = {
        "data": {"id": str(1_960_000_000_000_000_000 + n), "text": f"stream post {n}", "author_id": "2244994945"},
        "includes": {"users": [{"id": "2244994945", "name": "X Developers", "username": "XDevelopers"}]},
        "matching_rules": [
            {"id": (rule or {}).get("id", "1900000000000000001"), "tag": (rule or {}).get("tag", "test")}
        ],
    }
    return json.dumps(message).encode() + b"\r\n"


class _Faulted(Exception):
    def __init__(self, fault: Fault) -> None:
        self.fault = fault


async def _answer_fault(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Faulted)
    fault = exc.fault
    return Response(fault.body, status_code=fault.status, headers=fault.headers, media_type=fault.content_type)


@dataclass
class FakeX:
    consumer_secret: str = CONSUMER_SECRET
    token_secrets: dict[str, str] = field(default_factory=lambda: {ACCESS_TOKEN: ACCESS_TOKEN_SECRET})
    requests: list[Recorded] = field(default_factory=list)
    # OAuth 1.0a three-legged flow
    request_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # token -> (secret, callback)
    verifiers: dict[str, str] = field(default_factory=dict)  # request token -> verifier
    confirm_callback: bool = True
    deny: bool = False  # the person clicks "Cancel" on the authorize page
    issued: list[tuple[str, str]] = field(default_factory=list)  # access tokens handed out by the flow
    # Who clicks "Authorize" next (user ID, screen name), one per consent; empty: user 42, SCREEN_NAME.
    next_people: list[tuple[str, str]] = field(default_factory=list)
    token_owner: dict[str, str] = field(default_factory=dict)  # access token -> its X user ID
    # OAuth 2.0 PKCE
    oauth2_codes: dict[str, dict[str, str]] = field(default_factory=dict)
    oauth2_tokens: set[str] = field(default_factory=lambda: {OAUTH2_USER_TOKEN})
    oauth2_refresh: set[str] = field(default_factory=set)
    oauth2_owner: dict[str, tuple[str, str]] = field(default_factory=dict)  # access/refresh token -> (id, name)
    refreshed: list[str] = field(default_factory=list)  # refresh tokens X accepted (each once: X rotates them)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)  # path -> the next answers, in order
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # media id -> INIT fields and chunks
    keep_media: bool = True  # False: record only each APPEND segment's size (a 200 MB upload stays out of memory)
    # Echo mode: every /2 request is answered with its credentials echoed back, in one of ECHOES' shapes, with
    # `planted` and every secret this fake handed out spelled several ways.
    echo: str | None = None
    planted: list[str] = field(default_factory=list)
    handed_out: list[str] = field(default_factory=list)
    rules: dict[str, dict[str, str]] = field(default_factory=dict)  # filtered-stream rules by id
    streams: dict[str, StreamScript] = field(default_factory=dict)  # path -> what a GET of it streams
    _counter: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth/request_token", self.request_token, methods=["POST"]),
                Route("/oauth/authorize", self.authorize, methods=["GET"]),
                Route("/oauth/access_token", self.access_token, methods=["POST"]),
                Route("/2/oauth2/authorize", self.oauth2_authorize, methods=["GET"]),
                Route("/2/oauth2/token", self.oauth2_token, methods=["POST"]),
                Route("/2/media/upload/initialize", self.media_init, methods=["POST"]),
                Route("/2/media/upload/{id}/append", self.media_append, methods=["POST"]),
                Route("/2/media/upload/{id}/finalize", self.media_finalize, methods=["POST"]),
                Route("/2/media/upload", self.media_upload, methods=["GET", "POST"]),
                Route("/2/users/by/username/{username}", self.user_by_username, methods=["GET"]),
                Route("/2/users/me", self.users_me, methods=["GET"]),
                Route("/2/tweets", self.create_post, methods=["POST"]),
                Route("/2/tweets/search/stream/rules", self.stream_rules, methods=["GET", "POST"]),
                Route("/2/tweets/{id}", self.delete_post, methods=["DELETE"]),
                Route("/{rest:path}", self.anything, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
            ],
            exception_handlers={_Faulted: _answer_fault},
        )

    def fail(self, path: str, *faults: Fault) -> None:
        """Answer the next requests to `path` with these faults, one each, then normally again."""
        self.faults.setdefault(path, []).extend(faults)

    @contextmanager
    def fresh(self) -> Iterator[FakeX]:
        """This fake for one test of a module that shares it: no requests or faults from before, and none
        planted here left unanswered for the next test to stumble on."""
        self.requests.clear()
        self.faults.clear()
        yield self
        left = {path: len(queue) for path, queue in self.faults.items() if queue}
        self.faults.clear()
        assert not left, f"faults planted but never answered (they would reach the next test): {left}"

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    # --- OAuth 1.0a ---------------------------------------------------------------------------
    async def request_token(self, request: Request) -> Response:
        oauth = self._oauth1_request(request, b"")
        if oauth.client_id != CONSUMER_KEY or not self._signature_ok(oauth, ""):
            return PlainTextResponse("Invalid signature", status_code=401)
        callback = dict(oauth.oauth_params).get("oauth_callback", "")
        token, secret = f"req-{next(self._counter)}", secrets.token_hex(16)
        ISSUED_SECRETS.append(secret)
        self.handed_out.append(secret)
        self.request_tokens[token] = (secret, callback)
        confirmed = "true" if self.confirm_callback else "false"
        body = urlencode({"oauth_token": token, "oauth_token_secret": secret, "oauth_callback_confirmed": confirmed})
        return PlainTextResponse(body, media_type="application/x-www-form-urlencoded")

    async def authorize(self, request: Request) -> Response:
        """X's consent page, clicked through at once: redirect to the callback like X does."""
        token = request.query_params.get("oauth_token", "")
        if token not in self.request_tokens:
            return PlainTextResponse("unknown request token", status_code=400)
        callback = self.request_tokens[token][1]
        if self.deny:
            return RedirectResponse(f"{callback}?{urlencode({'denied': token})}", status_code=302)
        verifier = secrets.token_hex(8)
        self.verifiers[token] = verifier
        query = urlencode({"oauth_token": token, "oauth_verifier": verifier})
        return RedirectResponse(f"{callback}?{query}", status_code=302)

    async def access_token(self, request: Request) -> Response:
        oauth = self._oauth1_request(request, await request.body())
        token = oauth.token or ""
        params = dict(oauth.oauth_params)
        if token not in self.request_tokens or oauth.client_id != CONSUMER_KEY:
            return PlainTextResponse("Invalid request token", status_code=401)
        if not self._signature_ok(oauth, self.request_tokens[token][0]):
            return PlainTextResponse("Invalid signature", status_code=401)
        if params.get("oauth_verifier") != self.verifiers.pop(token, None):
            return PlainTextResponse("Invalid verifier", status_code=401)
        del self.request_tokens[token]
        user_id, screen_name = self.next_people.pop(0) if self.next_people else ("42", SCREEN_NAME)
        access, secret = f"{user_id}-{secrets.token_urlsafe(30)}", secrets.token_urlsafe(32)  # X's shapes
        self.token_secrets[access] = secret
        self.token_owner[access] = user_id
        self.issued.append((access, secret))
        ISSUED_SECRETS.extend((access, secret))
        self.handed_out.extend((access, secret))
        body = urlencode(
            {"oauth_token": access, "oauth_token_secret": secret, "user_id": user_id, "screen_name": screen_name}
        )
        return PlainTextResponse(body, media_type="application/x-www-form-urlencoded")

    # --- OAuth 2.0 with PKCE -------------------------------------------------------------------
    async def oauth2_authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != OAUTH2_CLIENT_ID or q.get("code_challenge_method") != "S256":
            return PlainTextResponse("bad authorize request", status_code=400)
        if self.deny:
            query = urlencode({"error": "access_denied", "state": q.get("state", "")})
            return RedirectResponse(f"{q['redirect_uri']}?{query}", status_code=302)
        code = f"code-{next(self._counter)}"
        self.oauth2_codes[code] = dict(q)
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def oauth2_token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        self.token_requests.append(form)
        expected = base64.b64encode(f"{OAUTH2_CLIENT_ID}:{OAUTH2_CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") == "authorization_code":
            original = self.oauth2_codes.pop(form.get("code", ""), None)
            if original is None or form.get("redirect_uri") != original["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != original["code_challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE check failed"}, 400)
            scope = original.get("scope", "")
            owner = self.next_people.pop(0) if self.next_people else ("42", SCREEN_NAME)
        elif form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.oauth2_refresh:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            self.oauth2_refresh.discard(form["refresh_token"])
            self.refreshed.append(form["refresh_token"])
            scope = form.get("scope", "")
            owner = self.oauth2_owner.get(form["refresh_token"], ("42", SCREEN_NAME))
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        n = next(self._counter)
        access, refresh = f"o2-{n}-{secrets.token_urlsafe(40)}", f"o2r-{n}-{secrets.token_urlsafe(40)}"
        ISSUED_SECRETS.extend((access, refresh))
        self.handed_out.extend((access, refresh))
        self.oauth2_tokens.add(access)
        self.oauth2_refresh.add(refresh)
        self.oauth2_owner[access] = self.oauth2_owner[refresh] = owner
        return JSONResponse(
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": access,
                "refresh_token": refresh,
                "scope": scope,
            }
        )

    # --- media --------------------------------------------------------------------------------
    async def media_init(self, request: Request) -> Response:
        recorded = await self._record(request)
        if recorded.auth_kind in BAD_CREDENTIALS:
            return _unauthorized()
        media_id = str(1880000000000000000 + next(self._counter))
        self.uploads[media_id] = {**recorded.body, "chunks": {}, "sizes": {}, "polls": 0}
        return JSONResponse({"data": {"id": media_id, "media_key": f"3_{media_id}", "expires_after_secs": 86400}})

    async def media_append(self, request: Request) -> Response:
        recorded = await self._record(request)
        if recorded.auth_kind in BAD_CREDENTIALS:
            return _unauthorized()
        form = await request.form()
        upload = self.uploads.get(request.path_params["id"])
        media = form.get("media")
        if upload is None or media is None or isinstance(media, str):
            return JSONResponse({"title": "Invalid Request", "detail": "media file part missing"}, status_code=400)
        content = await media.read()
        index = int(str(form["segment_index"]))
        upload["sizes"][index] = len(content)
        if self.keep_media:
            upload["chunks"][index] = content
        return JSONResponse({"data": {"expires_at": 1700000000}})

    def assembled(self, media_id: str) -> bytes:
        chunks = self.uploads[media_id]["chunks"]
        return b"".join(chunks[i] for i in sorted(chunks))

    async def media_finalize(self, request: Request) -> Response:
        await self._record(request)
        media_id = request.path_params["id"]
        upload = self.uploads[media_id]
        data: dict[str, Any] = {"id": media_id, "media_key": f"3_{media_id}", "size": sum(upload["sizes"].values())}
        if str(upload.get("media_type", "")).startswith("video/"):
            data["processing_info"] = {"state": "pending", "check_after_secs": 0}
        return JSONResponse({"data": data})

    async def media_upload(self, request: Request) -> Response:
        """GET: STATUS of a processing upload. POST: the one-shot upload (JSON or multipart)."""
        recorded = await self._record(request)
        if recorded.auth_kind in BAD_CREDENTIALS:
            return _unauthorized()
        if request.method == "GET":
            media_id = request.query_params["media_id"]
            upload = self.uploads[media_id]
            upload["polls"] += 1
            state = "succeeded" if upload["polls"] >= 2 else "in_progress"
            info = {"state": state, "check_after_secs": 0, "progress_percent": 100 if state == "succeeded" else 50}
            return JSONResponse({"data": {"id": media_id, "processing_info": info}})
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            media = form.get("media")
            content = await media.read() if media is not None and not isinstance(media, str) else b""
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            fields = dict(recorded.body or {})
            content = base64.b64decode(fields.pop("media", ""))
        media_id = str(1890000000000000000 + next(self._counter))
        self.uploads[media_id] = {**fields, "chunks": {0: content}, "sizes": {0: len(content)}, "polls": 0}
        return JSONResponse({"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(content)}})

    # --- /2 routes -----------------------------------------------------------------------------
    async def user_by_username(self, request: Request) -> Response:
        recorded = await self._record(request)
        if recorded.auth_kind in BAD_CREDENTIALS:
            return _unauthorized()
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

    async def users_me(self, request: Request) -> Response:
        """The OAuth 2.0 token's owner (who signed in: X's token answer names no user); else `{"data": {}}`."""
        recorded = await self._record(request)
        if recorded.auth_kind in BAD_CREDENTIALS:
            return _unauthorized()
        owner = self.oauth2_owner.get(recorded.headers.get("authorization", "").removeprefix("Bearer "))
        if recorded.auth_kind != "oauth2-user" or owner is None:
            return JSONResponse({"data": {}})
        return JSONResponse({"data": {"id": owner[0], "name": owner[1].title(), "username": owner[1]}})

    async def create_post(self, request: Request) -> Response:
        recorded = await self._record(request)
        if recorded.auth_kind in BAD_CREDENTIALS:
            return _unauthorized()
        text = (recorded.body or {}).get("text", "")
        return JSONResponse({"data": {"id": "1445880548472328192", "text": text}}, status_code=201)

    async def delete_post(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"data": {"deleted": True}})

    async def stream_rules(self, request: Request) -> Response:
        """Filtered-stream rules as X keeps them: GET lists, POST adds (`add`) or deletes (`delete.ids`)."""
        recorded = await self._record(request)
        if recorded.auth_kind != "bearer":  # X takes the app bearer token only here
            return _unauthorized()
        meta: dict[str, Any] = {"sent": "2026-11-30T12:00:00.000Z"}
        body = recorded.body or {}
        if request.method == "GET":
            data = list(self.rules.values())
            return JSONResponse({**({"data": data} if data else {}), "meta": {**meta, "result_count": len(data)}})
        if "delete" in body:
            gone = [self.rules.pop(i) for i in body["delete"].get("ids", []) if i in self.rules]
            return JSONResponse({"meta": {**meta, "summary": {"deleted": len(gone), "not_deleted": 0}}})
        added = []
        for rule in body.get("add", []):
            added.append({"id": str(1_900_000_000_000_000_000 + next(self._counter)), **rule})
            self.rules[added[-1]["id"]] = added[-1]
        summary = {"created": len(added), "not_created": 0, "valid": len(added), "invalid": 0}
        return JSONResponse({"data": added, "meta": {**meta, "summary": summary}})

    async def anything(self, request: Request) -> Response:
        recorded = await self._record(request)
        if recorded.auth_kind in BAD_CREDENTIALS:
            return _unauthorized()
        script = self.streams.get(recorded.path) if request.method == "GET" else None
        if script is not None:
            return StreamingResponse(self._stream(script), media_type="application/json")
        return JSONResponse({"data": {}})

    async def _stream(self, script: StreamScript) -> AsyncIterator[bytes]:
        """X's stream: items (with keep-alives), then an error event, X closing, or keep-alives until closed."""
        script.connections += 1
        script.sent, script.closed_by_client = 0, None
        try:
            for n in range(script.items):
                if script.keep_alive:
                    yield b"\r\n"
                yield stream_item(n, next(iter(self.rules.values()), None))
                script.sent += 1
                await asyncio.sleep(script.interval)  # 0: only lets the disconnect be noticed
            if script.then == "error":
                yield json.dumps({"errors": [OPERATIONAL_DISCONNECT]}).encode() + b"\r\n"
            while script.then == "hang":
                yield b"\r\n"
                await asyncio.sleep(0.2)
        except BaseException:  # cancelled: the client closed the connection
            script.closed_by_client = time.monotonic()
            raise

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
            body=body if not request.headers.get("content-type", "").startswith("multipart/") else None,
            auth_kind=self._auth_kind(request, raw),
            raw=raw,
        )
        if recorded.auth_kind == "oauth1":
            token = self._oauth1_request(request, raw).token or ""
            recorded.signer = self.token_owner.get(token, "42" if token == ACCESS_TOKEN else None)
        elif recorded.auth_kind == "oauth2-user":  # the user whose OAuth 2.0 token it carried, when known
            recorded.signer = self.oauth2_owner.get(recorded.headers["authorization"][len("Bearer ") :], (None,))[0]
        self.requests.append(recorded)
        if self.echo is not None:
            raise _Faulted(self._echoed(recorded, str(request.url)))
        queue = self.faults.get(recorded.path)
        if queue:
            fault = queue.pop(0)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            raise _Faulted(fault)
        return recorded

    def _echoed(self, recorded: Recorded, url: str) -> Fault:
        """X (or a proxy in front of it) answering with the request's credentials in it, as some do."""
        auth = recorded.headers.get("authorization", "")
        values = [*self.planted, *self.handed_out]
        spelled = " ".join(values) + " " + " ".join(quote(v, safe="") for v in values)
        token = values[0] if values else ""
        if self.echo == "detail":  # X's problem+json, the header in `detail`
            body = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": f"Authorization: {auth}"}
            body["detail"] += f" was rejected for {spelled}"
            return Fault(401, json.dumps(body).encode(), "application/problem+json")
        if self.echo == "problem":  # every problem+json field, extensions included
            body = {
                "title": f"Forbidden: oauth_token={token}",
                "detail": f"Authorization: {auth}; oauth_token%3D{quote(token, safe='')}%26x%3D1; {spelled}",
                "type": f"https://api.x.com/2/problems/oauth1-permissions?authorization={quote(auth, safe='')}",
                "status": 403,
                "request": {"headers": {"Authorization": auth}, "values": values},
            }
            return Fault(403, json.dumps(body).encode(), "application/problem+json")
        if self.echo == "partial":  # a 200 with data and nested partial errors, JSON inside a JSON string too
            error = {
                "title": "Authorization Error",
                "detail": f"Authorization: {auth}",
                "value": spelled,
                "parameter": "authorization",
                "resource_id": json.dumps({"Authorization": auth, "values": values}),
                "nested": {"headers": {"authorization": auth}, "list": [values]},
            }
            return Fault(200, json.dumps({"data": {"id": "2244994945"}, "errors": [error]}).encode())
        if self.echo == "headers":  # a debugging echo of the request's headers, as plain text
            lines = [f"{name}: {value}" for name, value in recorded.headers.items()]
            text = "\n".join(["Bad Request. Your request:", f"{recorded.method} {url}", *lines, spelled])
            return Fault(400, text.encode(), "text/plain")
        if self.echo == "proxy":  # a proxy's non-JSON 502 page
            page = (
                f"<html><body><h1>502 Bad Gateway</h1><pre>upstream {recorded.method} {url}\n"
                f"Authorization: {auth}\nAuthorization%3A%20{quote(auth, safe='')}\n{spelled}</pre></body></html>"
            )
            return Fault(502, page.encode(), "text/html")
        raise ValueError(f"unknown echo shape {self.echo!r}; use one of {ECHOES}")

    def _auth_kind(self, request: Request, raw_body: bytes) -> str:
        header = request.headers.get("authorization", "")
        if header.startswith("OAuth "):
            return "oauth1" if self._valid_oauth1(request, raw_body) else "oauth1-bad-signature"
        if header.startswith("Bearer "):
            token = header[len("Bearer ") :]
            if token == BEARER_TOKEN:
                return "bearer"
            return "oauth2-user" if token in self.oauth2_tokens else "unknown-bearer"
        return "none" if not header else "unknown"

    def _valid_oauth1(self, request: Request, raw_body: bytes) -> bool:
        oauth = self._oauth1_request(request, raw_body)
        token = oauth.token
        if oauth.client_id != CONSUMER_KEY or token not in self.token_secrets:
            return False
        return self._signature_ok(oauth, self.token_secrets[token])

    @staticmethod
    def _oauth1_request(request: Request, raw_body: bytes) -> OAuth1Request:
        form = raw_body if request.headers.get("content-type", "").startswith("application/x-www-form") else None
        # authlib looks the header up as "Authorization"; Starlette gives lower-case names.
        headers = {"Authorization": request.headers.get("authorization", "")}
        return OAuth1Request(request.method, str(request.url), form or None, headers)

    def _signature_ok(self, oauth: OAuth1Request, token_secret: str) -> bool:
        """Recompute the HMAC-SHA1 signature with the secrets we know (RFC 5849 section 3.4)."""
        oauth.client = _Client(self.consumer_secret)  # type: ignore[attr-defined]
        oauth.credential = _Credential(token_secret)  # type: ignore[attr-defined]
        return oauth1_signature.verify_hmac_sha1(oauth)


def _unauthorized() -> Response:
    return JSONResponse(
        {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}, status_code=401
    )


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


# Every secret a test server is configured with (the session-end log scan and the leak tests look for them).
SERVER_SECRETS = (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    ACCESS_TOKEN,
    ACCESS_TOKEN_SECRET,
    BEARER_TOKEN,
    OAUTH2_USER_TOKEN,
    OAUTH2_CLIENT_SECRET,
    MCP_AUTH_TOKEN,
)
