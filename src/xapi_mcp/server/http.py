"""The HTTP app: Streamable HTTP MCP at /mcp and /healthz, with the JSON fast paths (direct.py).

Who may call it is decided in guards.py; the OAuth pages are in oauth_pages.py; running it
(sockets, uvicorn, shutdown) is in run.py.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xapi_mcp.server.direct import DirectCalls
from xapi_mcp.server.guards import RequireBearer, host_allowed, is_loopback, origin_allowed, security_settings
from xapi_mcp.server.shutdown import InFlight


class JsonWhenPossible:
    """Answer a POST with plain JSON unless it may need a stream.

    The SDK's choice between one JSON answer and an SSE stream is per server. A stream is needed only
    for progress notifications (a request with a progressToken) and for server-to-client requests
    in 2025-11-25 sessions (confirmations); 2026-07-28 confirmations travel inside the result
    (MRTR). tools/call and tools/list that need nothing else are answered by `direct` (both
    eras); other 2026-07-28 requests that need no stream take the SDK's JSON answer, which skips a
    stream, a task group and a memory channel per call. Calls of `long_calls` (stream tools) take the
    stream: there the SDK cancels the call when the client goes away, which closes the connection to X at once.
    """

    _PLAIN = frozenset({"tools/list", "tools/call", "server/discover", "ping"})

    def __init__(
        self,
        json_app: ASGIApp,
        stream_app: ASGIApp,
        max_body: int = 4 * 1024 * 1024,
        direct: DirectCalls | None = None,
        long_calls: frozenset[str] = frozenset(),
    ) -> None:
        self.json_app, self.stream_app, self.max_body, self.direct = json_app, stream_app, max_body, direct
        self.long_calls = long_calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        version = dict(scope.get("headers") or []).get(b"mcp-protocol-version", b"").decode("latin-1")
        legacy = version in ("", *HANDSHAKE_PROTOCOL_VERSIONS)
        if scope["type"] != "http" or scope["method"] != "POST" or (legacy and self.direct is None):
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

        if not legacy and not more and _lone_surrogate(body):
            error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": _SURROGATE}}
            await JSONResponse(error, status_code=400)(scope, replay, send)
            return
        if (
            not more
            and size <= self.max_body
            and self.direct is not None
            and await self.direct.answer(scope, body, send)
        ):
            return
        plain = not legacy and not more and _plain_request(body, self._PLAIN, self.long_calls)
        await (self.json_app if plain else self.stream_app)(scope, replay, send)


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


def _plain_request(body: bytes, methods: frozenset[str], long_calls: frozenset[str] = frozenset()) -> bool:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # the SDK answers these with a JSON-RPC parse error
        return False
    if not isinstance(message, dict) or message.get("method") not in methods:
        return False
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if isinstance(params, dict) and long_calls and message["method"] == "tools/call":
        inner = params.get("arguments")  # call_x_api names its target in its arguments
        names = {params.get("name"), inner.get("name") if isinstance(inner, dict) else None}
        if any(isinstance(name, str) and name in long_calls for name in names):
            return False
    return not (isinstance(meta, dict) and "progressToken" in meta)


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
    long_calls: frozenset[str] = frozenset(),
    guard: Callable[[ASGIApp], ASGIApp] | None = None,
) -> Starlette:
    """The app; `app.state.in_flight` counts the /mcp requests being answered (for shutdown)."""
    checks = security_settings(host)
    if guard is not None or (auth_token and not is_loopback(host)):
        # Clients reach a 0.0.0.0 bind under names we cannot list; the token (plus Origin) guards it.
        checks = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    limits: dict[str, Any] = {"session_idle_timeout": session_idle_timeout, "max_sessions": max_sessions}
    streams = StreamableHTTPSessionManager(app=server, security_settings=checks, **limits)
    plain = StreamableHTTPSessionManager(app=server, json_response=True, security_settings=checks, **limits)
    stream_app = ExplainSessionLimit(StreamableHTTPASGIApp(streams), max_sessions, session_idle_timeout)
    direct = DirectCalls(
        server, streams, checks, session_idle_timeout, getattr(server, "may_ask", None), long_calls=long_calls
    )
    mcp_endpoint: ASGIApp = JsonWhenPossible(
        StreamableHTTPASGIApp(plain), stream_app, direct=direct, long_calls=long_calls
    )
    if auth_token:
        mcp_endpoint = RequireBearer(mcp_endpoint, auth_token, host)
    if guard is not None:  # remote mode: each person's OAuth access token (server/mcp_auth.py)
        mcp_endpoint = guard(mcp_endpoint)
    in_flight = InFlight(mcp_endpoint)
    in_flight.on_give_up.append(direct.abandon)
    expected = f"Bearer {auth_token}".encode() if auth_token else None

    async def healthz(request: Request) -> Response:
        """Up or not for anyone who may ask; the details (version, tools) only where /mcp would answer."""
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        authorised = expected is not None and hmac.compare_digest(given, expected)
        origin = request.headers.get("origin")
        if origin is not None and not origin_allowed(origin, host):
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
