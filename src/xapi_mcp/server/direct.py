"""tools/call and tools/list answered in one step, as plain JSON, without the SDK's per-call machinery.

For each call the `mcp` SDK parses and validates the JSON-RPC envelope (pydantic), checks the
2026-07-28 routing headers, walks the tool's input schema for `Mcp-Param-*` headers, builds a
connection, a session and a context, validates the params against the method's surface model,
runs the handler, validates and dumps the result twice (model, then surface) and wraps it in a
response model; a 2025-11-25 session also opens an SSE stream per call (a task group, memory
channels, the SSE encoder). A call that can send nothing but its answer needs none of that: our
own validation checks the arguments against the spec's full schemas, the result is built by us,
and the tool list never changes while the server runs. So such a call is answered here: the same
handler the SDK would call (`on_call_tool`, redaction included), with the SDK's own checks kept
where they are cheap (Host/Origin, content type, the envelope model, the 2026-07-28 routing
headers, the params model), and the answer written as `application/json`. The MCP spec lets a
server answer a POST with JSON when the client accepts both JSON and SSE.

Everything else goes to the SDK unchanged, which also answers every error: initialize, sessions,
notifications, ping, discovery, a call with a progress token, a 2025-11-25 call that may ask the
person (`may_ask`: elicitation is pushed on that call's stream) and anything this path does not
expect (an unknown header, a malformed envelope, a tool declaring `x-mcp-header` parameters).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
import pydantic_core
from mcp.server import Server, ServerRequestContext
from mcp.server.connection import Connection
from mcp.server.runner import modern_error_data, serve_one
from mcp.server.session import ServerSession
from mcp.server.streamable_http import REQUEST_CANCELLED, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.exceptions import NoBackChannelError
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    x_mcp_header_map,
)
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import INTERNAL_ERROR, JSONRPCRequest
from mcp_types import methods as _methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Scope, Send

log = logging.getLogger(__name__)

SHUTTING_DOWN = (
    "xapi-mcp is shutting down and stopped waiting for this call (MCP_SHUTDOWN_GRACE); X may have acted on it."
)
MayAsk = Callable[[str, Mapping[str, Any]], bool]
"""Whether a call to this tool with these arguments may ask the person something before it answers."""


@dataclass
class _NoChannel:
    """The request's channel to the client: it carries nothing (the answer is the whole response).

    Serves as the `DispatchContext` of the request and the `Outbound` of its connection: a
    server-initiated request raises `NoBackChannelError`, a notification (progress, whose token
    a direct call never has) is dropped.
    """

    transport: TransportContext
    request_id: types.RequestId | None
    message_metadata: ServerMessageMetadata
    cancel_requested: anyio.Event = field(default_factory=anyio.Event)
    can_send_request: bool = False

    async def send_raw_request(self, method: str, params: Mapping[str, Any] | None, opts: Any = None) -> dict[str, Any]:
        raise NoBackChannelError(method)

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: Any = None) -> None:
        return None

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        return None


class DirectCalls:
    """Answers the tools/call and tools/list POSTs that need nothing but their answer; see the module doc."""

    def __init__(
        self,
        server: Server[Any],
        sessions: StreamableHTTPSessionManager,
        security: TransportSecuritySettings,
        session_idle_timeout: float,
        may_ask: MayAsk | None,
        *,
        long_calls: frozenset[str] = frozenset(),
    ) -> None:
        entry = server.get_request_handler("tools/call")
        self.server, self.call_tool = server, entry.handler if entry is not None else None
        # 2025-11-25 sessions are the SDK's; a session id it no longer knows goes to it (404).
        self.sessions: Mapping[str, StreamableHTTPServerTransport] = getattr(sessions, "_server_instances", {})
        self.security = TransportSecurityMiddleware(security)
        self.idle_timeout = session_idle_timeout
        self.may_ask = may_ask
        self.long_calls = long_calls  # stream tools: their calls report progress and end when the client goes
        self._stamp = server.server_info_stamp  # the SDK copies it per call; ours is serialised at once, never kept
        self._listings: dict[str, bytes] = {}  # protocol version -> the tools/list result, as the SDK wrote it
        self._header_free: dict[str, bool] = {}  # tool -> declares no x-mcp-header parameter
        # Calls being answered: (session, request id) for 2025-11-25 (notifications/cancelled names them).
        self._running: dict[tuple[object, str], anyio.CancelScope] = {}
        self._abandoned = False

    async def answer(self, scope: Scope, body: bytes, send: Send) -> bool:
        """Answer this POST and return True, or return False having sent nothing (the SDK answers it)."""
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        headers = dict(pairs)
        version = headers.get("mcp-protocol-version", "")
        legacy = version in HANDSHAKE_PROTOCOL_VERSIONS
        if not (legacy or version in MODERN_PROTOCOL_VERSIONS) or "user" in scope or self.call_tool is None:
            return False
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return False
        accepted = {part.split(";")[0].strip().lower() for part in headers.get("accept", "").split(",")}
        if "application/json" not in accepted or (legacy and "text/event-stream" not in accepted):
            return False
        request = Request(scope)
        if await self.security.validate_request(request, is_post=True) is not None:
            return False
        try:  # each era's own parser, as the SDK's: the same bodies are refused or accepted
            message = pydantic_core.from_json(body) if legacy else json.loads(body)
        except (ValueError, RecursionError):
            return False
        if not isinstance(message, dict):
            return False
        session = headers.get("mcp-session-id")
        if legacy:
            if session is None or self.may_ask is None:
                return False
            if message.get("method") == "notifications/cancelled":
                self._cancel(session, message.get("params"))
                return False  # the SDK acknowledges it (and cancels its own calls)
            transport = self.sessions.get(session)
            if transport is None or transport.is_terminated:
                return False
        elif find_duplicated_routing_header(pairs) is not None or any(
            name.startswith("mcp-param-") for name in headers
        ):
            return False
        if message.get("method") not in ("tools/call", "tools/list"):
            return False
        try:
            rpc = JSONRPCRequest.model_validate(message)
        except ValidationError:
            return False
        params = rpc.params or {}
        meta = params.get("_meta")
        if (meta is not None and not isinstance(meta, dict)) or (meta and "progressToken" in meta):
            return False
        if not legacy and isinstance(classify_inbound_request(message, headers=headers), InboundLadderRejection):
            return False
        if rpc.method == "tools/list":
            if set(params) - {"_meta"}:
                return False  # a cursor: the SDK pages (our list is one page)
            result = await self._listing(version, rpc.id)
            await _respond(send, _envelope(rpc.id, result), 200, session if legacy else None)
            return True
        return await self._call(request, rpc, params, version, session if legacy else None, send)

    async def _call(
        self,
        request: Request,
        rpc: JSONRPCRequest,
        params: dict[str, Any],
        version: str,
        session: str | None,
        send: Send,
    ) -> bool:
        name, arguments = params.get("name"), params.get("arguments")
        if not isinstance(name, str) or not (arguments is None or isinstance(arguments, dict)):
            return False
        inner = (arguments or {}).get("name")  # call_x_api names its target in its arguments
        if name in self.long_calls or (isinstance(inner, str) and inner in self.long_calls):
            return False
        if session is not None and self.may_ask is not None and self.may_ask(name, arguments or {}):
            return False  # a 2025-11-25 question to the person travels on the call's SSE stream
        if session is None and arguments and not self._no_param_headers(name):
            return False  # the SDK checks Mcp-Param-* headers against the declaration
        try:
            typed = types.CallToolRequestParams.model_validate(params, by_name=False)
        except ValidationError:
            return False
        ctx = self._context(request, rpc, typed, version, session)
        key = (session or "", str(rpc.id)) if session is not None else (object(), "")
        with anyio.CancelScope() as cancel:
            self._running[key] = cancel
            try:
                if session is not None:
                    self._keep_alive(session)
                status, payload = await self._run(rpc.id, version, ctx, typed)
            finally:
                self._running.pop(key, None)
                if session is not None:
                    self._keep_alive(session)
        if cancel.cancelled_caught:
            if self._abandoned:  # shutting down past MCP_SHUTDOWN_GRACE: say so rather than drop the request
                error = {"code": INTERNAL_ERROR, "message": SHUTTING_DOWN}
            else:  # notifications/cancelled: answered as the SDK's 2025-era wire does
                error = {"code": REQUEST_CANCELLED, "message": "Request cancelled"}
            status, payload = 200, _envelope(rpc.id, error, key="error")
        await _respond(send, payload, status, session)
        return True

    async def _run(
        self, request_id: types.RequestId, version: str, ctx: ServerRequestContext[Any], typed: Any
    ) -> tuple[int, bytes]:
        assert self.call_tool is not None
        try:
            result = await self.call_tool(ctx, typed)
        except Exception as exc:  # what the SDK makes of it: MCPError -> its error, anything else -> internal
            error = modern_error_data(exc)
            status = ERROR_CODE_HTTP_STATUS.get(error.code, 200) if version in MODERN_PROTOCOL_VERSIONS else 200
            return status, _envelope(request_id, error.model_dump(mode="json", exclude_none=True), key="error")
        return 200, _envelope(request_id, self._result(result, version))

    def _result(self, result: Any, version: str) -> bytes:
        """The wire form of a tools/call result, as the SDK's serializer writes it for `version`."""
        dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        if not isinstance(result, types.CallToolResult):  # a question (MRTR) or anything rarer: the SDK's sieve
            dumped = _methods.serialize_server_result("tools/call", version, dumped)
        if version in MODERN_PROTOCOL_VERSIONS:
            dumped.setdefault("resultType", "complete")
            meta = dumped.get("_meta")
            if not isinstance(meta, dict) or meta.get(types.SERVER_INFO_META_KEY) is None:
                dumped["_meta"] = {**(meta or {}), types.SERVER_INFO_META_KEY: self._stamp}
        else:
            dumped.pop("resultType", None)  # a 2026-07-28 word: the 2025-11-25 sieve drops it
        return pydantic_core.to_json(dumped)

    def _context(
        self,
        request: Request,
        rpc: JSONRPCRequest,
        typed: types.CallToolRequestParams,
        version: str,
        session: str | None,
    ) -> ServerRequestContext[Any]:
        """The context the SDK would give the handler, with a channel that carries nothing back."""
        channel = _NoChannel(
            TransportContext(kind="streamable-http", can_send_request=False, headers=request.headers),
            rpc.id,
            ServerMessageMetadata(request_context=request),
        )
        params, meta = rpc.params or {}, typed.meta
        if session is None:  # the 2026-07-28 envelope says who the client is and what it can do
            envelope = params["_meta"]
            connection = Connection.from_envelope(
                version,
                envelope.get(types.CLIENT_INFO_META_KEY),
                envelope.get(types.CLIENT_CAPABILITIES_META_KEY),
                outbound=channel,
            )
        else:
            connection = Connection(channel, protocol_version=version, session_id=session)
        return ServerRequestContext(
            session=ServerSession(channel, connection, request_meta=meta),
            lifespan_context={},
            method=rpc.method,
            params=params,
            request_id=rpc.id,
            meta=meta,
            protocol_version=version,
            request=request,
        )

    async def _listing(self, version: str, request_id: types.RequestId) -> bytes:
        """The tools/list result, written by the SDK's own serializer once per protocol version."""
        cached = self._listings.get(version)
        if cached is None:
            channel = _NoChannel(
                TransportContext(kind="streamable-http", can_send_request=False), request_id, ServerMessageMetadata()
            )
            meta = {types.PROTOCOL_VERSION_META_KEY: version, types.CLIENT_CAPABILITIES_META_KEY: {}}
            modern = version in MODERN_PROTOCOL_VERSIONS
            connection = Connection.from_envelope(version, None, {}, outbound=channel)
            result = await serve_one(
                self.server,
                channel,
                "tools/list",
                {"_meta": meta} if modern else None,
                connection=connection,
                lifespan_state={},
            )
            cached = self._listings[version] = pydantic_core.to_json(result)
        return cached

    def _no_param_headers(self, name: str) -> bool:
        """The tool declares no x-mcp-header parameter, so no Mcp-Param-* header can be wrong (cached per tool)."""
        known = self._header_free.get(name)
        if known is None:
            lookup = self.server.get_tool_input_schema
            schema = lookup(name) if lookup is not None else None
            known = self._header_free[name] = schema is None or not x_mcp_header_map(schema)
        return known

    def _keep_alive(self, session: str) -> None:
        """A session busy with direct calls is not idle: push the SDK's idle deadline as its own requests do."""
        transport = self.sessions.get(session)
        idle = transport.idle_scope if transport is not None else None
        if idle is not None and idle.deadline != math.inf:
            idle.deadline = max(idle.deadline, anyio.current_time() + self.idle_timeout)

    def abandon(self) -> None:
        """Shutdown gave up waiting (MCP_SHUTDOWN_GRACE): end the calls still running, each with an error."""
        self._abandoned = True
        for running in list(self._running.values()):
            running.cancel()

    def _cancel(self, session: str, params: Any) -> None:
        request_id = params.get("requestId") if isinstance(params, dict) else None
        running = self._running.get((session, str(request_id))) if request_id is not None else None
        if running is not None:
            running.cancel()


def _envelope(request_id: types.RequestId, payload: Any, key: str = "result") -> bytes:
    """The JSON-RPC response around an already-serialised result (bytes) or an error (dict)."""
    body = payload if isinstance(payload, bytes) else pydantic_core.to_json(payload)
    return b'{"jsonrpc":"2.0","id":' + pydantic_core.to_json(request_id) + b',"' + key.encode() + b'":' + body + b"}"


async def _respond(send: Send, body: bytes, status: int, session: str | None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if session is not None:
        headers.append((b"mcp-session-id", session.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
