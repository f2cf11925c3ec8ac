"""The floor for any Python server between a client and X: the benchmark's reference hop.

    python benchmarks/relay.py X_URL [MCP_URL] PORT

A bare ASGI app on uvicorn (the same server stack as xapi-mcp) that takes a POST, makes the
benchmark's call (a GET of X_URL) to X with the same httpx2 client and OAuth 1.0a signer xapi-mcp uses, and answers
with X's JSON wrapped as a JSON-RPC tools/call result. No MCP, no validation: what remains when a server does
nothing but relay. `bench.py` compares xapi-mcp with it to separate what the extra HTTP hop costs
from what xapi-mcp itself adds.

With MCP_URL (an xapi-mcp server), any other JSON-RPC method (initialize, server/discover, tools/list,
notifications) is forwarded there, so the `mcp` client can use the relay as a server: the handshake is
not what is measured, and every tools/call is relayed as above. That row is the floor for any Python
MCP server on this stack: the client's own cost and one relayed call, with no MCP work at all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import fake_x as fx
from xapi_mcp.auth.credentials import Signers
from xapi_mcp.server.run import KEEP_ALIVE_SECONDS
from xapi_mcp.stores import CredentialKind, MemoryTokenStore


def relay(x_url: str, mcp_url: str | None = None) -> Any:
    store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    client: httpx.AsyncClient | None = None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal client
        if scope["type"] == "lifespan":
            for step in ("startup", "shutdown"):
                await receive()
                await send({"type": f"lifespan.{step}.complete"})
            return
        if client is None:
            client = httpx.AsyncClient(auth=Signers(store).signer(CredentialKind.OAUTH1_USER))
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if scope["method"] == "GET":  # no stream of server messages: the spec's answer is 405
            await send({"type": "http.response.start", "status": 405, "headers": [(b"allow", b"POST, DELETE")]})
            await send({"type": "http.response.body", "body": b""})
            return
        message = json.loads(body) if body else {}
        if mcp_url is not None and message.get("method") != "tools/call":
            await forward(scope, body, send)
            return
        answer = await client.get(x_url)
        result = {"content": [{"type": "text", "text": json.dumps(answer.json())}], "isError": False}
        if dict(scope["headers"]).get(b"mcp-protocol-version", b"") >= b"2026":
            result["resultType"] = "complete"  # the 2026-07-28 result shape
        out = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": out})

    async def forward(scope: dict[str, Any], body: bytes, send: Any) -> None:
        """The handshake and anything else but tools/call, answered by the real server behind."""
        assert client is not None and mcp_url is not None
        skip = {b"host", b"content-length"}
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k not in skip]
        answer = await client.request(scope["method"], mcp_url, content=body, headers=headers, auth=None)
        drop = {"content-length", "transfer-encoding", "date", "server"}
        back = [(k.encode(), v.encode()) for k, v in answer.headers.items() if k not in drop]
        await send({"type": "http.response.start", "status": answer.status_code, "headers": back})
        await send({"type": "http.response.body", "body": answer.content})

    return app


if __name__ == "__main__":
    uvicorn.run(
        relay(sys.argv[1], sys.argv[2] if len(sys.argv) > 3 else None),
        host="127.0.0.1",
        port=int(sys.argv[-1]),
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
