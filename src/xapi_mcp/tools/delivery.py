"""How X delivers what an operation produces: in its response, as a stream, or to a webhook.

Only streams stay out of the tool catalog: an agent cannot hold a connection open through a
request/response tool. Everything else is a plain call, including the operations that *manage*
streams and webhooks (stream rules, webhook configs, subscriptions, replay jobs), whose paths
happen to contain /stream or /webhooks. Operations that make X deliver to a webhook get a note:
delivery needs a public HTTPS URL that answers X's CRC check, which a local server usually lacks.
"""

from __future__ import annotations

from typing import Any

from xapi_mcp.tools.schema import RefResolver

# Media types of a response that is a stream of messages rather than one document.
STREAM_TYPES = frozenset(
    {
        "text/event-stream",
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/json-seq",
        "application/stream+json",
    }
)

WEBHOOK_NOTE = (
    " X sends events to the webhook's public HTTPS URL, which must answer X's CRC check (xapi-mcp's HTTP server "
    "does at X_WEBHOOK_PATH)."
)
WEBHOOK_URL_NOTE = "Public HTTPS URL that X can reach, answering its CRC check (xapi-mcp: X_WEBHOOK_PATH)."


def is_streaming(operation: dict[str, Any], resolver: RefResolver) -> bool:
    """True when the spec says the answer is a stream: `x-twitter-streaming: true` (how X marks its
    15 streams; their content type says plain JSON), or a success response whose every media type is
    a stream type (other specs). The path says nothing: /2/tweets/search/stream/rules is a plain call."""
    if operation.get("x-twitter-streaming") is True:
        return True
    for status, response in (operation.get("responses") or {}).items():
        if not str(status).startswith("2"):
            continue
        content = (resolver.deref(response) or {}).get("content") or {}
        if content and all(kind.split(";")[0].strip().lower() in STREAM_TYPES for kind in content):
            return True
    return False


def delivers_to_webhook(method: str, path: str, args: list[str]) -> bool:
    """A call that registers, checks or feeds a webhook (X then sends to its URL): POST or PUT with a
    webhook in its path or arguments. Reading and deleting configs needs no reachable URL."""
    return method in ("post", "put") and ("webhook" in path.lower() or any("webhook" in a.lower() for a in args))
