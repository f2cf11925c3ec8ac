"""A local Grok test client: xAI's chat completions driving xapi-mcp's tools.

`xapi-mcp grok "PROMPT"` connects to the MCP server (MCP_SERVER_URL, or starts one over stdio),
offers its tools to the model as functions, and runs the loop: model -> tool calls -> MCP
tools/call -> results back -> final answer, printing each call and a summary of its result.
Plain httpx against xAI's OpenAI-compatible API; no extra SDK. It talks MCP to the server like any
other client: nothing of the server is imported here but its settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2 as httpx
import mcp_types as types
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from xapi_mcp import logs
from xapi_mcp.clients.terminal import ChildStderr, TerminalConfirm, child_environment, child_parameters
from xapi_mcp.config import ConfigError, Settings
from xapi_mcp.errors import XapiMcpError

__all__ = [
    "ChildStderr",
    "GrokConfig",
    "GrokError",
    "TerminalConfirm",
    "TooManyTools",
    "child_environment",
    "main",
    "run",
]

SYSTEM = (
    "You operate the X (Twitter) API through the tools provided. Use them to answer; IDs are numeric "
    "strings. When a tool returns an error, read it and correct the call. Answer briefly."
)
MAX_TOOLS = 128  # OpenAI-compatible chat APIs, xAI's included, refuse more tools in one request
DEFAULT_PROFILE = "lean"
# Compacting forwarded tools keeps these schema keywords (the server validates the rest anyway).
_COMPACT_KEYS = {"type", "properties", "required", "items", "enum"}
_SHORT_ENUM = 8


class GrokError(XapiMcpError):
    """The loop cannot go on; the message says what failed and what to fix."""


class TooManyTools(GrokError):
    """The server offers more tools than the chat API accepts; nothing was sent to xAI."""

    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(
            f"The MCP server offers {count} tools, more than the {MAX_TOOLS} the xAI API accepts in one "
            "request. Start that server with X_API_TOOL_PROFILE=hybrid (the 40 most used tools, the rest "
            "through call_x_api; the default past 128 tools) or discovery (3 tools), or narrow it with "
            "X_API_TOOL_ALLOWLIST, or unset MCP_SERVER_URL: `xapi-mcp grok` then starts its own server "
            "and switches to hybrid by itself."
        )


@dataclass(frozen=True)
class GrokConfig:
    api_key: str
    model: str = "grok-4-1-fast"
    base_url: str = "https://api.x.ai/v1"
    max_steps: int = 8
    timeout: float = 120.0
    # Shorten the tools before forwarding them (for a server whose profile we did not choose).
    compact: bool = False


def functions(tools: list[Any], *, compact: bool = False) -> list[dict[str, Any]]:
    """MCP tools as chat-completions function definitions; `compact`: title and a lean schema only."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": (t.title if compact and t.title else t.description) or t.name,
                "parameters": _compact_parameters(t.input_schema) if compact else t.input_schema,
            },
        }
        for t in tools
    ]


def _compact_parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's input schema as the lean profile would show it: structure, `required`, short enums,
    and the arguments' own descriptions (a server past its size budget keeps only its notes there)."""
    out = _compacted(schema)
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {name: _compacted(sub, described=True) for name, sub in schema["properties"].items()}
    return out


def _compacted(schema: dict[str, Any], *, described: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in schema.items():
        kept = key in _COMPACT_KEYS or (key == "description" and described)
        if not kept or (key == "enum" and len(value) > _SHORT_ENUM):
            continue
        if key == "properties" and isinstance(value, dict):
            value = {name: _compacted(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            value = _compacted(value)
        out[key] = value
    return out


def _summary(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


async def run(
    prompt: str,
    client: Client,
    config: GrokConfig,
    out: Callable[[str], None] = print,
    on_call: Callable[[str, dict[str, Any]], None] | None = None,
) -> str:
    """The model's final answer to `prompt`, after as many tool rounds as it needs (up to max_steps).

    `on_call` hears of each tool call just before it is made (the terminal's confirmation shows it).
    """
    tools = (await client.list_tools()).tools
    if len(tools) > MAX_TOOLS:
        raise TooManyTools(len(tools))
    offered = functions(tools, compact=config.compact)
    names = {tool.name for tool in tools}
    system = SYSTEM + (f"\n\n{client.instructions}" if client.instructions else "")
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    headers = {"Authorization": f"Bearer {config.api_key}"}
    async with httpx.AsyncClient(base_url=config.base_url, headers=headers, timeout=config.timeout) as http:
        for _ in range(config.max_steps):
            message = await _complete(http, config, messages, offered)
            messages.append(message)
            calls = message.get("tool_calls") or []
            if not calls:
                return str(message.get("content") or "")
            for call in calls:
                messages.append(await _tool_turn(call, client, names, out, on_call))
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
        raise _http_error(response, config)
    try:
        return dict(response.json()["choices"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise GrokError(
            f"The xAI API answered something that is not a chat completion: {_summary(response.text)}"
        ) from None


_KEY_WORDS = re.compile(r"api[ _-]?key|\bauthori[sz]|\bunauthenticated\b", re.IGNORECASE)
_MODEL_WORDS = re.compile(
    r"\b(unknown|invalid|unsupported|no such) model\b|\bmodel\b.*\b(not found|does not exist|doesn't exist|"
    r"not exist|not available|not supported|no access|access to)\b",
    re.IGNORECASE,
)


def _http_error(response: httpx.Response, config: GrokConfig) -> GrokError:
    """xAI's answer, in its own words (redacted), and the setting that fixes it."""
    status = response.status_code
    said = _xai_message(response.text)
    said = logs.redact(said.replace(config.api_key, "***") if config.api_key else said)
    # xAI answers a wrong key with 400, not 401; its "unknown model" text also mentions the key.
    if _MODEL_WORDS.search(said) or (len(config.model) > 2 and config.model in said):
        fix = f"Check XAI_MODEL (now '{config.model}'; console.x.ai lists the models your key can use)."
    elif _KEY_WORDS.search(said) or status == 401:
        fix = "Check XAI_API_KEY (console.x.ai > API keys)."
    elif status == 403:
        fix = "xAI refused this key: check its team's credits and permissions at console.x.ai."
    elif status == 404:
        fix = f"Check XAI_BASE_URL (now {config.base_url}; xAI's is https://api.x.ai/v1)."
    elif status == 429:
        fix = "xAI's rate or spending limit was reached: wait a minute and try again, or see console.x.ai."
    elif status >= 500:
        fix = "That is a problem on xAI's side: try again in a moment."
    else:
        fix = ""
    quoted = f': "{said}"' if said else ""
    return GrokError(f"The xAI API answered HTTP {status}{quoted}. {fix}".rstrip())


def _xai_message(body: str) -> str:
    """The human part of an error body: `error`, `error.message`, `message` or `detail`, else the text."""
    try:
        data = json.loads(body)
    except ValueError:
        return _summary(body, 500)
    for value in (data.get("error"), data.get("message"), data.get("detail")) if isinstance(data, dict) else ():
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value.strip():
            # xAI has been seen to send its message percent-encoded ("Incorrect%20API%20key…").
            return _summary(urllib.parse.unquote(value) if "%20" in value else value, 500)
    return _summary(body, 500)


async def _tool_turn(
    call: dict[str, Any],
    client: Client,
    names: set[str],
    out: Callable[[str], None],
    on_call: Callable[[str, dict[str, Any]], None] | None,
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
        if on_call is not None:
            on_call(name, arguments)
        try:
            result = await client.call_tool(name, arguments)
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                raise
            text, is_error = f"{name} failed: {exc.error.message}", True
        else:
            text = "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))
            is_error = bool(result.is_error)
        # An error is for the person too (what to fix, what was not sent): shown whole.
        out(f"<- error: {text}" if is_error else f"<- ok: {_summary(text)}")
    return {"role": "tool", "tool_call_id": call.get("id", ""), "content": text}


def main(args: argparse.Namespace) -> int:
    """`xapi-mcp grok`: 0 with the answer on stdout; 1 when the run failed, 2 for a setup problem,
    130 on Ctrl-C. Every failure is one message on stderr, never a traceback."""
    try:
        return _main(args)
    except BaseException as exc:  # KeyboardInterrupt, alone or inside the SDK's exception groups
        if not any(isinstance(leaf, KeyboardInterrupt) for leaf in _leaves(exc)):
            raise
        print(("\n" if sys.stderr.isatty() else "") + "xapi-mcp: interrupted; stopped.", file=sys.stderr)
        return 130


def _main(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(dotenv_path=args.env_file)
    except ConfigError as exc:
        print(f"xapi-mcp: {exc}", file=sys.stderr)
        return 2
    if settings.xai_api_key is None:
        print("xapi-mcp: set XAI_API_KEY (console.x.ai > API keys) in the environment or .env.", file=sys.stderr)
        return 2
    key = settings.xai_api_key.get_secret_value()
    logs.watch_secrets(lambda: [key])
    profile = args.profile or DEFAULT_PROFILE
    url = settings.mcp_server_url
    # Against a server we did not start, its own profile decides the tools; we can only shorten them.
    config = GrokConfig(
        key, settings.xai_model, settings.xai_base_url, args.max_steps, compact=bool(url) and profile != "full"
    )
    confirm = TerminalConfirm() if sys.stdin.isatty() else None
    try:
        if url:
            answer = asyncio.run(_over_http(url, args.prompt, config, confirm))
        else:
            answer = asyncio.run(_over_stdio(args, profile, config, confirm))
    except GrokError as exc:
        print(f"xapi-mcp: {exc}", file=sys.stderr)
        return 1
    print(answer)
    return 0


@dataclass
class _Session:
    prompt: str
    config: GrokConfig
    confirm: TerminalConfirm | None
    connected: bool = False

    async def ask(self, server: Any) -> str | GrokError:
        async with Client(server, elicitation_callback=self.confirm) as client:
            self.connected = True
            try:
                on_call = self.confirm.expect if self.confirm is not None else None
                return await run(self.prompt, client, self.config, on_call=on_call)
            except GrokError as exc:  # returned, so the client's task group does not wrap it
                return exc


async def _over_http(url: str, prompt: str, config: GrokConfig, confirm: TerminalConfirm | None) -> str:
    session = _Session(prompt, config, confirm)
    try:
        result = await session.ask(url)
    except Exception as exc:
        failure = _connection_failure(exc)
        if failure is None:
            raise
        raise GrokError(_http_failure(url, failure, session.connected)) from None
    if isinstance(result, GrokError):
        raise result
    return result


def _http_failure(url: str, exc: BaseException, connected: bool) -> str:
    start = (
        "Start it with `xapi-mcp` in another terminal (it serves http://127.0.0.1:8000/mcp), fix "
        "MCP_SERVER_URL, or unset it and `xapi-mcp grok` starts its own server over stdio."
    )
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        hint = " Check MCP_SERVER_URL: xapi-mcp serves MCP at /mcp." if status in (404, 405) else ""
        if status in (401, 403):
            hint = " That server wants a bearer token (MCP_AUTH_TOKEN), which `xapi-mcp grok` does not send."
        return f"The MCP server at {url} answered HTTP {status}.{hint}"
    if isinstance(exc, httpx.TransportError) and not connected:
        return f"Cannot reach the MCP server at {url} ({type(exc).__name__}). {start}"
    when = "during the run" if connected else "before it answered"
    return f"The connection to the MCP server at {url} failed {when} ({type(exc).__name__}: {exc}). {start}"


async def _over_stdio(
    args: argparse.Namespace, profile: str, config: GrokConfig, confirm: TerminalConfirm | None
) -> str:
    while True:
        session = _Session(args.prompt, config, confirm)
        child = ChildStderr(show_all=args.verbose)
        try:
            try:
                result = await session.ask(stdio_client(child_parameters(args, profile, os.environ), errlog=child.file))
            finally:
                child.close()
        except Exception as exc:
            if _connection_failure(exc) is None:
                raise
            when = "during the run" if session.connected else "before it answered"
            raise GrokError(child.explain(f"The xapi-mcp server started over stdio stopped {when}")) from None
        if isinstance(result, TooManyTools) and profile not in ("hybrid", "discovery"):
            print(
                f"xapi-mcp: {result.count} tools are more than the {MAX_TOOLS} the xAI API accepts; using the "
                "hybrid profile instead (the most used tools; search_x_api, describe_x_api and call_x_api reach "
                "the rest).",
                file=sys.stderr,
            )
            profile = "hybrid"
            continue
        if isinstance(result, GrokError):
            raise result
        return result


_CONNECTION_ERRORS = (
    MCPError,
    OSError,
    httpx.HTTPError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)


def _connection_failure(exc: BaseException) -> BaseException | None:
    """The connection error inside `exc` (the SDK wraps them in task-group exception groups), or
    None when `exc` is something else (a bug, which keeps its traceback)."""
    leaves = list(_leaves(exc))
    if not leaves or not all(isinstance(leaf, _CONNECTION_ERRORS) for leaf in leaves):
        return None
    return next((leaf for leaf in leaves if isinstance(leaf, httpx.HTTPError)), leaves[0])


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc
