"""Send prepared requests to the X API and turn responses into tool results.

One pooled keep-alive client for the process. Every failure becomes a `ToolOutcome` with
`is_error=True` and a message a person (or a model) can act on; nothing raises into the MCP layer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx

from xapi_mcp import __version__
from xapi_mcp.arguments import ArgumentError, PreparedRequest, prepare
from xapi_mcp.auth.consent import Consent
from xapi_mcp.auth.credentials import CredentialKind, MissingCredentials, TokenStore
from xapi_mcp.catalog import ToolDef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolOutcome:
    text: str
    is_error: bool = False


class Executor:
    """Runs tool calls: validate -> choose credentials -> send -> shape the result."""

    def __init__(
        self,
        base_url: str,
        store: TokenStore,
        *,
        timeout: float = 30.0,
        max_result_bytes: int = 100_000,
        client: httpx.AsyncClient | None = None,
        consent: Consent | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.store = store
        self.consent = consent
        self.max_result_bytes = max_result_bytes
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"User-Agent": f"xapi-mcp/{__version__}"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, tool: ToolDef, arguments: dict[str, Any] | None) -> ToolOutcome:
        try:
            request = prepare(tool, arguments)
        except ArgumentError as exc:
            return ToolOutcome(str(exc), True)
        try:
            kind = tool.auth.choose(self.store)
        except MissingCredentials as exc:
            # Lazy consent: the first call that needs a user starts the browser flow and says where to go.
            prompt = await self.consent.prompt(tool.auth) if self.consent is not None else None
            return ToolOutcome(f"{tool.name}: {prompt or exc}", True)
        return await self.send(tool, request, kind)

    async def send(self, tool: ToolDef, request: PreparedRequest, kind: CredentialKind) -> ToolOutcome:
        response = await self._request(tool, request, kind)
        if (
            isinstance(response, httpx.Response)
            and response.status_code == 401
            and kind is CredentialKind.OAUTH2_USER
            and self.consent is not None
            and await self.consent.refresh_oauth2()
        ):
            response = await self._request(tool, request, kind)  # once, with the refreshed token
        if isinstance(response, ToolOutcome):
            return response
        return self._shape(tool, request, kind, response)

    async def _request(
        self, tool: ToolDef, request: PreparedRequest, kind: CredentialKind
    ) -> httpx.Response | ToolOutcome:
        url = self.base_url + request.path
        try:
            response = await self._client.request(
                request.method,
                url,
                params=tuple(request.query) if request.query else None,
                headers=request.headers or None,
                json=request.body if request.has_body else None,
                auth=self.store.signer(kind) or httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException:
            return ToolOutcome(
                f"{tool.name}: the X API did not answer {request.method} {request.path} in time. "
                "Try again; if it keeps happening, raise X_API_TIMEOUT.",
                True,
            )
        except httpx.HTTPError as exc:
            return ToolOutcome(
                f"{tool.name}: could not reach the X API at {self.base_url} ({type(exc).__name__}). "
                "Check the network and X_API_BASE_URL.",
                True,
            )
        log.debug("%s %s -> %s (%s)", request.method, request.path, response.status_code, kind.name)
        return response

    def _shape(
        self, tool: ToolDef, request: PreparedRequest, kind: CredentialKind, response: httpx.Response
    ) -> ToolOutcome:
        body = _parse_json(response)
        if response.status_code >= 400:
            return ToolOutcome(_error_message(tool, request, kind, response, body), True)
        if body is _NOT_JSON:
            if not response.content:
                return ToolOutcome(json.dumps({"status": response.status_code}))
            kind_of = response.headers.get("content-type", "unknown type")
            return ToolOutcome(
                f"{tool.name}: X answered HTTP {response.status_code} with a {kind_of} body, not JSON: "
                f"{_snippet(response.text)}",
                True,
            )
        return ToolOutcome(self._fit(json.dumps(body, separators=(",", ":"), ensure_ascii=False)))

    def _fit(self, text: str) -> str:
        """Cut results that would flood the model's context, saying how to ask for less."""
        size = len(text.encode())
        if size <= self.max_result_bytes:
            return text
        cut = text.encode()[: self.max_result_bytes].decode(errors="ignore")
        return (
            f"{cut}\n…[truncated: the result was {size} bytes, over X_API_MAX_RESULT_BYTES="
            f"{self.max_result_bytes}. Ask for less: a smaller max_results, fewer *_fields, or page with "
            "pagination_token.]"
        )


_NOT_JSON: Any = object()


def _parse_json(response: httpx.Response) -> Any:
    content_type = response.headers.get("content-type", "")
    if not response.content or "json" not in content_type:
        return _NOT_JSON
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _error_message(
    tool: ToolDef, request: PreparedRequest, kind: CredentialKind, response: httpx.Response, body: Any
) -> str:
    parts = [
        f"{tool.name}: X API returned HTTP {response.status_code} {response.reason_phrase} for "
        f"{request.method} {request.path} (sent with {kind.value})."
    ]
    if isinstance(body, dict):
        title, detail = body.get("title"), body.get("detail")
        if title or detail:
            parts.append(": ".join(str(p) for p in (title, detail) if p) + ".")
        for err in (body.get("errors") or [])[:5]:
            if isinstance(err, dict):
                parts.append(str(err.get("message") or err.get("detail") or err.get("title") or err))
    elif body is _NOT_JSON and response.content:
        parts.append(f"Body: {_snippet(response.text)}")
    if response.status_code in (401, 403):
        accepted = " or ".join(k.value for k in tool.auth.accepted)
        parts.append(f"This operation accepts {accepted}; check that the credentials are valid and allowed.")
    transaction = response.headers.get("x-transaction-id")
    if transaction:
        parts.append(f"x-transaction-id: {transaction}")
    return " ".join(parts)
