"""X_API_DRY_RUN: the exact request that would be sent, credentials redacted, and nothing sent."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from tests import fake_x as fx
from tests.conftest import catalog_for
from tests.fake_x import FakeX
from xapi_mcp.calls.executor import Executor, ToolOutcome
from xapi_mcp.stores import MemoryTokenStore

CALLS = [
    ("createPosts", {"text": "dry 🎉", "poll": {"options": ["a", "b"], "duration_minutes": 10}}),
    ("getUsersByUsername", {"username": "jack", "user_fields": ["id", "created_at"]}),
    ("getPostsCountsRecent", {"query": "from:XDevelopers", "granularity": "day"}),
    ("deletePosts", {"id": "1445880548472328192"}),
]


def run(url: str, dry_run: bool) -> list[ToolOutcome]:
    tools = catalog_for("2.159").tools
    store = MemoryTokenStore(
        fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET, fx.BEARER_TOKEN
    )

    async def go() -> list[ToolOutcome]:
        executor = Executor(url, store, dry_run=dry_run)
        try:
            return [await executor.call(tools[name], args) for name, args in CALLS]
        finally:
            await executor.aclose()

    return anyio.run(go)


@pytest.mark.parametrize("index", range(len(CALLS)))
def test_dry_run_shows_exactly_what_is_sent(fake_x: tuple[FakeX, str], index: int) -> None:
    fake, url = fake_x
    shown: dict[str, Any] = json.loads(run(url, dry_run=True)[index].text)
    assert fake.requests == [], "a dry run sends nothing"
    run(url, dry_run=False)
    sent = fake.requests[index]
    parts = urlsplit(shown["url"])
    assert (shown["method"], parts.path, parts.query) == (sent.method, sent.path, sent.raw_query)
    assert shown["body"] == sent.body
    for name, value in shown["headers"].items():
        if name != "authorization":
            assert sent.headers[name] == value, name
    expected_kind = {"oauth1": "OAuth 1.0a user context", "bearer": "app bearer token"}[sent.auth_kind]
    assert shown["headers"]["authorization"] == f"<{expected_kind}, redacted>"
    text = json.dumps(shown)
    for secret in (fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET, fx.CONSUMER_SECRET, fx.BEARER_TOKEN):
        assert secret not in text


def test_dry_run_of_the_upload_workflow_shows_its_first_request(fake_x: tuple[FakeX, str]) -> None:
    import base64

    from xapi_mcp.tools.workflows import upload_tool

    fake, url = fake_x
    tools = dict(catalog_for("2.159").tools)
    upload = upload_tool(tools)
    assert upload is not None

    async def go() -> ToolOutcome:
        executor = Executor(
            url, MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, "t", "s"), tools=tools, dry_run=True
        )
        try:
            data = base64.b64encode(b"\x89PNG" + b"0" * 60).decode()
            return await executor.call(upload, {"data": data, "media_type": "image/png"})
        finally:
            await executor.aclose()

    outcome = anyio.run(go)
    assert not outcome.is_error, outcome.text
    shown = json.loads(outcome.text)
    assert shown["url"].endswith("/2/media/upload/initialize")
    assert shown["body"] == {"media_type": "image/png", "total_bytes": 64, "media_category": "tweet_image"}
    assert "then 1 APPEND request(s)" in outcome.note and fake.requests == []
