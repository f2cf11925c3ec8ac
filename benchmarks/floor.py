"""The floor of an `mcp` 2.3 server: one decorated tool making the benchmark's call, nothing else.

    python benchmarks/floor.py X_URL sse|json PORT

The thinnest MCP server the SDK offers (`MCPServer` with one `@tool` function) doing the same GET
as the benchmark's tool, with the same httpx2 client and OAuth 1.0a signer xapi-mcp uses, on the
same server stack (uvicorn). `sse` answers every POST as the SDK does by default (an SSE stream in
2025-11-25 sessions), `json` with the SDK's `json_response=True`. `bench.py` runs it beside
xapi-mcp: what the SDK itself costs per call, with no validation, no redaction, no catalog.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx2 as httpx
import uvicorn
from mcp.server.mcpserver import MCPServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import fake_x as fx
from xapi_mcp.auth.credentials import Signers
from xapi_mcp.server.run import KEEP_ALIVE_SECONDS
from xapi_mcp.stores import CredentialKind, MemoryTokenStore


def floor(x_url: str, json_response: bool) -> object:
    store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    server = MCPServer("floor")
    clients: list[httpx.AsyncClient] = []

    @server.tool()
    async def getUsersByUsername(username: str, user_fields: list[str]) -> str:
        """Look a user up by username."""
        if not clients:
            clients.append(httpx.AsyncClient(auth=Signers(store).signer(CredentialKind.OAUTH1_USER)))
        params = {"user.fields": ",".join(user_fields)}
        answer = await clients[0].get(f"{x_url}/2/users/by/username/{username}", params=params)
        return answer.text

    return server.streamable_http_app(json_response=json_response)


if __name__ == "__main__":
    uvicorn.run(
        floor(sys.argv[1], sys.argv[2] == "json"),
        host="127.0.0.1",
        port=int(sys.argv[3]),
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
