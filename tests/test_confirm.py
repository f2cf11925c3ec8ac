"""Writes ask the person first (X_API_CONFIRM_WRITES, on by default), in both protocol eras."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

from tests.fake_x import FakeX
from tests.servers import run_xapi_mcp, serve_asgi, server_env

MODES = ["auto", "legacy"]  # 2026-07-28 (MRTR) and 2025-11-25 (pushed elicitation/create)


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url, X_API_CONFIRM_WRITES="1")) as url:
        yield fake, url


@pytest.fixture
def fake(stack: tuple[FakeX, str]) -> FakeX:
    stack[0].requests.clear()
    return stack[0]


def call(url: str, mode: str, answer: str | None, name: str, args: dict[str, Any]) -> tuple[Any, list[str]]:
    asked: list[str] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action=answer, content={"confirm": True} if answer == "accept" else None)

    async def run() -> Any:
        callback = elicit if answer is not None else None
        async with Client(url, mode=mode, elicitation_callback=callback) as client:
            return await client.call_tool(name, args)

    return anyio.run(run), asked


@pytest.mark.parametrize("mode", MODES)
def test_accepted_write_is_sent_once(stack, fake: FakeX, mode: str) -> None:
    result, asked = call(stack[1], mode, "accept", "createPosts", {"text": "hello, with consent"})
    assert not result.is_error, result.content[0].text
    assert asked == ["Create or Edit Post as the authorised X account: «hello, with consent»"]
    assert [(r.method, r.path, r.body) for r in fake.requests] == [
        ("POST", "/2/tweets", {"text": "hello, with consent"})
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", ["decline", "cancel"])
def test_declined_write_sends_nothing(stack, fake: FakeX, mode: str, answer: str) -> None:
    result, asked = call(stack[1], mode, answer, "deletePosts", {"id": "1445880548472328192"})
    assert len(asked) == 1 and "1445880548472328192" in asked[0]
    assert result.is_error and "declined" in result.content[0].text and "Nothing was sent" in result.content[0].text
    assert fake.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_client_without_elicitation_is_told_how_to_disable(stack, fake: FakeX, mode: str) -> None:
    result, _ = call(stack[1], mode, None, "likePost", {"id": "42", "tweet_id": "1445880548472328192"})
    text = result.content[0].text
    assert result.is_error and "does not support elicitation" in text and "X_API_CONFIRM_WRITES=0" in text
    assert fake.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_reads_and_invalid_writes_are_not_asked(stack, fake: FakeX, mode: str) -> None:
    result, asked = call(stack[1], mode, "accept", "getUsersByUsername", {"username": "jack"})
    assert not result.is_error and asked == [] and len(fake.requests) == 1
    result, asked = call(stack[1], mode, "accept", "createPosts", {"txt": "typo"})
    assert result.is_error and "did you mean 'text'" in result.content[0].text and asked == []


def test_call_x_api_asks_too(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    env = server_env(x_url, X_API_CONFIRM_WRITES="1", X_API_TOOL_PROFILE="discovery")
    with run_xapi_mcp(env) as url:
        args = {"name": "createPosts", "arguments": {"text": "via discovery"}}
        declined, asked = call(url, "auto", "decline", "call_x_api", args)
        assert declined.is_error and asked == ["Create or Edit Post as the authorised X account: «via discovery»"]
        assert fake.requests == []
        accepted, _ = call(url, "auto", "accept", "call_x_api", args)
        assert not accepted.is_error and [r.body for r in fake.requests] == [{"text": "via discovery"}]
