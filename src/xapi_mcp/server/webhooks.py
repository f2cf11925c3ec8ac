"""X's webhook URL on the HTTP app: the CRC answer, and events logged in one line (not handled).

X sends `GET <url>?crc_token=T` when a webhook is created, when `validateWebhooks` asks, and about
hourly; it expects `{"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, T))}`.
Events are POSTed to the same URL, signed the same way in `x-twitter-webhooks-signature`; they are
answered 200 and summarised in the log (sizes and top-level keys, never values). Delivery needs a
public HTTPS URL that X can reach (a reverse proxy or tunnel in front of this server); nothing here
makes a local server reachable.

Guards, chosen for how X calls: from its own servers, under the public name of the URL it was
given, with no Origin and without MCP_AUTH_TOKEN. So this route has no Host check (on a loopback
bind behind a proxy the Host is the public name) and no bearer token; a foreign Origin (a web page
in a browser) is refused with 403 as on every other route. Anyone who reaches the URL gets what X's
design gives anyone who reaches a webhook URL: the HMAC of a string they choose. It is not the
OAuth 1.0a signing key (HMAC-SHA1 keyed "consumer secret&token secret"), and a token that could be a
JSON document is refused, so the answer can never serve as the signature of a forged event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xapi_mcp.errors import ConfigError
from xapi_mcp.server.guards import origin_allowed

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
MAX_EVENT_BYTES = 4 * 1024 * 1024
MAX_TOKEN_CHARS = 512
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def signature(consumer_secret: str, message: bytes) -> str:
    """X's webhook signature, of a CRC token or an event body: "sha256=" + base64 of HMAC-SHA256 keyed
    with the app's consumer secret."""
    return "sha256=" + base64.b64encode(hmac.new(consumer_secret.encode(), message, hashlib.sha256).digest()).decode()


def webhook_routes(path: str, consumer_secret: str, *, host: str, taken: set[str]) -> list[Route]:
    """The webhook route at `path` (X_WEBHOOK_PATH); `taken` are the app's other paths."""
    if not path.startswith("/") or path in taken:
        raise ConfigError(
            f"X_WEBHOOK_PATH={path!r} cannot be the webhook URL's path: it must start with '/' and differ from "
            f"the server's other routes ({', '.join(sorted(taken))}). Use e.g. /webhooks/x."
        )

    async def endpoint(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and not origin_allowed(origin, host):
            return Response("Invalid Origin header", status_code=403)
        if request.method == "POST":
            return await _event(request, consumer_secret)
        return _crc(request.query_params.get("crc_token", ""), consumer_secret, path)

    log.info("Answering X's webhook CRC check at %s (X must reach it through a public HTTPS URL)", path)
    return [Route(path, endpoint=endpoint, methods=["GET", "POST"])]


def _crc(token: str, consumer_secret: str, path: str) -> Response:
    if not token:
        return _refuse(
            f"Missing crc_token: X checks a webhook with GET {path}?crc_token=<token> and expects the response_token "
            "computed from it. This URL answers only that check (and accepts X's event POSTs)."
        )
    if len(token) > MAX_TOKEN_CHARS or "{" in token:
        return _refuse(
            f"This crc_token is not one X sends (over {MAX_TOKEN_CHARS} characters, or shaped like a JSON document); "
            "it is not answered, since the answer would be a valid signature of it."
        )
    return JSONResponse({"response_token": signature(consumer_secret, token.encode())})


def _refuse(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400, headers={"Cache-Control": "no-store"})


async def _event(request: Request, consumer_secret: str) -> Response:
    """200 and one log line: size, whether X signed it, top-level keys (event kinds); never values."""
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_EVENT_BYTES:
                log.warning("Webhook POST refused: over %d bytes", MAX_EVENT_BYTES)
                return Response(f"Event body over {MAX_EVENT_BYTES} bytes", status_code=413)
            chunks.append(chunk)
    except ClientDisconnect:
        return Response(status_code=400)
    body = b"".join(chunks)
    given = request.headers.get(SIGNATURE_HEADER, "")
    valid = bool(given) and hmac.compare_digest(given.encode(), signature(consumer_secret, body).encode())
    if valid:
        signed = "signed by X"
    elif not given:
        signed = "signature missing"
    else:
        signed = "signature does not match (not from X, or signed with another app's secret)"
    log.log(
        logging.INFO if valid else logging.WARNING,
        "Webhook event received (%d bytes, %s): %s; not handled (xapi-mcp only answers X's CRC check)",
        size,
        signed,
        _summary(body),
    )
    return Response(status_code=200)


def _summary(body: bytes) -> str:
    """Top-level keys of a JSON object, with list lengths: `tweet_create_events x2, for_user_id`."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return "not JSON"
    if not isinstance(document, dict):
        return f"a JSON {type(document).__name__}, not an object"
    shown = [
        f"{key} x{len(value)}" if isinstance(value, list) else key for key, value in document.items() if _KEY.match(key)
    ][:20]
    others = len(document) - len(shown)
    return ", ".join(shown) + (f" (+{others} more keys)" if others else "") if document else "an empty object"
