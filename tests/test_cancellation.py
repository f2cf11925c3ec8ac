"""A client that gives up on a call while xapi-mcp's request to X is still in flight, over real HTTP.

What can be promised: a POST that reached X is never sent again (no retry after the cancel), the
server goes on answering, and in the handshake era (notifications/cancelled interrupts the call) a
GET's connection to X is closed instead of being left to run. In the 2026-07-28 era the client
cancels by closing its response stream; the call then runs to its end and its answer is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from tests.fake_x import FakeX, Fault
from tests.servers import LOG_DIR, run_xapi_mcp, serve_asgi, server_env

SLOW = 1.5  # seconds X takes to answer: the client cancels long before


class SlowRead:
    """GET /2/users/by/username/slow…: answers after SLOW seconds, and notes when the caller hangs up first."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def answer(self, request: Request) -> Response:
        self.events.append("request")
        for _ in range(int(SLOW * 50)):
            if await request.is_disconnected():
                self.events.append("closed")
                return Response(status_code=499)
            await asyncio.sleep(0.02)
        return JSONResponse({"data": {"id": "1", "username": request.path_params["name"]}})


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[FakeX, SlowRead, str]]:
    """One server for the module, in front of the fake X with a slow read beside it."""
    fake, slow = FakeX(), SlowRead()
    x = Starlette(routes=[Route("/2/users/by/username/slow{name}", slow.answer), Mount("/", fake.app())])
    log = LOG_DIR / "cancellation.log"
    with serve_asgi(x) as x_url, run_xapi_mcp(server_env(x_url), log_path=log) as url:
        yield fake, slow, url


@pytest.fixture
def fake(stack: tuple[FakeX, SlowRead, str]) -> Iterator[FakeX]:
    stack[1].events.clear()
    with stack[0].fresh() as fake:
        yield fake


async def cancel_once_sent(url: str, mode: str, name: str, args: dict[str, Any], sent: Any) -> None:
    """Call `name`, cancel the call as soon as `sent()` says X has the request, then check the server still
    answers (a read on the same session)."""
    async with Client(url, mode=mode) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, name, args)
            with anyio.fail_after(20):
                while not sent():
                    await anyio.sleep(0.02)
            group.cancel_scope.cancel()
        await anyio.sleep(SLOW + 0.5)  # past the moment X answers: a retry would have gone out by now
        after = await client.call_tool("getUsersByUsername", {"username": "jack"})
        assert not after.is_error, after.content[0].text


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_cancelled_post_is_sent_once_and_never_again(stack, fake: FakeX, mode: str) -> None:
    fake.fail("/2/tweets", Fault(201, b'{"data":{"id":"1","text":"slow"}}', delay=SLOW))
    log = LOG_DIR / "cancellation.log"
    start = log.stat().st_size
    sent = lambda: fake.count("/2/tweets") > 0  # noqa: E731
    anyio.run(cancel_once_sent, stack[2], mode, "createPosts", {"text": "slow"}, sent)
    assert [(r.method, r.path, r.body) for r in fake.requests if r.method == "POST"] == [
        ("POST", "/2/tweets", {"text": "slow"})
    ]
    with open(log, "rb") as file:
        file.seek(start)
        text = file.read().decode(errors="replace")
    assert "Traceback" not in text and "Unexpected error" not in text, text[-2000:]
    assert "Tool call failed: createPosts" not in text  # a cancelled call is not reported as X's failure
    if mode == "legacy":  # the cancel reaches the call (2026-07-28: the call finishes, its answer is dropped)
        assert "createPosts was cancelled by the client while it was being sent to X" in text, text[-2000:]


def test_a_cancelled_get_closes_its_connection_to_x(stack, fake: FakeX) -> None:
    """Handshake era: the cancel interrupts the call, and X sees the connection go."""
    slow = stack[1]
    sent = lambda: slow.events == ["request"]  # noqa: E731
    anyio.run(cancel_once_sent, stack[2], "legacy", "getUsersByUsername", {"username": "slowjack"}, sent)
    assert slow.events == ["request", "closed"]  # once, and closed by xapi-mcp well before X answered
