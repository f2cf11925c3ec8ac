"""A local Grok test client: xAI's chat completions driving xapi-mcp's tools.

`xapi-mcp grok "PROMPT"` connects to the MCP server (MCP_SERVER_URL, or starts one over stdio),
offers its tools to the model as functions, and runs the loop: model -> tool calls -> MCP
tools/call -> results back -> final answer, printing each call and a summary of its result.
Plain httpx against xAI's OpenAI-compatible API; no extra SDK.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
from mcp import Client
from mcp_types import TextContent

SYSTEM = (
    "You operate the X (Twitter) API through the tools provided. Use them to answer; IDs are numeric "
    "strings. When a tool returns an error, read it and correct the call. Answer briefly."
)


class GrokError(Exception):
    """The loop cannot go on; the message says what failed and what to fix."""


@dataclass(frozen=True)
class GrokConfig:
    api_key: str
    model: str = "grok-4-1-fast"
    base_url: str = "https://api.x.ai/v1"
    max_steps: int = 8
    timeout: float = 120.0


def functions(tools: list[Any]) -> list[dict[str, Any]]:
    """MCP tools as chat-completions function definitions."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description or t.name, "parameters": t.input_schema},
        }
        for t in tools
    ]


def _summary(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


async def run(prompt: str, client: Client, config: GrokConfig, out: Callable[[str], None] = print) -> str:
    """The model's final answer to `prompt`, after as many tool rounds as it needs (up to max_steps)."""
    tools = (await client.list_tools()).tools
    names = {tool.name for tool in tools}
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    headers = {"Authorization": f"Bearer {config.api_key}"}
    async with httpx.AsyncClient(base_url=config.base_url, headers=headers, timeout=config.timeout) as http:
        for _ in range(config.max_steps):
            message = await _complete(http, config, messages, functions(tools))
            messages.append(message)
            calls = message.get("tool_calls") or []
            if not calls:
                return str(message.get("content") or "")
            for call in calls:
                messages.append(await _tool_turn(call, client, names, out))
    raise GrokError(
        f"The model made tool calls for {config.max_steps} steps without a final answer; stopped. "
        "Ask something narrower, or raise the step limit (--max-steps)."
    )


async def _complete(
    http: httpx.AsyncClient, config: GrokConfig, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> dict[str, Any]:
    try:
        response = await http.post(
            "/chat/completions", json={"model": config.model, "messages": messages, "tools": tools}
        )
    except httpx.HTTPError as exc:
        raise GrokError(f"Could not reach the xAI API at {config.base_url} ({type(exc).__name__}).") from None
    if response.status_code >= 400:
        hint = (
            " Check XAI_API_KEY."
            if response.status_code in (401, 403)
            else " Check XAI_MODEL."
            if (response.status_code in (400, 404))
            else ""
        )
        raise GrokError(f"The xAI API returned HTTP {response.status_code}: {_summary(response.text, 300)}.{hint}")
    try:
        return dict(response.json()["choices"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise GrokError(
            f"The xAI API answered something that is not a chat completion: {_summary(response.text)}"
        ) from None


async def _tool_turn(
    call: dict[str, Any], client: Client, names: set[str], out: Callable[[str], None]
) -> dict[str, Any]:
    function = call.get("function") or {}
    name = str(function.get("name", ""))
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except ValueError:
        arguments = None
    shown = json.dumps(arguments, ensure_ascii=False) if arguments is not None else function.get("arguments")
    out(f"-> {name}({shown})")
    if name not in names:
        text = f"Unknown tool '{name}'. Available tools: {', '.join(sorted(names))}."
        out(f"<- error: {_summary(text)}")
    elif not isinstance(arguments, dict):
        text = f"The arguments for {name} are not a JSON object; send them as one."
        out(f"<- error: {text}")
    else:
        result = await client.call_tool(name, arguments)
        text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
        out(f"<- {'error' if result.is_error else 'ok'}: {_summary(text)}")
    return {"role": "tool", "tool_call_id": call.get("id", ""), "content": text}
