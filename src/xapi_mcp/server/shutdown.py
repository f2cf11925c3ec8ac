"""Clean shutdown: calls already sent to X finish and their answers reach the client before exit.

A POST that reached X must not be lost on the way back: the agent would not know a post went out.
HTTP: on SIGTERM/SIGINT stop accepting connections, wait (up to the grace period) for the /mcp
requests being answered, then end the SSE streams that only wait for news, then exit 0.
stdio: at end of input, keep the server's input open until every request read so far is answered
(up to the grace period), then close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from collections.abc import Awaitable, Callable, Iterator

import anyio
import uvicorn
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, JSONRPCRequest, JSONRPCResponse
from sse_starlette.sse import AppStatus
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)


class InFlight:
    """Counts the requests being answered by the wrapped app (GET streams, which only wait, excepted).

    `on_give_up` runs when shutdown stops waiting for them (server/direct.py ends the calls it answers).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.count = app, 0
        self.on_give_up: list[Callable[[], None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "GET":
            await self.app(scope, receive, send)
            return
        self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.count -= 1

    async def settled(self, grace: float) -> bool:
        """Wait until nothing is in flight, at most `grace` seconds; True when nothing is."""
        with anyio.move_on_after(grace):
            while self.count:
                await anyio.sleep(0.05)
        return not self.count


class GracefulServer(uvicorn.Server):
    """uvicorn, draining /mcp calls before it lets the SSE streams go, and exiting 0 on SIGTERM."""

    def __init__(
        self, config: uvicorn.Config, *, in_flight: InFlight, grace: float, on_started: Callable[[], None] | None = None
    ) -> None:
        # uvicorn cancels what is still running this long after the signal (the streams we end at
        # `grace` need a moment to close).
        config.timeout_graceful_shutdown = math.ceil(grace) + 2
        super().__init__(config)
        self.in_flight, self.grace, self.on_started = in_flight, grace, on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Says it is serving once it really is (bound, lifespan started)."""
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        # sse_starlette ends every SSE response the moment uvicorn sees the signal, answers to calls
        # in flight included; we end them ourselves once those calls are answered.
        AppStatus.disable_automatic_graceful_drain()
        await super().serve(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()  # shut down as asked: exit 0 instead of re-raising the signal

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        release = asyncio.create_task(self._release_streams())
        try:
            await super().shutdown(sockets)  # stops accepting, then waits for the connections
        finally:
            release.cancel()

    async def _release_streams(self) -> None:
        if self.in_flight.count:
            log.info("Shutting down: waiting up to %g s for %d request(s) in flight", self.grace, self.in_flight.count)
        if not await self.in_flight.settled(self.grace):
            log.warning(
                "Shutting down with %d request(s) still in flight after MCP_SHUTDOWN_GRACE=%g s",
                self.in_flight.count,
                self.grace,
            )
            for give_up in self.in_flight.on_give_up:
                give_up()
        AppStatus.should_exit = True  # now the SSE streams end (sse_starlette polls this every 0.5 s)


async def answer_before_eof(
    run: Callable[[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]], Awaitable[None]],
    read: ReadStream[SessionMessage | Exception],
    write: WriteStream[SessionMessage],
    grace: float,
) -> None:
    """Run a server on `read`/`write`; at end of input, close its input only once it has answered.

    The SDK answers requests still running at end of input with "Connection closed" and cancels
    them; a request already sent to X would then be lost, so the server sees end of input only
    once every request it read has its response written (or `grace` seconds have passed).
    """
    inner_send, inner_read = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    inner_write, outer_read = anyio.create_memory_object_stream[SessionMessage](0)
    waiting: set[str | int] = set()

    async def pump_in() -> None:
        async with inner_send:
            async for item in read:
                if isinstance(item, SessionMessage) and isinstance(item.message, JSONRPCRequest):
                    waiting.add(item.message.id)
                await inner_send.send(item)
            if waiting:
                log.info("End of input: waiting up to %g s for %d request(s) in flight", grace, len(waiting))
            with anyio.move_on_after(grace):
                while waiting:
                    await anyio.sleep(0.05)

    async def pump_out() -> None:
        async with outer_read, write:
            async for item in outer_read:
                await write.send(item)
                if isinstance(item.message, JSONRPCResponse | JSONRPCError) and item.message.id is not None:
                    waiting.discard(item.message.id)

    async with anyio.create_task_group() as outputs:
        outputs.start_soon(pump_out)  # ends once the server closes its side and all is written
        async with anyio.create_task_group() as inputs:
            inputs.start_soon(pump_in)
            async with inner_write:
                await run(inner_read, inner_write)
            inputs.cancel_scope.cancel()  # the server stopped on its own: stop reading for it
