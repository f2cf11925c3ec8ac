"""What each step of one tools/call costs on the server, in process (no network, no other process).

    python benchmarks/call_steps.py

1. The steps one at a time (best of 5 timeit runs, µs per call): the `mcp` SDK's per-call work on
   the tools/call path, each marked with what server/direct.py does with it (kept, skipped because
   our own validation or construction covers it, or done once), and xapi-mcp's own work, with the
   OAuth 1.0a signature and the request building before and after their rewrite.
2. The HTTP layer as a whole: the app `build_app` makes, driven by ASGI calls with a tools/call
   handler that answers at once, so only the transport is measured: CPU µs per call (median of 5
   runs) through server/direct.py and through the SDK's own path, for both protocol versions.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # the signer refuses http:// otherwise

import httpx2 as httpx  # noqa: E402
import mcp_types as types  # noqa: E402
from authlib.oauth1 import ClientAuth  # noqa: E402
from bench import CALL, print_rows  # noqa: E402
from mcp.server.connection import Connection  # noqa: E402
from mcp.shared.inbound import classify_inbound_request, validate_mcp_param_headers  # noqa: E402
from mcp_types import JSONRPCRequest, JSONRPCResponse  # noqa: E402
from mcp_types import methods as surface  # noqa: E402
from mcp_types.jsonrpc import jsonrpc_message_adapter  # noqa: E402
from pydantic_core import to_json  # noqa: E402

from tests import fake_x as fx  # noqa: E402
from tests.servers import SPEC_159  # noqa: E402
from xapi_mcp.auth.credentials import OAuth1Signer, Signers  # noqa: E402
from xapi_mcp.calls.arguments import prepare  # noqa: E402
from xapi_mcp.server.http import build_app  # noqa: E402
from xapi_mcp.server.mcp_server import ToolServer, listing, redact_result  # noqa: E402
from xapi_mcp.stores import CredentialKind, MemoryTokenStore  # noqa: E402
from xapi_mcp.tools.catalog import build_catalog  # noqa: E402

MODERN, LEGACY = "2026-07-28", "2025-11-25"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
X_URL = "http://127.0.0.1:8000/2/users/by/username/XDevelopers"


def best_us(step: Callable[[], Any], number: int = 500) -> float:
    return min(timeit.repeat(step, number=number, repeat=5)) / number * 1e6


def steps() -> list[tuple[str, str, str]]:
    catalog = build_catalog(json.loads(gzip.decompress(SPEC_159.read_bytes())), workflows=True)
    tool = catalog.tools[CALL[0]]
    schema = next(t for t in listing(catalog.tools, "full").tools if t.name == tool.name).input_schema
    params = {"name": CALL[0], "arguments": CALL[1], "_meta": META}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    headers = {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": CALL[0]}
    result = types.CallToolResult(content=[types.TextContent(text='{"data":{"id":"1"}}')], is_error=False)
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    signer = Signers(store).signer(CredentialKind.OAUTH1_USER)
    assert isinstance(signer, OAuth1Signer)
    client = httpx.AsyncClient()
    request = client.build_request("GET", f"{X_URL}?user.fields=id%2Cname")

    def surface_result() -> Any:
        return surface.serialize_server_result("tools/call", MODERN, result.model_dump(by_alias=True, mode="json"))

    def response_model() -> str:
        return json.dumps(JSONRPCResponse(jsonrpc="2.0", id=1, result=dumped).model_dump(mode="json", by_alias=True))

    def direct_bytes() -> bytes:
        dumped_now = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return b'{"jsonrpc":"2.0","id":1,"result":' + to_json(dumped_now) + b"}"

    measured = [
        ("SDK: JSON-RPC message union (2025-11-25 transport)", "skipped: the request model",
         lambda: jsonrpc_message_adapter.validate_python(message, by_name=False)),
        ("SDK: JSONRPCRequest model", "kept", lambda: JSONRPCRequest.model_validate(message)),
        ("SDK: 2026-07-28 routing headers", "kept", lambda: classify_inbound_request(message, headers=headers)),
        ("SDK: Mcp-Param-* headers against the input schema", "once per tool (none declared)",
         lambda: validate_mcp_param_headers(schema, CALL[1], headers)),
        ("SDK: connection from the 2026-07-28 envelope", "kept (2026-07-28)",
         lambda: Connection.from_envelope(MODERN, META["io.modelcontextprotocol/clientInfo"], {})),
        ("SDK: tools/call params against the method surface", "skipped: the params model",
         lambda: surface.validate_client_request("tools/call", MODERN, params)),
        ("SDK: CallToolRequestParams model", "kept",
         lambda: types.CallToolRequestParams.model_validate(params, by_name=False)),
        ("SDK: result against the method surface (dump, validate, dump)", "skipped: we built it", surface_result),
        ("SDK: JSONRPCResponse model, dump, json.dumps", "skipped", response_model),
        ("direct: result dump, envelope joined as bytes", "their replacement", direct_bytes),
        ("xapi-mcp: arguments against the spec's schema (jsonschema)", "kept", lambda: prepare(tool, CALL[1])),
        ("xapi-mcp: redaction of the result", "kept", lambda: redact_result(result)),
        ("OAuth 1.0a signature: authlib's ClientAuth.prepare (before)", "replaced",
         lambda: ClientAuth.prepare(signer, "GET", str(request.url), dict(request.headers), b"")),
        ("OAuth 1.0a signature: one pass over authlib's parts (after)", "new", lambda: signer.header(request)),
        ("httpx build_request with params= (before)", "replaced",
         lambda: client.build_request("GET", X_URL, params=(("user.fields", "id,name"),))),
        ("httpx build_request, query encoded by urlencode (after)", "new",
         lambda: client.build_request("GET", f"{X_URL}?user.fields=id%2Cname")),
    ]  # fmt: skip
    return [(label, what, f"{best_us(step):.1f}") for label, what, step in measured]


async def transport(mode: str, direct: bool, calls: int) -> float:
    """CPU µs per tools/call through the HTTP app, the handler answering at once."""

    async def call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(text='{"data":{"id":"1"}}')], is_error=False)

    server = ToolServer("bench", version="1", on_call_tool=call_tool, get_tool_input_schema=lambda name: None)
    server.middleware.clear()
    server.may_ask = lambda name, arguments: False
    app = build_app(server, host="127.0.0.1", health=dict)
    if not direct:
        app.state.in_flight.app.direct = None

    async def post(headers: dict[str, str], body: dict[str, Any]) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/mcp", "raw_path": b"/mcp", "query_string": b"",
                 "headers": [(k.encode(), v.encode()) for k, v in headers.items()], "root_path": "",
                 "scheme": "http", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 1), "http_version": "1.1",
                 "asgi": {"version": "3.0"}, "state": {}}  # fmt: skip
        await app(scope, receive, send)
        return sent

    base = {
        "host": "127.0.0.1:8000",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
    }
    async with app.router.lifespan_context(app):
        if mode == LEGACY:
            hello = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
            opened = await post(base, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello})
            session = dict(opened[0]["headers"])[b"mcp-session-id"].decode()
            headers = {**base, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
            await post(headers, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            params: dict[str, Any] = {"name": CALL[0], "arguments": CALL[1]}
        else:
            headers = {**base, "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": CALL[0]}
            params = {"name": CALL[0], "arguments": CALL[1], "_meta": META}
        body = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params}
        for _ in range(50):
            answer = b"".join(m.get("body", b"") for m in await post(headers, body))
        assert b'"isError":false' in answer, answer
        started = time.process_time()
        for _ in range(calls):
            await post(headers, body)
        return (time.process_time() - started) / calls * 1e6


def main() -> None:
    print("Steps of one tools/call (best of 5, µs per call):")
    print_rows(("step", "server/direct.py", "µs"), steps())
    print("\nThe HTTP layer, a handler that answers at once (CPU µs per call, median of 5 runs of 1000):")
    rows = []
    for mode in (LEGACY, MODERN):
        figures = {path: statistics.median(asyncio.run(transport(mode, path == "direct", 1000)) for _ in range(5))
                   for path in ("direct", "SDK")}  # fmt: skip
        sdk = "SDK SSE stream" if mode == LEGACY else "SDK JSON answer"
        rows.append((mode, f"{figures['direct']:.0f}", f"{figures['SDK']:.0f} ({sdk})"))
    print_rows(("protocol", "server/direct.py", "the SDK's path"), rows)


if __name__ == "__main__":
    main()
