"""X's answers -> what the model reads.

Success: X's JSON, compact, cut to a size budget at a JSON-safe boundary (the text stays valid
JSON; a separate note says what was cut and how to ask for less), with `meta.next_token` surfaced
as a one-line hint. Failure: one paragraph with the status, X's own words, the parameter at fault,
what to do, and the `x-transaction-id` X support asks for.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx

from xapi_mcp.calls.arguments import PreparedRequest
from xapi_mcp.logs import redact
from xapi_mcp.stores import CredentialKind
from xapi_mcp.tools.tooldef import ToolDef

NOT_JSON: Any = object()
_MAX_SHRINK_STEPS = 80


@dataclass(frozen=True)
class ToolOutcome:
    text: str
    is_error: bool = False
    note: str = ""  # shown as a second text block: hints and cut notices, never inside the JSON
    status: int | None = None  # X's HTTP status when X answered with an error (for the log)
    body: Any = field(default=None, repr=False, compare=False)  # X's parsed JSON: what the cost is counted from
    uncertain: bool = False  # no answer, and the request may have reached X (a write may have been billed)
    cost: tuple[dict[str, Any], str] | None = None  # `_meta["xapi-mcp/cost"]` and the cost line (Spending.summary)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_json(response: httpx.Response) -> Any:
    content_type = response.headers.get("content-type", "")
    if not response.content or "json" not in content_type:
        return NOT_JSON
    try:
        return response.json()
    except ValueError:
        return NOT_JSON


def success(tool: ToolDef, response: httpx.Response, body: Any, max_bytes: int) -> ToolOutcome:
    if body is NOT_JSON:
        if not response.content:
            return ToolOutcome(dumps({"status": response.status_code}))
        kind = response.headers.get("content-type", "no content type")
        return ToolOutcome(
            f"{tool.name}: X answered HTTP {response.status_code} with a body that is not valid JSON (content "
            f"type {kind}), so it was not parsed. It begins: {snippet(response.text)}",
            True,
            status=response.status_code,
        )
    text, cut_note = fit(body, max_bytes)
    notes = [n for n in (cut_note, next_page_hint(tool, body)) if n]
    return ToolOutcome(text, note=" ".join(notes), body=body)


def next_page_hint(tool: ToolDef, body: Any) -> str:
    meta = body.get("meta") if isinstance(body, dict) else None
    token = meta.get("next_token") if isinstance(meta, dict) else None
    if not token:
        return ""
    names = tool.arg_names
    arg = next((a for a in ("pagination_token", "next_token") if a in names), None)
    if arg is None:
        return f"More results exist (meta.next_token={token})."
    return f'More results: call {tool.name} again with {arg}="{token}".'


def fit(body: Any, max_bytes: int) -> tuple[str, str]:
    """Compact JSON of `body` within `max_bytes`, cutting the largest lists/strings first."""
    text = dumps(body)
    size = len(text.encode())
    if size <= max_bytes:
        return text, ""
    body = json.loads(text)  # a private copy to cut
    total = len(body["data"]) if isinstance(body, dict) and isinstance(body.get("data"), list) else None
    current = size
    for _ in range(_MAX_SHRINK_STEPS):
        if not _shrink_largest(body, max_bytes / current):
            break
        text = dumps(body)
        current = len(text.encode())
        if current <= max_bytes:
            break
    kept = ""
    if total is not None and isinstance(body.get("data"), list):
        kept = f" Kept {len(body['data'])} of {total} items of data."
    note = (
        f"[xapi-mcp cut this result from {size:,} to {len(text.encode()):,} bytes (X_API_MAX_RESULT_BYTES="
        f"{max_bytes:,}).{kept} Ask for less: a smaller max_results, fewer *_fields or expansions, or page "
        "with pagination_token.]"
    )
    return text, note


def _shrink_largest(node: Any, ratio: float) -> bool:
    """Shorten the largest list or string in `node` by about `ratio` (the budget over the current size).

    Items are alike in X's answers, so one proportional cut usually lands just under the budget;
    each step removes at least one element, so the loop ends. False when nothing is left to cut.
    """
    best: tuple[int, Any, Any] | None = None  # (size, container, key)

    def visit(value: Any) -> None:
        nonlocal best
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in items:
            if isinstance(child, (list, str)) and len(child) > 1:
                size = len(dumps(child))
                if best is None or size > best[0]:
                    best = (size, value, key)
            if isinstance(child, (dict, list)):
                visit(child)

    visit(node)
    if best is None:
        return False
    _, container, key = best
    child = container[key]
    keep = min(len(child) - 1, max(1, int(len(child) * ratio * 0.97)))
    container[key] = child[:keep] if isinstance(child, list) else redact(child)[:keep] + "…"
    return True


_MARGIN = 500  # how far past the limit the rough first cut goes
# Characters a credential can be spelled with (plain, percent-, JSON- or +-encoded): a cut made where the
# next character is one of these may have split a secret.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=%\\")


def snippet(text: str, limit: int = 300) -> str:
    """The start of `text` on one line, redacted before the cut (a cut secret would escape redaction).

    Megabytes are not redacted whole: the text is cut roughly first, backed off to a character no
    credential contains, so that cut cannot leave a fragment of a secret for redaction to miss.
    """
    flat = " ".join(text.split())
    head = flat[: limit + _MARGIN]
    if len(flat) > len(head):
        end = len(head)
        while end > 0 and head[end - 1] in _TOKEN_CHARS:
            end -= 1
        head = head[:end]
    shown = redact(head)
    return shown if len(shown) <= limit and len(head) == len(flat) else shown[:limit] + "…"


def rate_limited(tool: ToolDef, reset: float, *, locally: bool) -> ToolOutcome:
    where = "X's last answer said" if locally else "X answered HTTP 429 Too Many Requests:"
    return ToolOutcome(
        f"{tool.name}: rate limit reached ({where} no requests are left for this endpoint). It resets at "
        f"{describe_reset(reset)}. Call again after that, or set X_API_RATE_LIMIT_WAIT to let xapi-mcp wait "
        "for short resets." + (" Nothing was sent to X." if locally else ""),
        True,
        status=None if locally else 429,
    )


def http_error(
    tool: ToolDef, method: str, path: str, kind: CredentialKind, response: httpx.Response, body: Any
) -> ToolOutcome:
    status = response.status_code
    parts = [f"{tool.name}: X API returned HTTP {status} {response.reason_phrase} for {method} {path}."]
    details = _x_error_details(body)
    if details:
        parts.append(details)
    elif body is NOT_JSON and response.content:
        kind_of = response.headers.get("content-type", "no content type")
        parts.append(f"The body is not JSON ({kind_of}): {snippet(response.text)}")
    parts.append(_advice(tool, status, kind, body))
    transaction = response.headers.get("x-transaction-id")
    if transaction:
        parts.append(f"x-transaction-id: {transaction} (quote it to X support).")
    return ToolOutcome(" ".join(p for p in parts if p), True, status=status, body=body)


def _x_error_details(body: Any) -> str:
    """X's own words: problem+json title/detail, and each entry of `errors[]` with its parameter."""
    if not isinstance(body, dict):
        return ""
    lines = []
    title, detail = body.get("title"), body.get("detail")
    if title or detail:
        lines.append(": ".join(str(p) for p in (title, detail) if p).rstrip(".") + ".")
    for error in (body.get("errors") or [])[:5]:
        if not isinstance(error, dict):
            continue
        text = str(error.get("message") or error.get("detail") or error.get("title") or "").rstrip(".")
        if text and text + "." in lines:
            continue
        parameter = error.get("parameter") or ", ".join((error.get("parameters") or {}).keys())
        if parameter:
            text += f" (parameter: {parameter}" + (f", value: {error['value']!r}" if "value" in error else "") + ")"
        if text:
            lines.append(text + ".")
    return " ".join(lines)


def _advice(tool: ToolDef, status: int, kind: CredentialKind, body: Any) -> str:
    problem = str(body.get("type", "")) if isinstance(body, dict) else ""
    text = dumps(body).lower() if isinstance(body, (dict, list)) else ""
    accepted = " or ".join(k.value for k in tool.auth.accepted)
    if status == 401:
        return (
            f"X rejected the credentials (sent with {kind.value}; this operation accepts {accepted}). The token "
            "may be revoked or expired: check the keys in .env, or authorise again."
        )
    if status == 403:
        if "oauth1-permissions" in problem or "permission" in text:
            return (
                f"Sent with {kind.value}. Your X app lacks the permission for this (often write or DM access): in "
                "the developer portal set App permissions to 'Read and write' (and Direct messages), regenerate "
                "the access token or authorise again, then retry."
            )
        if "client-not-enrolled" in problem or "access level" in text or "plan" in text:
            return "Your X API plan (access level) does not include this endpoint; see developer.x.com > Products."
        return f"Sent with {kind.value}; this operation accepts {accepted}. The account may not be allowed to do this."
    if status == 404:
        return "Check the IDs in the arguments."
    if status >= 500:
        return "X had a server error; try again later."
    if status == 400:
        return "Fix the arguments named above and call again."
    return ""


def describe_reset(reset: float, now: float | None = None) -> str:
    """`2026-11-22 19:59:00 UTC (in 93 s)`: both the absolute time and how long to wait."""
    now = time.time() if now is None else now
    when = datetime.fromtimestamp(reset, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when} (in {max(0, round(reset - now))} s)"


IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})  # safe to send again


def transport_error(
    tool: ToolDef, request: PreparedRequest, exc: httpx.HTTPError, attempt: int, base_url: str
) -> ToolOutcome:
    """No answer from X: what happened, whether X may still have acted on it, and what to do."""
    tries = f" after {attempt + 1} attempts" if attempt else ""
    if isinstance(exc, httpx.TimeoutException):
        what = f"did not answer {request.method} {request.path} in time{tries}"
        fix = "Try again; if it keeps happening, raise X_API_TIMEOUT."
    else:
        what = f"could not be reached for {request.method} {request.path}{tries} ({type(exc).__name__})"
        fix = "Check the network and X_API_BASE_URL."
    reached = not isinstance(exc, httpx.ConnectError)  # X may have acted on (and billed) it
    unsure = ""
    if request.method not in IDEMPOTENT and reached:
        unsure = " The request may have reached X: check before repeating it (it was not retried)."
    return ToolOutcome(f"{tool.name}: the X API at {base_url} {what}.{unsure} {fix}", True, uncertain=reached)


def log_exchange(
    log: logging.Logger, request: PreparedRequest, response: httpx.Response, kind: CredentialKind, ms: float
) -> None:
    """One DEBUG line per request sent to X and its answer (the log formatter redacts secrets)."""
    log.debug(
        "request %s %s auth=%s headers=%s body=%s | response status=%s ms=%.1f rate_remaining=%s "
        "x-transaction-id=%s body=%s",
        request.method,
        response.request.url,
        kind.name,
        dict(response.request.headers),
        snippet(json.dumps(request.body), 300) if request.has_body and not request.multipart else "-",
        response.status_code,
        ms,
        response.headers.get("x-rate-limit-remaining", "-"),
        response.headers.get("x-transaction-id", "-"),
        snippet(response.text, 500) if response.content else "-",
    )
