"""The HTTP side: Streamable HTTP MCP at /mcp, /healthz, served by uvicorn.

DNS-rebinding protection is always on: a web page in the user's browser must not be able to
drive an X account through a server on 127.0.0.1 (bad Host -> 421, bad Origin -> 403).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

log = logging.getLogger(__name__)

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


def build_app(
    server: Server[Any],
    *,
    host: str,
    health: Callable[[], dict[str, Any]],
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    json_response: bool = False,
) -> Starlette:
    manager = StreamableHTTPSessionManager(
        app=server,
        json_response=json_response,
        security_settings=security_settings(host),
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", **health()})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            try:
                yield
            finally:
                if on_shutdown is not None:
                    await on_shutdown()

    return Starlette(
        routes=[
            Route("/mcp", endpoint=StreamableHTTPASGIApp(manager), methods=["GET", "POST", "DELETE"]),
            Route("/healthz", endpoint=healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
