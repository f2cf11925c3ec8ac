"""The floor for any Python server between a client and X: the benchmark's reference hop.

    python benchmarks/relay.py X_URL PORT

A bare ASGI app on uvicorn (the same server stack as xapi-mcp) that takes a POST, makes the
benchmark's call (a GET of X_URL) to X with the same httpx2 client and OAuth 1.0a signer xapi-mcp uses, and answers
with X's JSON wrapped as a JSON-RPC result. No MCP, no validation: what remains when a server does
nothing but relay. `bench.py` compares xapi-mcp with it to separate what the extra HTTP hop costs
from what xapi-mcp itself adds.
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


def relay(x_url: str) -> Any:
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
        answer = await client.get(x_url)
        result = {"content": [{"type": "text", "text": json.dumps(answer.json())}], "isError": False}
        out = json.dumps({"jsonrpc": "2.0", "id": json.loads(body)["id"], "result": result}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": out})

    return app


if __name__ == "__main__":
    uvicorn.run(
        relay(sys.argv[1]),
        host="127.0.0.1",
        port=int(sys.argv[2]),
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
