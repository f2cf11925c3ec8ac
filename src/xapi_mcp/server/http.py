"""The HTTP side: Streamable HTTP MCP at /mcp, /healthz, served by uvicorn.

DNS-rebinding protection is always on: a web page in the user's browser must not be able to
drive an X account through a server on 127.0.0.1 (bad Host -> 421, bad Origin -> 403).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import ipaddress
import json
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xapi_mcp.auth.consent import Consent
from xapi_mcp.auth.credentials import CredentialKind
from xapi_mcp.errors import ConsentError
from xapi_mcp.server.shutdown import GracefulServer, InFlight

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# How long an idle client connection stays open. It must outlast the clients' own idle limit: the
# `mcp` client's httpx pool keeps a connection 5 s, uvicorn's default is also 5 s, and a call sent
# as the server closes that connection fails with ReadError (an agent pausing ~5 s between bursts
# of calls hit it in 4 of 10 tries). 75 s is nginx's default.
KEEP_ALIVE_SECONDS = 75


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def security_settings(host: str) -> TransportSecuritySettings:
    """Hosts/origins a local client legitimately uses, plus the bound host when it is not loopback."""
    names = list(LOOPBACK_NAMES)
    if not is_loopback(host) and host not in ("0.0.0.0", "::"):
        names.append(f"[{host}]" if ":" in host else host)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*names, *(f"{n}:*" for n in names)],
        allowed_origins=[*(f"http://{n}" for n in names), *(f"http://{n}:*" for n in names)],
    )


def host_allowed(request: Request, bound_host: str) -> bool:
    """The Host check of the MCP endpoint, for our own routes (DNS rebinding)."""
    settings = security_settings(bound_host)
    host = request.headers.get("host", "")
    return host in settings.allowed_hosts or any(
        pattern.endswith(":*") and host.startswith(pattern[:-1]) for pattern in settings.allowed_hosts
    )


def _foreign(request: Request, host: str) -> Response | None:
    """The refusal for a request from another site (Host -> 421, Origin -> 403), as on /mcp; else None."""
    if not host_allowed(request, host):
        return Response("Invalid Host header", status_code=421)
    origin = request.headers.get("origin")
    if origin is not None and not _origin_allowed(origin, host):
        return Response("Invalid Origin header", status_code=403)
    return None


def _page(title: str, message: str, status: int) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>xapi-mcp</title></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;line-height:1.5'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def oauth_routes(
    consent: Consent, *, host: str, oauth1_path: str, oauth2_path: str, control: bool = True
) -> list[Route]:
    """X's redirects land here; `/oauth/start` and `/oauth/status` are for people."""

    def callback(kind: CredentialKind) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            result = await consent.complete(kind, dict(request.query_params))
            if result.ok:
                return _page("Authorised", result.message, 200)
            return _page("Authorisation not completed", result.message, 400)

        return endpoint

    async def start(request: Request) -> Response:
        if (refused := _foreign(request, host)) is not None:
            return refused
        kind = (
            CredentialKind.OAUTH2_USER if request.query_params.get("kind") == "oauth2" else (CredentialKind.OAUTH1_USER)
        )
        if not consent.redeem(kind, request.query_params.get("nonce", "")):
            # A plain link or a page on another site must not start a flow (CSRF): only our links do.
            return _page(
                "This link cannot start an authorisation",
                "xapi-mcp starts an authorisation only from the one-time link it gives out (in the result of "
                "the tool call that needs it, and in its log). This link has no such code, a wrong one, or one "
                "already used or expired, so it may come from another web site. To authorise: call the tool "
                "again from your MCP client and open the new link, or run `xapi-mcp auth` in a terminal.",
                403,
            )
        try:
            url = await consent.begin(kind)
        except ConsentError as exc:
            return _page("Cannot start the authorisation", str(exc), 400)
        return RedirectResponse(url, status_code=302)

    async def status(request: Request) -> Response:
        if (refused := _foreign(request, host)) is not None:
            return refused
        return JSONResponse(consent.status())

    routes = [
        Route(oauth1_path, callback(CredentialKind.OAUTH1_USER), methods=["GET"]),
        Route(oauth2_path, callback(CredentialKind.OAUTH2_USER), methods=["GET"]),
    ]
    if control:
        routes += [
            Route("/oauth/start", start, methods=["GET"]),
            Route("/oauth/status", status, methods=["GET"]),
        ]
    return routes


class JsonWhenPossible:
    """Answer a 2026-07-28 POST with plain JSON unless it may need a stream.

    The SDK's choice between one JSON answer and an SSE stream is per server. A stream is needed only
    for progress notifications (a request with a progressToken) and for server-to-client requests
    in 2025-11-25 sessions (confirmations); 2026-07-28 confirmations travel inside the result
    (MRTR). Everything else takes the JSON answer, which skips a stream, a task group and a
    memory channel per call.
    """

    _PLAIN = frozenset({"tools/list", "tools/call", "server/discover", "ping"})

    def __init__(self, json_app: ASGIApp, stream_app: ASGIApp, max_body: int = 4 * 1024 * 1024) -> None:
        self.json_app, self.stream_app, self.max_body = json_app, stream_app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        version = dict(scope.get("headers") or []).get(b"mcp-protocol-version", b"").decode("latin-1")
        if scope["type"] != "http" or scope["method"] != "POST" or version in ("", *HANDSHAKE_PROTOCOL_VERSIONS):
            await self.stream_app(scope, receive, send)  # sessions and streams stay with one manager
            return
        chunks, size, more = [], 0, True
        while more and size <= self.max_body:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": more}
            return await receive()

        if not more and _lone_surrogate(body):
            error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": _SURROGATE}}
            await JSONResponse(error, status_code=400)(scope, replay, send)
            return
        target = self.json_app if not more and _plain_request(body, self._PLAIN) else self.stream_app
        await target(scope, replay, send)


class ExplainSessionLimit:
    """Turn the SDK's bare "Too many open sessions" (503) into what to do about it."""

    def __init__(self, app: ASGIApp, max_sessions: int, idle_timeout: float) -> None:
        self.app = app
        self.message = (
            f"Too many open sessions: this server keeps at most {max_sessions} (MCP_MAX_SESSIONS) 2025-11-25 "
            "sessions at once. Close the sessions you no longer use (end the clients, or send DELETE /mcp with "
            f"their Mcp-Session-Id), retry later (idle sessions close after {idle_timeout:g} s, "
            "MCP_SESSION_IDLE_TIMEOUT), or raise MCP_MAX_SESSIONS."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(k == b"mcp-session-id" for k, _ in scope.get("headers") or []):
            await self.app(scope, receive, send)
            return
        refused = False

        async def explain(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 503:  # only the session cap
                refused = True
                error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": self.message}}
                await JSONResponse(error, status_code=503)(scope, receive, send)
            elif not refused:
                await send(message)

        await self.app(scope, receive, explain)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = "Parse error: a \\uD800-\\uDFFF escape that is not half of a surrogate pair is not Unicode text"


def _lone_surrogate(body: bytes) -> bool:
    """JSON lets "\\ud800" stand alone, Unicode does not; the SDK's 2026-07-28 parser lets it through
    (its 2025-11-25 parser refuses it) and it would fail deep inside a tool call."""
    if _SURROGATE_ESCAPE.search(body) is None:
        return False
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return False  # the SDK answers with a parse error
    try:
        json.dumps(message, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


def _plain_request(body: bytes, methods: frozenset[str]) -> bool:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # the SDK answers these with a JSON-RPC parse error
        return False
    if not isinstance(message, dict) or message.get("method") not in methods:
        return False
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return not (isinstance(meta, dict) and "progressToken" in meta)


class _SignalFreeServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever owns the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_sockets(host: str, port: int) -> list[socket.socket]:
    """Bind host:port before serving, so that a port in use is an error before "Serving", not after.

    Every address the name resolves to, with the options asyncio's create_server uses for uvicorn.
    Raises OSError (socket.gaierror for an unknown name).
    """
    bound: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound


def run_http(
    app: ASGIApp, sockets: list[socket.socket], on_started: Callable[[], None], *, in_flight: InFlight, grace: float
) -> None:
    """Serve `app` on sockets from bind_sockets until SIGINT/SIGTERM, draining calls in flight first."""
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_keep_alive=KEEP_ALIVE_SECONDS)
    server = GracefulServer(config, in_flight=in_flight, grace=grace, on_started=on_started)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    if not server.started:
        raise SystemExit(3)  # uvicorn's startup failure code; its log says why


class CallbackListener:
    """Serves only the OAuth callbacks, on their own host:port, while a consent flow is pending."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.app: Starlette | None = None
        self._server: _SignalFreeServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        assert self.app is not None, "set CallbackListener.app before starting it"
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off")
        self._server = _SignalFreeServer(config)
        self._task = asyncio.create_task(self._run(self._server))
        while not self._server.started:
            if self._task.done():
                raise ConsentError(
                    f"Cannot listen on {self.host}:{self.port} for X's OAuth callback (is the port in use?). "
                    "Set X_OAUTH_CALLBACK_PORT to a free port and register the new callback URL in your X app."
                )
            await asyncio.sleep(0.01)
        log.info("Listening for the OAuth callback on http://%s:%d", self.host, self.port)

    @staticmethod
    async def _run(server: _SignalFreeServer) -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits on bind errors; start() reports it
            await server.serve()

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


class RequireBearer:
    """`Authorization: Bearer <MCP_AUTH_TOKEN>` on every request to the wrapped app (401 otherwise).

    With a token, a browser page cannot drive the server (it cannot know the token), so on a
    non-loopback bind the Host check gives way to it; a foreign Origin is still refused (403).
    """

    def __init__(self, app: ASGIApp, token: str, host: str) -> None:
        self.app, self.expected, self.host = app, f"Bearer {token}".encode(), host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = Response(
                    "Missing or wrong bearer token: send Authorization: Bearer <MCP_AUTH_TOKEN>.",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="xapi-mcp"'},
                )
                await response(scope, receive, send)
                return
            origin = headers.get(b"origin", b"").decode("latin-1")
            if origin and not _origin_allowed(origin, self.host):
                await Response("Invalid Origin header", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _origin_allowed(origin: str, host: str) -> bool:
    allowed = security_settings(host).allowed_origins
    return origin in allowed or any(p.endswith(":*") and origin.startswith(p[:-1]) for p in allowed)


def build_app(
    server: Server[Any],
    *,
    host: str,
    health: Callable[[], dict[str, Any]],
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    extra_routes: list[Route] | None = None,
    auth_token: str | None = None,
    session_idle_timeout: float = 1800.0,
    max_sessions: int = 1000,
) -> Starlette:
    """The app; `app.state.in_flight` counts the /mcp requests being answered (for shutdown)."""
    checks = security_settings(host)
    if auth_token and not is_loopback(host):
        # Clients reach a 0.0.0.0 bind under names we cannot list; the token (plus Origin) guards it.
        checks = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    limits: dict[str, Any] = {"session_idle_timeout": session_idle_timeout, "max_sessions": max_sessions}
    streams = StreamableHTTPSessionManager(app=server, security_settings=checks, **limits)
    plain = StreamableHTTPSessionManager(app=server, json_response=True, security_settings=checks, **limits)
    stream_app = ExplainSessionLimit(StreamableHTTPASGIApp(streams), max_sessions, session_idle_timeout)
    mcp_endpoint: ASGIApp = JsonWhenPossible(StreamableHTTPASGIApp(plain), stream_app)
    if auth_token:
        mcp_endpoint = RequireBearer(mcp_endpoint, auth_token, host)
    in_flight = InFlight(mcp_endpoint)
    expected = f"Bearer {auth_token}".encode() if auth_token else None

    async def healthz(request: Request) -> Response:
        """Up or not for anyone who may ask; the details (version, tools) only where /mcp would answer."""
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        authorised = expected is not None and hmac.compare_digest(given, expected)
        origin = request.headers.get("origin")
        if origin is not None and not _origin_allowed(origin, host):
            return Response("Invalid Origin header", status_code=403)
        if not (authorised and not is_loopback(host)) and not host_allowed(request, host):
            return Response("Invalid Host header", status_code=421)
        if is_loopback(host) or authorised:
            return JSONResponse({"status": "ok", **health()})
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with streams.run(), plain.run():
            try:
                yield
            finally:
                if on_shutdown is not None:
                    await on_shutdown()

    app = Starlette(
        routes=[
            Route("/mcp", endpoint=in_flight, methods=["GET", "POST", "DELETE"]),
            Route("/healthz", endpoint=healthz, methods=["GET"]),
            *(extra_routes or []),
        ],
        lifespan=lifespan,
    )
    app.state.in_flight = in_flight
    return app
