"""Send prepared requests to the X API: credentials, retries, rate limits.

One pooled keep-alive client for the process. Every failure becomes a `ToolOutcome` with
`is_error=True` and a message a person (or a model) can act on; nothing raises into the MCP layer.

Retry policy: connection failures, timeouts and 502/503/504 are retried with jittered exponential
backoff, bounded in count and total time, for GET/PUT/DELETE only. A POST is retried only when the
connection never opened (the request cannot have reached X): a post must never be created twice.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import random
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx2 as httpx

from xapi_mcp import __version__
from xapi_mcp.auth.credentials import Signers
from xapi_mcp.calls import streams
from xapi_mcp.calls.arguments import PreparedRequest, prepare, validate_arguments
from xapi_mcp.calls.billing_errors import billing_stop
from xapi_mcp.calls.cost import Estimate, usd
from xapi_mcp.calls.media import read_media, resolve_media_path
from xapi_mcp.calls.results import (
    IDEMPOTENT,
    ToolOutcome,
    dumps,
    http_error,
    log_exchange,
    parse_json,
    rate_limited,
    success,
    transport_error,
)
from xapi_mcp.calls.runners import WORKFLOWS, workflow_of
from xapi_mcp.calls.spending import Spending, Tally
from xapi_mcp.calls.workflow import Progress, Workflow
from xapi_mcp.errors import ArgumentError, MediaError, MissingCredentials
from xapi_mcp.stores import CredentialKind, MemoryRateLimits, RateLimitState, TokenStore
from xapi_mcp.tools.tooldef import AuthRequirement, ToolDef
from xapi_mcp.tools.workflows import USAGE

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})
DEFAULT_RESET_WAIT = 60.0  # when a 429 carries no reset header

__all__ = ["WORKFLOWS", "Checked", "ConsentPrompt", "Executor", "ToolOutcome"]


@dataclasses.dataclass(frozen=True)
class Checked:
    """A call `preflight` found sendable: what `call` sends without checking again, and its price."""

    prepared: PreparedRequest | dict[str, Any]  # the request, or a workflow's validated arguments
    estimate: Estimate | None = None  # worst case; None when unknown or not counted
    must_fit: Estimate | None = None  # what today's budget must hold first, when less (a collection's first page)


class ConsentPrompt(Protocol):
    """What the executor may ask of the consent flow (auth/consent.py's `Consent`, wired in app.py)."""

    async def prompt(self, requirement: AuthRequirement) -> str | None:
        """Start consent for a user kind the operation accepts; the message saying where to go, or None."""
        ...

    def relink(self, kind: CredentialKind) -> str | None:
        """A one-time link to authorise `kind` again (after X refused its token), or None."""
        ...


class Executor:
    """Runs tool calls: validate -> choose credentials -> send (retrying what is safe) -> shape."""

    def __init__(
        self,
        base_url: str,
        store: TokenStore,
        *,
        timeout: float = 30.0,
        max_result_bytes: int = 100_000,
        client: httpx.AsyncClient | None = None,
        consent: ConsentPrompt | None = None,
        signers: Signers | None = None,
        limits: RateLimitState | None = None,
        rate_limit_wait: float = 0.0,
        max_retries: int = 2,
        retry_base_delay: float = 0.5,
        retry_budget: float = 20.0,
        media_dir: Path | None = None,
        tools: dict[str, ToolDef] | None = None,
        dry_run: bool = False,
        spending: Spending | None = None,
        allowed: Collection[str] | None = None,
        collect_max_items: int = 1000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.store = store
        self.consent = consent
        self.max_result_bytes = max_result_bytes
        self.rate_limit_wait = rate_limit_wait
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.retry_budget = retry_budget
        self.signers = signers or Signers(store)
        self.limits = limits or MemoryRateLimits()
        self.media_dir = media_dir
        self.tools = tools or {}  # the whole catalog: workflow tools call its operations
        self.dry_run = dry_run
        self.spending = spending  # None: nothing is estimated, budgeted or charged
        self.allowed = allowed  # the tools the server offers (None: all): collect_x_api pages only these
        self.collect_max_items = collect_max_items
        # Every connection may stay alive (idle ones expire after 5 s): with a smaller keep-alive pool,
        # more concurrent calls than its size closed and reopened connections to X on every burst.
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
            headers={"User-Agent": f"xapi-mcp/{__version__}"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        tool: ToolDef,
        arguments: dict[str, Any] | None,
        progress: Progress | None = None,
        checked: Checked | None = None,
    ) -> ToolOutcome:
        """Run one call; `checked` is what `preflight` returned for it, so nothing is validated twice.

        Every request the call sends is priced, held against the budget and charged (`Spending`); the
        result carries the call's total as its cost line.
        """
        tally = Tally()
        prepared = checked.prepared if checked is not None else None
        flow = None if isinstance(prepared, PreparedRequest) else workflow_of(tool, prepared or arguments)
        if flow is not None:
            try:
                args = prepared if isinstance(prepared, dict) else validate_arguments(tool, arguments)
            except ArgumentError as exc:
                return ToolOutcome(f"{tool.name}: {exc}", True)
            outcome = await WORKFLOWS[flow].run(self.workflow(tally), tool, args, progress)
        else:
            if isinstance(prepared, PreparedRequest):
                request = prepared
            else:
                try:
                    request = prepare(tool, arguments)
                except ArgumentError as exc:
                    return ToolOutcome(str(exc), True)
            outcome = await self.execute(tool, request, tally, progress)
        if self.spending is None or self.dry_run or tool.name == USAGE or not (tally.requests or tally.estimate):
            return outcome  # (the usage report states the spend itself)
        return dataclasses.replace(outcome, cost=await self.spending.summary(tally))

    def workflow(self, tally: Tally | None = None) -> Workflow:
        """What a workflow tool may use: the catalog's operations and a "send this request" callable."""
        tally = tally or Tally()
        return Workflow(
            functools.partial(self.execute, tally=tally),
            self.tools,
            self.media_dir,
            self.dry_run,
            spending=self.spending,
            tally=tally,
            estimate=self._estimate,
            allowed=self.allowed,
            max_result_bytes=self.max_result_bytes,
            collect_max_items=self.collect_max_items,
        )

    def _estimate(self, tool: ToolDef, request: PreparedRequest) -> Estimate | None:
        """A workflow's request priced as `Spending.send` will price it (with the credential it will be signed with)."""
        if self.spending is None:
            return None
        try:
            kind = tool.auth.choose(self.store)
        except MissingCredentials:
            kind = CredentialKind.NONE
        return self.spending.estimate(tool, request, kind)

    async def execute(
        self, tool: ToolDef, request: PreparedRequest, tally: Tally | None = None, progress: Progress | None = None
    ) -> ToolOutcome:
        """Credentials (or a consent prompt), local files, then send (priced and counted in `tally`)."""
        try:
            for prop, path in request.file_paths.items():
                request.files[prop] = read_media(path, self.media_dir, request.body)
            request.file_paths = {}
        except MediaError as exc:
            return ToolOutcome(f"{tool.name}: {exc} Nothing was sent to X.", True)
        kind = await self._credentials(tool)
        if isinstance(kind, ToolOutcome):
            return kind
        if self.dry_run:
            return self._dry_run(tool, request, kind)
        if request.stream is not None:  # a stream: collected within its caps, charged on what arrived
            collected = streams.Collected(request.stream)
            send = functools.partial(self.stream, collected=collected, progress=progress)
            if self.spending is None:
                return await send(tool, request, kind)
            return await self.spending.send(tool, request, kind, send, tally or Tally(), arrived=collected.arrived)
        if self.spending is None:
            return await self.send(tool, request, kind)
        return await self.spending.send(tool, request, kind, self.send, tally if tally is not None else Tally())

    async def stream(
        self,
        tool: ToolDef,
        request: PreparedRequest,
        kind: CredentialKind,
        *,
        collected: streams.Collected,
        progress: Progress | None = None,
    ) -> ToolOutcome:
        """Open one of X's streams, collect within `collected`'s caps, close it (calls/streams.py)."""
        reset = await self.limits.exhausted_until(f"{request.method} {tool.plan.path}")
        if reset is not None:
            return rate_limited(tool, reset, locally=True)
        built, auth = self._build(request), self.signers.signer(kind)
        return await streams.collect(
            self._client,
            built,
            auth,
            tool,
            request,
            kind,
            collected,
            progress=progress,
            limits=self.limits,
            max_bytes=self.max_result_bytes,
        )

    async def preflight(self, tool: ToolDef, arguments: dict[str, Any] | None) -> ToolOutcome | Checked:
        """Why this call cannot reach X, found without sending anything; else the checked call for `call`.

        Runs before a person is asked to approve a call: arguments, local files, credentials (or the
        consent to give first, with its URL), an endpoint X reported exhausted, X's posting rules and a
        pause after X's billing refusal would all refuse the call after a "yes", so nobody is asked about
        a call that cannot be made. What it returns (the prepared request, or a workflow's validated
        arguments, with the price) travels with the confirmation to `call`.
        """
        checked: PreparedRequest | dict[str, Any]
        steps, inner = WORKFLOWS.get(workflow_of(tool, arguments) or ""), None
        try:
            if steps is not None:
                checked = validate_arguments(tool, arguments)
                inner = steps.check(self.workflow(), checked)  # the operation a collection pages
            else:
                checked = prepare(tool, arguments)
                for path in checked.file_paths.values():
                    resolve_media_path(path, self.media_dir)
        except ArgumentError as exc:
            return ToolOutcome(str(exc), True)
        except MediaError as exc:
            return ToolOutcome(f"{tool.name}: {exc} Nothing was sent to X.", True)
        kind = await self._credentials(inner or tool)
        if isinstance(kind, ToolOutcome):
            return kind
        reset = await self.limits.exhausted_until(f"{(inner or tool).plan.method} {(inner or tool).plan.path}")
        if reset is not None:
            return rate_limited(inner or tool, reset, locally=True)
        if isinstance(checked, dict):  # a workflow: priced by its own hook, when it has one
            hook = steps.estimate if steps is not None and self.spending is not None else None
            return Checked(checked, *(hook(self.workflow(), tool, checked) or () if hook else ()))
        if self.spending is None:
            return Checked(checked)
        refused = self.spending.refusal(tool, checked)
        if refused is not None:
            return ToolOutcome(f"{tool.name}: {refused}", True)
        return Checked(checked, self.spending.estimate(tool, checked, kind))

    async def budget_refusal(self, tool: ToolDef, checked: Checked) -> ToolOutcome | None:
        """The budget's refusal of a checked call, said before a person is asked to approve it."""
        estimated = checked.must_fit or checked.estimate
        if self.spending is None or estimated is None:
            return None
        refused = await self.spending.budget_refusal(tool, estimated)
        return ToolOutcome(f"{tool.name}: {refused}", True) if refused else None

    def price(self, tool: ToolDef, checked: Checked) -> str | None:
        """The price a confirmation question states, when cost is counted."""
        if self.spending is None:
            return None
        return self.spending.price(tool, checked.estimate, workflow=isinstance(checked.prepared, dict))

    async def _credentials(self, tool: ToolDef) -> CredentialKind | ToolOutcome:
        """The kind to sign with, or the error naming what to configure (or the consent URL)."""
        try:
            return tool.auth.choose(self.store)
        except MissingCredentials as exc:
            # Lazy consent: the first call that needs a user starts the browser flow and says where to go.
            prompt = await self.consent.prompt(tool.auth) if self.consent is not None else None
            return ToolOutcome(f"{tool.name}: {prompt or exc}", True)

    async def send(self, tool: ToolDef, request: PreparedRequest, kind: CredentialKind) -> ToolOutcome:
        endpoint = f"{request.method} {tool.plan.path}"
        reset = await self.limits.exhausted_until(endpoint)
        if reset is not None:
            return rate_limited(tool, reset, locally=True)
        deadline = time.monotonic() + self.retry_budget
        attempt, waited = 0, False
        while True:
            try:
                response = await self._request(request, kind)
            except httpx.HTTPError as exc:
                if self._may_retry(request, exc, attempt, deadline):
                    await self._backoff(attempt, deadline, None)
                    attempt += 1
                    continue
                return transport_error(tool, request, exc, attempt, self.base_url)
            await self.limits.update(endpoint, response.headers)
            status = response.status_code
            if status == 429 and billing_stop(status, parse_json(response)) is None:  # not a usage cap
                reset = _reset_time(response)
                await self.limits.mark_exhausted(endpoint, reset)
                wait = reset - time.time()
                if not waited and wait <= self.rate_limit_wait:
                    waited = True
                    log.info("%s: rate limited; waiting %.1f s for the reset, then retrying once", tool.name, wait)
                    await anyio.sleep(max(wait, 0) + 0.5)
                    continue
                return rate_limited(tool, reset, locally=False)
            if status in RETRY_STATUSES and request.method in IDEMPOTENT and self._budget_left(attempt, deadline):
                await self._backoff(attempt, deadline, response.headers.get("retry-after"))
                attempt += 1
                continue
            body = parse_json(response)
            if status >= 400:
                outcome = http_error(tool, request.method, request.path, kind, response, body)
                link = self.consent.relink(kind) if status == 401 and self.consent is not None else None
                if link is not None:
                    outcome = dataclasses.replace(
                        outcome, text=f"{outcome.text} To authorise again, open (works once): {link}"
                    )
                return outcome
            return success(tool, response, body, self.max_result_bytes)

    def _build(self, request: PreparedRequest) -> httpx.Request:
        """The HTTP request, before signing: what is sent, and what a dry run shows."""
        body: dict[str, Any] = {}
        if request.multipart:
            body = {"data": {k: _form_value(v) for k, v in (request.body or {}).items()}, "files": request.files}
        elif request.has_body:
            body = {"json": request.body}
        url = self.base_url + request.path + (f"?{request.query_string()}" if request.query else "")
        return self._client.build_request(request.method, url, headers=request.headers or None, **body)

    def _dry_run(self, tool: ToolDef, request: PreparedRequest, kind: CredentialKind) -> ToolOutcome:
        built = self._build(request)
        headers = {k: v for k, v in built.headers.items() if k.lower() != "authorization"}
        if kind is not CredentialKind.NONE:
            headers["authorization"] = f"<{kind.value}, redacted>"
        body: Any = None
        if request.multipart:
            files = {name: f"{file[0]} ({len(file[1])} bytes)" for name, file in request.files.items()}
            body = {"multipart": {**{k: _form_value(v) for k, v in (request.body or {}).items()}, **files}}
        elif built.content:
            body = json.loads(built.content)
        shown = {"method": built.method, "url": str(built.url), "headers": headers, "body": body}
        price = ""
        if self.spending is not None:
            estimated = self.spending.estimate(tool, request, kind)
            price = f" Sent, it would cost {usd(estimated.usd)} at most ({estimated.why})."
        return ToolOutcome(dumps(shown), note=f"X_API_DRY_RUN=1: {tool.name} was not sent to X.{price}")

    async def _request(self, request: PreparedRequest, kind: CredentialKind) -> httpx.Response:
        started = time.perf_counter()
        response = await self._client.send(
            self._build(request), auth=self.signers.signer(kind) or httpx.USE_CLIENT_DEFAULT
        )
        if log.isEnabledFor(logging.DEBUG):  # X_API_DEBUG / -v; the log formatter redacts secrets
            log_exchange(log, request, response, kind, (time.perf_counter() - started) * 1000)
        return response

    def _budget_left(self, attempt: int, deadline: float) -> bool:
        return attempt < self.max_retries and time.monotonic() < deadline

    def _may_retry(self, request: PreparedRequest, exc: httpx.HTTPError, attempt: int, deadline: float) -> bool:
        if not self._budget_left(attempt, deadline):
            return False
        if isinstance(exc, httpx.ConnectError):
            return True  # the connection never opened: X cannot have seen the request
        return request.method in IDEMPOTENT and isinstance(exc, (httpx.TimeoutException, httpx.TransportError))

    async def _backoff(self, attempt: int, deadline: float, retry_after: str | None) -> None:
        delay = self.retry_base_delay * (2**attempt) * random.uniform(0.5, 1.5)
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        await anyio.sleep(max(0.0, min(delay, deadline - time.monotonic())))


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _reset_time(response: httpx.Response) -> float:
    try:
        return float(response.headers["x-rate-limit-reset"])
    except (KeyError, ValueError):
        return time.time() + DEFAULT_RESET_WAIT
