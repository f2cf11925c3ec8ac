"""The OAuth pages: X's redirects to our callbacks, and /oauth/start and /oauth/status for people.

/oauth/start starts a flow only from the one-time links the consent flow hands out (CSRF).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from xapi_mcp.auth.consent import Consent
from xapi_mcp.errors import ConsentError
from xapi_mcp.server.guards import foreign
from xapi_mcp.stores import CredentialKind


def _page(title: str, message: str, status: int) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>xapi-mcp</title></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;line-height:1.5'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def oauth_routes(
    consent: Consent, *, host: str, oauth1_path: str, oauth2_path: str, control: bool = True
) -> list[Route]:
    """X's redirects land here; `/oauth/start` and `/oauth/status` are for people."""

    def callback(kind: CredentialKind) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            result = await consent.complete(kind, dict(request.query_params))
            if result.ok:
                return _page("Authorised", result.message, 200)
            return _page("Authorisation not completed", result.message, 400)

        return endpoint

    async def start(request: Request) -> Response:
        if (refused := foreign(request, host)) is not None:
            return refused
        kind = (
            CredentialKind.OAUTH2_USER if request.query_params.get("kind") == "oauth2" else (CredentialKind.OAUTH1_USER)
        )
        if not consent.redeem(kind, request.query_params.get("nonce", "")):
            # A plain link or a page on another site must not start a flow (CSRF): only our links do.
            return _page(
                "This link cannot start an authorisation",
                "xapi-mcp starts an authorisation only from the one-time link it gives out (in the result of "
                "the tool call that needs it, and in its log). This link has no such code, a wrong one, or one "
                "already used or expired, so it may come from another web site. To authorise: call the tool "
                "again from your MCP client and open the new link, or run `xapi-mcp auth` in a terminal.",
                403,
            )
        try:
            url = await consent.begin(kind)
        except ConsentError as exc:
            return _page("Cannot start the authorisation", str(exc), 400)
        return RedirectResponse(url, status_code=302)

    async def status(request: Request) -> Response:
        if (refused := foreign(request, host)) is not None:
            return refused
        return JSONResponse(consent.status())

    routes = [
        Route(oauth1_path, callback(CredentialKind.OAUTH1_USER), methods=["GET"]),
        Route(oauth2_path, callback(CredentialKind.OAUTH2_USER), methods=["GET"]),
    ]
    if control:
        routes += [
            Route("/oauth/start", start, methods=["GET"]),
            Route("/oauth/status", status, methods=["GET"]),
        ]
    return routes
