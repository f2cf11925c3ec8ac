"""Collect from one of X's streams within a call's bounds, then close the connection.

X sends newline-delimited JSON: one message per line (`data`, `includes`, `matching_rules`), blank
keep-alive lines about every 20 s, and `{"errors": [...]}` lines when it is about to disconnect
(operational-disconnect and the like). `collect` reads the bytes itself, so memory stays bounded by
the item cap and one line; it stops at `max_items`, at `max_seconds`, when X closes or sends an
error, or when the call is cancelled (the connection to X is closed at once in every case).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2 as httpx

from xapi_mcp.calls.arguments import PreparedRequest
from xapi_mcp.calls.billing_errors import billing_stop
from xapi_mcp.calls.results import ToolOutcome, fit, http_error, parse_json, rate_limited, snippet
from xapi_mcp.calls.workflow import Progress
from xapi_mcp.stores import CredentialKind, RateLimitState
from xapi_mcp.tools.streams import FILTERED_STREAM
from xapi_mcp.tools.tooldef import StreamCaps, ToolDef

MAX_LINE_BYTES = 1_000_000  # one message; X's largest (a post with every expansion) is far smaller
PROGRESS_EVERY = 1.0  # seconds between progress notifications
CLOSE_WAIT = 1.0  # the most closing the connection may take
_INCLUDE_IDS = ("id", "media_key")
RECONNECT_ADVICE = (
    "X's advice: reconnect after a pause (back off exponentially from 5 s after HTTP errors, from 1 minute "
    "after 429); backfill_minutes (up to 5) recovers what was missed while disconnected, where the plan allows it."
)


@dataclass
class Collected:
    """What arrived so far: the items (with their matching rules), includes merged, and why it stopped."""

    caps: StreamCaps
    data: list[Any] = field(default_factory=list)
    includes: dict[str, list[Any]] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)  # (includes key, id): each included once
    lines: int = 0  # messages read (items, and error events); keep-alives are not counted
    keep_alives: int = 0
    started: float = field(default_factory=time.monotonic)
    reported: float = -1.0  # the last progress sent (percent towards the first cap)
    reason: str = "max_seconds"
    detail: str = ""

    def body(self) -> dict[str, Any]:
        """X's shape with every item in `data`: what the result shows and what the cost is counted from."""
        body: dict[str, Any] = {"data": self.data}
        if self.includes:
            body["includes"] = self.includes
        return body

    def arrived(self) -> dict[str, Any] | None:
        """What X delivered (and billed) so far, or None before the first item."""
        return self.body() if self.data else None

    def add(self, message: dict[str, Any]) -> None:
        item = message["data"]
        rules = message.get("matching_rules")
        self.data.append({**item, "matching_rules": rules} if isinstance(item, dict) and rules else item)
        includes = message.get("includes")
        for key, items in includes.items() if isinstance(includes, dict) else ():
            for entry in items if isinstance(items, list) else ():
                ident = next((str(entry[k]) for k in _INCLUDE_IDS if isinstance(entry, dict) and k in entry), None)
                if ident is not None and (key, ident) in self.seen:
                    continue
                if ident is not None:
                    self.seen.add((key, ident))
                self.includes.setdefault(key, []).append(entry)

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def stopped(self) -> dict[str, Any]:
        return {"reason": self.reason, "items": len(self.data), "seconds": self.seconds(), "detail": self.detail}


async def collect(
    client: httpx.AsyncClient,
    built: httpx.Request,
    auth: httpx.Auth | None,
    tool: ToolDef,
    request: PreparedRequest,
    kind: CredentialKind,
    collected: Collected,
    *,
    progress: Progress | None = None,
    limits: RateLimitState | None = None,
    max_bytes: int = 100_000,
) -> ToolOutcome:
    """Open the stream, collect into `collected` within its caps, close it; X's refusal as the usual error."""
    caps = collected.caps
    built.extensions["timeout"] = {**built.extensions.get("timeout", {}), "read": None}  # the caps bound it
    refused: ToolOutcome | None = None
    with anyio.move_on_after(caps.max_seconds):
        try:
            response = await client.send(built, auth=auth or httpx.USE_CLIENT_DEFAULT, stream=True)
        except httpx.HTTPError as exc:
            return ToolOutcome(
                f"{tool.name}: X could not be reached to open the stream ({type(exc).__name__}); nothing arrived. "
                "Check the network and X_API_BASE_URL, then call again.",
                True,
            )
        try:
            if limits is not None:
                await limits.update(f"{request.method} {tool.plan.path}", response.headers)
            if response.status_code >= 400:
                await response.aread()
                refused = await _refusal(tool, request, kind, response, limits)
            else:
                async with anyio.create_task_group() as group:
                    if progress is not None:
                        group.start_soon(_report, progress, collected)
                    await _read(response, collected)
                    group.cancel_scope.cancel()
        except httpx.HTTPError as exc:
            collected.reason = "error"
            collected.detail = f"The connection to X broke after {len(collected.data)} items ({type(exc).__name__})."
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_WAIT):
                await response.aclose()
    if refused is not None:
        return refused
    if collected.reason == "max_seconds" and not collected.detail:
        collected.detail = f"Time cap reached ({caps.max_seconds:g} s)."
    if progress is not None:
        await _progress(progress, collected, 100.0)
    body = {**collected.body(), "stopped": collected.stopped()}
    text, cut = fit(body, max_bytes)
    failed = collected.reason == "error" and not collected.data  # nothing arrived: nothing to charge
    return ToolOutcome(text, failed, note=cut, body=None if failed else collected.body())


async def _read(response: httpx.Response, collected: Collected) -> None:
    """Messages from the NDJSON body until a cap, an error event or X's end; one line buffered at most."""
    buffer = b""
    async for chunk in response.aiter_raw():
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if _take(line.strip(), collected):
                return
        if len(buffer) > MAX_LINE_BYTES:
            collected.reason = "error"
            collected.detail = f"X sent a message over {MAX_LINE_BYTES:,} bytes without a line break; stopped reading."
            return
    if buffer.strip() and _take(buffer.strip(), collected):
        return
    collected.reason = "x_closed"
    collected.detail = f"X closed the stream after {collected.seconds():g} s. {RECONNECT_ADVICE}"


def _take(line: bytes, collected: Collected) -> bool:
    """Handle one line; True when collecting must stop."""
    if not line:
        collected.keep_alives += 1
        return False
    collected.lines += 1
    try:
        message = json.loads(line)
    except ValueError:
        collected.reason = "error"
        collected.detail = f"X sent a line that is not JSON: {snippet(line.decode(errors='replace'), 200)}"
        return True
    if isinstance(message, dict) and "data" in message:
        collected.add(message)
        if len(collected.data) >= collected.caps.max_items:
            collected.reason, collected.detail = "max_items", f"Item cap reached ({collected.caps.max_items})."
            return True
        return False
    if isinstance(message, dict) and isinstance(message.get("errors"), list):
        collected.reason = "error"
        collected.detail = f"X sent an error event: {_x_words(message['errors'])} {RECONNECT_ADVICE}"
        return True
    return False  # a message with neither (X may add kinds): skipped


def _x_words(errors: list[Any]) -> str:
    words = []
    for error in errors[:3]:
        if isinstance(error, dict):
            parts = (error.get("title"), error.get("disconnect_type"), error.get("detail") or error.get("message"))
            words.append(": ".join(str(p).rstrip(".") for p in dict.fromkeys(parts) if p) + ".")
    return " ".join(words) or "(no details)."


async def _refusal(
    tool: ToolDef,
    request: PreparedRequest,
    kind: CredentialKind,
    response: httpx.Response,
    limits: RateLimitState | None,
) -> ToolOutcome:
    """X refused to open the stream: the usual error outcome, and for 429 which limit it was."""
    body = parse_json(response)
    status = response.status_code
    outcome = http_error(tool, request.method, request.path, kind, response, body)
    if status != 429 or billing_stop(status, body) is not None:
        return outcome
    if _too_many_connections(body):
        which = (
            "another client of this app holds the filtered stream open (X allows one connection per app)"
            if tool.plan.path == FILTERED_STREAM
            else "this app already has the most connections to this stream that X allows"
        )
        return ToolOutcome(
            f"{tool.name}: X refused to open the stream (HTTP 429): {which}. Close the other connection (or wait "
            f"for its collection to end), then call again. {outcome.text.split(' ', 1)[1]}",
            True,
            status=status,
            body=body,
        )
    reset = _reset(response)
    if limits is not None:
        await limits.mark_exhausted(f"{request.method} {tool.plan.path}", reset)
    return rate_limited(tool, reset, locally=False)


def _too_many_connections(body: Any) -> bool:
    """X's 429 for a connection over the app's limit: `connection_issue: TooManyConnections`, or its problem type."""
    if not isinstance(body, dict):
        return False
    problem = f"{body.get('connection_issue', '')} {body.get('type', '')} {body.get('title', '')}"
    return any(word in problem for word in ("TooManyConnections", "streaming-connection", "ConnectionException"))


def _reset(response: httpx.Response) -> float:
    try:
        return float(response.headers["x-rate-limit-reset"])
    except (KeyError, ValueError):
        return time.time() + 60.0


async def _report(progress: Progress, collected: Collected) -> None:
    """Every PROGRESS_EVERY seconds: how far towards the first cap (always rising), items and seconds left."""
    while True:
        await _progress(progress, collected, _percent(collected))
        await anyio.sleep(PROGRESS_EVERY)


async def _progress(progress: Progress, collected: Collected, percent: float) -> None:
    """One notification, only when it says more than the last (MCP: progress must increase)."""
    if percent > collected.reported:
        collected.reported = percent
        await progress(percent, 100.0, _progress_line(collected))


def _percent(collected: Collected) -> float:
    caps = collected.caps
    done = max(len(collected.data) / caps.max_items, (time.monotonic() - collected.started) / caps.max_seconds)
    return round(min(done, 1.0) * 100, 1)


def _progress_line(collected: Collected) -> str:
    left = max(0.0, collected.caps.max_seconds - (time.monotonic() - collected.started))
    return f"{len(collected.data)} of {collected.caps.max_items} items, {left:.0f} s left"
