"""Writes ask the person first (X_API_CONFIRM_WRITES, on by default), in both protocol eras."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

from tests.fake_x import FakeX, Fault
from tests.servers import run_xapi_mcp, serve_asgi, server_env

MODES = ["auto", "legacy"]  # 2026-07-28 (MRTR) and 2025-11-25 (pushed elicitation/create)


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url, X_API_CONFIRM_WRITES="1")) as url:
        yield fake, url


@pytest.fixture
def fake(stack: tuple[FakeX, str]) -> Iterator[FakeX]:
    with stack[0].fresh() as fake:
        yield fake


def call(
    url: str, mode: str, answer: str | None, name: str, args: dict[str, Any], content: dict[str, Any] | None = None
) -> tuple[Any, list[str]]:
    """Call a tool as a client whose person answers `answer` (None: a client that cannot ask)."""
    asked: list[str] = []
    if content is None and answer == "accept":
        content = {"confirm": True}

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action=answer, content=content)

    async def run() -> Any:
        callback = elicit if answer is not None else None
        async with Client(url, mode=mode, elicitation_callback=callback) as client:
            return await client.call_tool(name, args)

    return anyio.run(run), asked


@pytest.mark.parametrize("mode", MODES)
def test_accepted_write_is_sent_once(stack, fake: FakeX, mode: str) -> None:
    result, asked = call(stack[1], mode, "accept", "createPosts", {"text": "hello, with consent"})
    assert not result.is_error, result.content[0].text
    assert asked == [
        "Create or Edit Post as the authorised X account: «hello, with consent». Price: $0.015 (Content: Create)"
    ]
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
def test_accepted_form_with_the_box_unchecked_sends_nothing(stack, fake: FakeX, mode: str) -> None:
    """Accepting the form with its "Send it?" box unticked is a no, not a yes."""
    args = {"id": "1445880548472328192"}
    result, asked = call(stack[1], mode, "accept", "deletePosts", args, content={"confirm": False})
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
        assert declined.is_error and asked == [
            "Create or Edit Post as the authorised X account: «via discovery». Price: $0.015 (Content: Create)"
        ]
        assert fake.requests == []
        accepted, _ = call(url, "auto", "accept", "call_x_api", args)
        assert not accepted.is_error and [r.body for r in fake.requests] == [{"text": "via discovery"}]


BEARER_ONLY = {
    "X_OAUTH_CONSUMER_KEY": "",
    "X_OAUTH_CONSUMER_SECRET": "",
    "X_OAUTH_ACCESS_TOKEN": "",
    "X_OAUTH_ACCESS_TOKEN_SECRET": "",
}
UPLOAD = {"data": "aGVsbG8=", "media_type": "image/png"}


@pytest.mark.parametrize("profile", ["full", "discovery"])
def test_missing_credentials_are_reported_before_anyone_is_asked(fake_x: tuple[FakeX, str], profile: str) -> None:
    """With only the app's bearer token, a write fails on credentials: say so instead of asking first."""
    fake, x_url = fake_x
    env = server_env(x_url, X_API_CONFIRM_WRITES="1", X_API_TOOL_PROFILE=profile, **BEARER_ONLY)
    with run_xapi_mcp(env) as url:
        for mode in MODES:
            for name, args in (("createPosts", {"text": "needs a user"}), ("uploadMedia", UPLOAD)):
                if profile == "discovery":
                    name, args = "call_x_api", {"name": name, "arguments": args}
                result, asked = call(url, mode, "accept", name, args)
                text = result.content[0].text
                assert result.is_error and "OAuth 1.0a" in text and "X_OAUTH_CONSUMER_KEY" in text, text
                assert asked == [], (mode, name)
        assert fake.requests == []


def test_consent_url_comes_before_any_question(fake_x: tuple[FakeX, str]) -> None:
    """App keys but no user yet: the answer is the consent URL, and nobody is asked to approve a post."""
    fake, x_url = fake_x
    no_user = {"X_OAUTH_ACCESS_TOKEN": "", "X_OAUTH_ACCESS_TOKEN_SECRET": "", "X_BEARER_TOKEN": ""}
    with run_xapi_mcp(server_env(x_url, X_API_CONFIRM_WRITES="1", X_OAUTH_OPEN_BROWSER="0", **no_user)) as url:
        for mode in MODES:
            result, asked = call(url, mode, "accept", "createPosts", {"text": "before consent"})
            text = result.content[0].text
            assert result.is_error and "Open this URL" in text and "/oauth/start?kind=oauth1&nonce=" in text, text
            assert asked == [], mode
    assert fake.count("/2/tweets") == 0 and fake.request_tokens  # the consent started; nothing was posted


def test_exhausted_rate_limit_is_reported_before_anyone_is_asked(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    fake.fail("/2/tweets", Fault(429, b'{"title":"Too Many Requests"}', headers={"x-rate-limit-reset": "4102444800"}))
    with run_xapi_mcp(server_env(x_url, X_API_CONFIRM_WRITES="1")) as url:
        result, asked = call(url, "auto", "accept", "createPosts", {"text": "first"})
        assert result.is_error and len(asked) == 1 and fake.count("/2/tweets") == 1  # X answered 429
        for mode in MODES:
            result, asked = call(url, mode, "accept", "createPosts", {"text": "again"})
            assert result.is_error and "rate limit" in result.content[0].text.lower() and asked == [], mode
        assert fake.count("/2/tweets") == 1


@pytest.mark.parametrize("mode", MODES)
def test_unreadable_upload_file_is_reported_before_anyone_is_asked(stack, fake: FakeX, mode: str) -> None:
    result, asked = call(stack[1], mode, "accept", "uploadMedia", {"path": "/etc/passwd"})
    assert result.is_error and "X_MEDIA_DIR" in result.content[0].text and asked == []
    assert fake.requests == []


def test_the_question_shows_the_whole_post_and_every_argument(catalog: Any) -> None:
    """A person approves what is sent: a long post is shown whole, other arguments too; media blobs by size."""
    from xapi_mcp.calls.confirm import describe_action

    text = "word " * 150  # 750 characters: premium accounts post far more than 280
    question = describe_action(catalog.tools["createPosts"], {"text": text, "reply_settings": "following"}, "me")
    assert f"«{text}»" in question and '"reply_settings": "following"' in question
    blob = "A" * 50_000
    shown = describe_action(catalog.tools["createPosts"], {"media": {"media_ids": ["1"]}, "data": blob}, None)
    assert "<50,000 characters>" in shown and blob not in shown and '"media_ids": ["1"]' in shown
