"""A tool call through the `mcp` client by a person who answers the confirmation question (or cannot)."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp import Client


def call_asking(
    url: str, name: str, args: dict[str, Any], *, mode: str = "auto", answer: str | None = None
) -> tuple[types.CallToolResult, list[str]]:
    """Call a tool; `answer` is what the person says when asked ("accept", "decline"; None: a client that
    cannot ask). Returns the result and the questions asked."""
    asked: list[str] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action=answer, content={"confirm": True} if answer == "accept" else None)

    async def run() -> types.CallToolResult:
        async with Client(url, mode=mode, elicitation_callback=elicit if answer else None) as client:
            return await client.call_tool(name, args)

    return anyio.run(run), asked
