"""Who may talk to the HTTP server: Host and Origin rules (DNS rebinding), and the bearer token.

DNS-rebinding protection is always on: a web page in the user's browser must not be able to
drive an X account through a server on 127.0.0.1 (bad Host -> 421, bad Origin -> 403). With
MCP_AUTH_TOKEN, every /mcp request needs it.
"""

from __future__ import annotations

import hmac
import ipaddress

from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def security_settings(host: str) -> TransportSecuritySettings:
    """Hosts/origins a local client legitimately uses, plus the bound host when it is not loopback."""
    names = list(LOOPBACK_NAMES)
    if not is_loopback(host) and host not in ("0.0.0.0", "::"):
        names.append(f"[{host}]" if ":" in host else host)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*names, *(f"{n}:*" for n in names)],
        allowed_origins=[*(f"http://{n}" for n in names), *(f"http://{n}:*" for n in names)],
    )


def host_allowed(request: Request, bound_host: str) -> bool:
    """The Host check of the MCP endpoint, for our own routes (DNS rebinding)."""
    settings = security_settings(bound_host)
    host = request.headers.get("host", "")
    return host in settings.allowed_hosts or any(
        pattern.endswith(":*") and host.startswith(pattern[:-1]) for pattern in settings.allowed_hosts
    )


def foreign(request: Request, host: str) -> Response | None:
    """The refusal for a request from another site (Host -> 421, Origin -> 403), as on /mcp; else None."""
    if not host_allowed(request, host):
        return Response("Invalid Host header", status_code=421)
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(origin, host):
        return Response("Invalid Origin header", status_code=403)
    return None


class RequireBearer:
    """`Authorization: Bearer <MCP_AUTH_TOKEN>` on every request to the wrapped app (401 otherwise).

    With a token, a browser page cannot drive the server (it cannot know the token), so on a
    non-loopback bind the Host check gives way to it; a foreign Origin is still refused (403).
    """

    def __init__(self, app: ASGIApp, token: str, host: str) -> None:
        self.app, self.expected, self.host = app, f"Bearer {token}".encode(), host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = Response(
                    "Missing or wrong bearer token: send Authorization: Bearer <MCP_AUTH_TOKEN>.",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="xapi-mcp"'},
                )
                await response(scope, receive, send)
                return
            origin = headers.get(b"origin", b"").decode("latin-1")
            if origin and not origin_allowed(origin, self.host):
                await Response("Invalid Origin header", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def origin_allowed(origin: str, host: str) -> bool:
    allowed = security_settings(host).allowed_origins
    return origin in allowed or any(p.endswith(":*") and origin.startswith(p[:-1]) for p in allowed)
