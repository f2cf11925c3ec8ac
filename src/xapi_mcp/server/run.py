"""Running the server: bind the port, serve HTTP until a signal (draining calls), serve stdio,
and the small listener for OAuth callbacks on their own port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from xapi_mcp.errors import ConsentError
from xapi_mcp.server.shutdown import GracefulServer, InFlight, answer_before_eof

log = logging.getLogger(__name__)

# How long an idle client connection stays open. It must outlast the clients' own idle limit: the
# `mcp` client's httpx pool keeps a connection 5 s, uvicorn's default is also 5 s, and a call sent
# as the server closes that connection fails with ReadError (an agent pausing ~5 s between bursts
# of calls hit it in 4 of 10 tries). 75 s is nginx's default.
KEEP_ALIVE_SECONDS = 75


class _SignalFreeServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever owns the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_sockets(host: str, port: int) -> list[socket.socket]:
    """Bind host:port before serving, so that a port in use is an error before "Serving", not after.

    Every address the name resolves to, with the options asyncio's create_server uses for uvicorn.
    Raises OSError (socket.gaierror for an unknown name).
    """
    bound: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound


def run_http(
    app: ASGIApp, sockets: list[socket.socket], on_started: Callable[[], None], *, in_flight: InFlight, grace: float
) -> None:
    """Serve `app` on sockets from bind_sockets until SIGINT/SIGTERM, draining calls in flight first."""
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_keep_alive=KEEP_ALIVE_SECONDS)
    server = GracefulServer(config, in_flight=in_flight, grace=grace, on_started=on_started)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    if not server.started:
        raise SystemExit(3)  # uvicorn's startup failure code; its log says why


class CallbackListener:
    """Serves only the OAuth callbacks, on their own host:port, while a consent flow is pending."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.app: Starlette | None = None
        self._server: _SignalFreeServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        assert self.app is not None, "set CallbackListener.app before starting it"
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off")
        self._server = _SignalFreeServer(config)
        self._task = asyncio.create_task(self._run(self._server))
        while not self._server.started:
            if self._task.done():
                raise ConsentError(
                    f"Cannot listen on {self.host}:{self.port} for X's OAuth callback (is the port in use?). "
                    "Set X_OAUTH_CALLBACK_PORT to a free port and register the new callback URL in your X app."
                )
            await asyncio.sleep(0.01)
        log.info("Listening for the OAuth callback on http://%s:%d", self.host, self.port)

    @staticmethod
    async def _run(server: _SignalFreeServer) -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits on bind errors; start() reports it
            await server.serve()

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


async def serve_stdio(server: Any, shutdown: Callable[[], Awaitable[None]], grace: float) -> None:
    """The MCP server over stdin/stdout until the client closes it; `shutdown` runs either way."""
    from mcp.server.stdio import stdio_server

    async def run(read_stream: Any, write_stream: Any) -> None:
        await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        async with stdio_server() as (read_stream, write_stream):
            await answer_before_eof(run, read_stream, write_stream, grace)
    finally:
        await shutdown()
