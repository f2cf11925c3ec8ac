"""createThread, and createPosts with media_paths: posts and their media in one call and one question.

Through the MCP server (a subprocess asking before writes, cost counted, X_MEDIA_DIR set) on both
protocol versions; in process where X must not answer in time.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import mcp_types as types
import pytest

from tests import fake_x as fx
from tests.asking import call_asking
from tests.conftest import load_document
from tests.fake_x import FakeX, Fault
from tests.prism import request_violations, shared_prism
from tests.servers import run_xapi_mcp, serve_asgi, server_env
from xapi_mcp.calls.executor import Executor, ToolOutcome
from xapi_mcp.calls.ledger import MemoryLedger
from xapi_mcp.calls.prices import shipped_prices
from xapi_mcp.calls.spending import Spending
from xapi_mcp.stores import MemoryTokenStore
from xapi_mcp.tools.catalog import build_catalog

POSTS = "/2/tweets"
UPLOAD = ("initialize", "append", "finalize")
MODES = ["auto", "legacy"]  # 2026-07-28 (MRTR) and 2025-11-25 (pushed elicitation/create)


def png() -> bytes:
    """A real 2x2 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def posted(post_id: str) -> Fault:
    """X's answer to a post: its new ID (the fake's own answer always carries the same one)."""
    return Fault(status=201, body=json.dumps({"data": {"id": post_id, "text": "..."}}).encode())


def call(
    url: str, name: str, args: dict[str, Any], *, mode: str = "auto", answer: str | None = "accept"
) -> tuple[types.CallToolResult, list[str]]:
    return call_asking(url, name, args, mode=mode, answer=answer)


def texts(result: types.CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, types.TextContent)]


def steps(fake: FakeX) -> list[str]:
    """What reached X, in order: upload steps by name, posts by their text."""
    shown = []
    for r in fake.requests:
        if r.path == POSTS:
            shown.append(f"post {r.body.get('text', '')!r}")
        else:
            shown.append(next(step for step in UPLOAD if step in r.path))
    return shown


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    (folder / "red.png").write_bytes(png())
    return folder


@pytest.fixture(scope="module")
def stack(media_dir: Path) -> Iterator[tuple[FakeX, str]]:
    """A server that asks before every write and counts cost (daily budget $5)."""
    fake = FakeX()
    env = {"X_API_CONFIRM_WRITES": "1", "X_MEDIA_DIR": str(media_dir), "X_API_BUDGET_USD": "5"}
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url, **env)) as url:
        yield fake, url


@pytest.fixture
def fake(stack: tuple[FakeX, str]) -> Iterator[FakeX]:
    with stack[0].fresh() as fake:
        yield fake


THREAD = {
    "posts": [
        {"text": "1/ A thread about cats."},
        {"text": "2/ They sleep a lot, see example.com/cats", "media_paths": ["red.png"]},
        {"text": "3/ That is all."},
    ]
}


# --- createThread ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_thread_is_posted_in_order_after_one_question(stack, fake: FakeX, mode: str) -> None:
    fake.fail(POSTS, posted("101"), posted("102"), posted("103"))
    result, asked = call(stack[1], "createThread", THREAD, mode=mode)
    assert not result.is_error, texts(result)
    assert asked == [
        "Post a thread of 3 posts as the authorised X account:\n"
        "1. «1/ A thread about cats.»\n"
        '2. «2/ They sleep a lot, see example.com/cats» with {"media_paths": ["red.png"]}\n'
        "3. «3/ That is all.». "
        "Price: $0.245 (2 posts at $0.015 (Content: Create); post 2 of 3 at $0.200: its text has a URL "
        "(example.com/cats); 1 media file uploaded in 3 requests at $0.005 (Content: Manage))"
    ]
    # The image goes first, then the posts in order, each replying to the one before.
    assert steps(fake) == ["initialize", "append", "finalize", *(f"post {p['text']!r}" for p in THREAD["posts"])]
    bodies = [r.body for r in fake.requests if r.path == POSTS]
    media_id = list(fake.uploads)[-1]  # (the module's fake keeps every upload)
    assert fake.assembled(media_id) == png()
    assert bodies[0] == {"text": "1/ A thread about cats."}
    assert bodies[1] == {
        "text": "2/ They sleep a lot, see example.com/cats",
        "media": {"media_ids": [media_id]},
        "reply": {"in_reply_to_tweet_id": "101"},
    }
    assert bodies[2] == {"text": "3/ That is all.", "reply": {"in_reply_to_tweet_id": "102"}}
    answer = json.loads(texts(result)[0])
    assert answer == {
        "posted": [
            {"post": 1, "id": "101"},
            {"post": 2, "id": "102", "media_ids": [media_id]},
            {"post": 3, "id": "103"},
        ]
    }
    assert result.meta is not None and result.meta["xapi-mcp/cost"]["charged_usd"] == pytest.approx(0.245)


@pytest.mark.parametrize("mode", MODES)
def test_declined_thread_sends_nothing(stack, fake: FakeX, mode: str) -> None:
    result, asked = call(stack[1], "createThread", THREAD, mode=mode, answer="decline")
    assert result.is_error and "declined" in texts(result)[0] and len(asked) == 1
    assert fake.requests == []


def test_thread_stops_at_a_failed_post_and_says_what_was_posted(stack, fake: FakeX) -> None:
    refused = Fault(status=403, body=b'{"title":"Forbidden","detail":"You are not allowed to reply to this post."}')
    fake.fail(POSTS, posted("101"), refused)
    args = {"posts": [{"text": "one"}, {"text": "two"}, {"text": "three"}]}
    result, asked = call(stack[1], "createThread", args)
    text = texts(result)[0]
    assert result.is_error and len(asked) == 1
    assert text.startswith("createThread stopped at post 2 of 3. Posted, in order: post 1 = 101. ")
    assert "post 2 was not posted; post 3 was not sent." in text
    assert 'To finish the thread, call createThread again with posts 2-3 and reply_to="101".' in text
    assert "You are not allowed to reply to this post." in text  # X's own words
    assert json.loads(texts(result)[1]) == {
        "posted": [{"post": 1, "id": "101"}],
        "failed": 2,
        "not_sent": [3],
        "uncertain": False,
    }
    assert steps(fake) == ["post 'one'", "post 'two'"]  # post 2 once (no retry), post 3 never


def test_a_stopped_thread_names_the_media_already_uploaded_for_the_posts_not_posted(stack, fake: FakeX) -> None:
    fake.fail(POSTS, posted("101"), Fault(status=500, body=b'{"title":"Internal Server Error"}'))
    args = {"posts": [{"text": "one"}, {"text": "two", "media_paths": ["red.png"]}]}
    result, _ = call(stack[1], "createThread", args)
    media_id = list(fake.uploads)[-1]
    assert result.is_error and 'call createThread again with post 2 and reply_to="101".' in texts(result)[0]
    assert (
        f"Their media are uploaded (post 2: {media_id}; usable for 24 h): give media_ids instead of media_paths."
        in texts(result)[0]
    )
    assert fake.count(POSTS) == 2


def test_a_thread_that_would_not_fit_the_budget_is_not_started_even_unasked(fake_x: tuple[FakeX, str]) -> None:
    """With confirmation off nobody is asked, so the thread itself checks that all of it fits today's budget."""
    fake, url = fake_x
    document = load_document("2.159")
    spending = Spending(document, shipped_prices(), MemoryLedger(Decimal("0.04")))
    store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    tools = build_catalog(document, workflows=True).tools
    executor = Executor(url, store, tools=tools, spending=spending)

    async def run() -> ToolOutcome:
        try:
            return await executor.call(
                tools["createThread"], {"posts": [{"text": "one"}, {"text": "two"}, {"text": "three"}]}
            )
        finally:
            await executor.aclose()

    outcome = anyio.run(run)
    assert outcome.is_error and "could cost up to $0.045" in outcome.text and "$0.040 daily budget" in outcome.text
    assert fake.requests == []


@pytest.mark.parametrize(
    ("posts", "expected"),
    [
        (
            [{"text": "fine"}, {"text": "$AAPL and $TSLA"}],
            "createThread: post 2 of 2: Not sent: the post has 2 cashtags ($AAPL, $TSLA)",
        ),
        (
            [{"text": "a"}, {"text": "b", "media_paths": ["/etc/passwd"]}],
            "post 2 of 2: '/etc/passwd' is outside X_MEDIA_DIR",
        ),
        (
            [{"text": "a"}, {"text": "b", "media_paths": ["missing.png"]}],
            "'missing.png' is not a file inside X_MEDIA_DIR",
        ),
        ([{"text": "a"}, {}], "post 2 of 2 has no text and no media"),
        (
            [{"text": "a", "media_paths": ["red.png"], "media_ids": ["1", "2", "3", "4"]}],
            "5 media, but X attaches at most 4",
        ),
        ([{"text": "a", "media_ids": ["not an id"]}], "media_ids"),
        ([], "'posts'"),
        ([{"txt": "typo"}], "'txt'"),
    ],
)
def test_bad_threads_are_refused_before_anything_is_sent(stack, fake: FakeX, posts: list[Any], expected: str) -> None:
    result, asked = call(stack[1], "createThread", {"posts": posts})
    assert result.is_error and expected in texts(result)[0], texts(result)
    assert asked == [] and fake.requests == []


def test_a_post_that_may_have_reached_x_is_never_sent_again(fake_x: tuple[FakeX, str]) -> None:
    """X does not answer post 2 in time: it may exist, so it is not retried and post 3 is not sent."""
    fake, url = fake_x
    fake.fail(POSTS, posted("101"), Fault(status=201, body=b'{"data":{"id":"102"}}', delay=3))
    document = load_document("2.159")
    spending = Spending(document, shipped_prices(), MemoryLedger(Decimal(5)))
    store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    tools = build_catalog(document, workflows=True).tools
    executor = Executor(url, store, tools=tools, spending=spending, timeout=0.5, retry_base_delay=0.01)  # retries on

    async def run() -> ToolOutcome:
        try:
            return await executor.call(
                tools["createThread"], {"posts": [{"text": "one"}, {"text": "two"}, {"text": "three"}]}
            )
        finally:
            await executor.aclose()

    outcome = anyio.run(run)
    assert outcome.is_error and outcome.uncertain
    assert "post 2 may have reached X (no answer came back): check the account before sending it again" in outcome.text
    assert "Posted, in order: post 1 = 101" in outcome.text and "post 3 was not sent" in outcome.text
    assert "To finish" not in outcome.text  # no advice to send post 2 again
    assert fake.count(POSTS) == 2
    # A write that may have been billed is counted at its price.
    assert outcome.cost is not None and outcome.cost[0]["charged_usd"] == pytest.approx(0.03)


def test_thread_dry_run_shows_every_post_and_sends_nothing(fake_x: tuple[FakeX, str], media_dir: Path) -> None:
    fake, url = fake_x
    store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
    tools = build_catalog(load_document("2.159"), workflows=True).tools
    executor = Executor(url, store, tools=tools, media_dir=media_dir, dry_run=True)

    async def run() -> ToolOutcome:
        try:
            return await executor.call(tools["createThread"], THREAD)
        finally:
            await executor.aclose()

    outcome = anyio.run(run)
    shown = json.loads(outcome.text)
    assert [request["body"] for request in shown] == [
        {"text": "1/ A thread about cats."},
        {"text": THREAD["posts"][1]["text"], "media": {"media_ids": ["0"]}, "reply": {"in_reply_to_tweet_id": "0"}},
        {"text": "3/ That is all.", "reply": {"in_reply_to_tweet_id": "0"}},
    ]
    assert "upload 1 file(s) first" in outcome.note and fake.requests == []


# --- createPosts with media_paths -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_post_with_media_uploads_then_posts_after_one_question(stack, fake: FakeX, mode: str) -> None:
    args = {"text": "look at this", "media_paths": ["red.png"]}
    result, asked = call(stack[1], "createPosts", args, mode=mode)
    assert not result.is_error, texts(result)
    assert asked == [
        'Create or Edit Post as the authorised X account: «look at this» with {"media_paths": ["red.png"]}. '
        "Price: $0.030 (1 post at $0.015 (Content: Create); 1 media file uploaded in 3 requests at $0.005 "
        "(Content: Manage))"
    ]
    assert steps(fake) == ["initialize", "append", "finalize", "post 'look at this'"]
    media_id = list(fake.uploads)[-1]
    assert fake.requests[-1].body == {"text": "look at this", "media": {"media_ids": [media_id]}}
    assert fake.assembled(media_id) == png()
    assert json.loads(texts(result)[0])["data"]["id"] == "1445880548472328192"  # X's answer, as createPosts gives it
    assert f"Uploaded red.png as media {media_id}." in texts(result)[1]


def test_post_with_media_keeps_media_ids_given_and_other_arguments(stack, fake: FakeX) -> None:
    args = {
        "text": "two",
        "media": {"media_ids": ["1880000000000000001"]},
        "reply_settings": "following",
        "media_paths": ["red.png"],
    }
    result, _ = call(stack[1], "createPosts", args)
    assert not result.is_error, texts(result)
    media_id = list(fake.uploads)[-1]
    assert fake.requests[-1].body == {
        "text": "two",
        "media": {"media_ids": ["1880000000000000001", media_id]},
        "reply_settings": "following",
    }


def test_post_without_media_paths_is_the_operation_as_before(stack, fake: FakeX) -> None:
    result, asked = call(stack[1], "createPosts", {"text": "plain"})
    assert not result.is_error
    assert asked == ["Create or Edit Post as the authorised X account: «plain». Price: $0.015 (Content: Create)"]
    assert [(r.path, r.body) for r in fake.requests] == [(POSTS, {"text": "plain"})]


def test_a_failed_upload_posts_nothing(stack, fake: FakeX) -> None:
    fake.fail("/2/media/upload/initialize", Fault(status=400, body=b'{"title":"Invalid Request","detail":"bad media"}'))
    result, _ = call(stack[1], "createPosts", {"text": "with media", "media_paths": ["red.png"]})
    text = texts(result)[0]
    assert result.is_error and text.startswith("createPosts: uploading red.png failed, so nothing was posted.")
    assert "bad media" in text and fake.count(POSTS) == 0


def test_a_failed_post_names_the_uploaded_media_to_reuse(stack, fake: FakeX) -> None:
    fake.fail(POSTS, Fault(status=403, body=b'{"title":"Forbidden","detail":"duplicate content"}'))
    result, _ = call(stack[1], "createPosts", {"text": "with media", "media_paths": ["red.png"]})
    text = texts(result)[0]
    media_id = list(fake.uploads)[-1]
    assert result.is_error and "duplicate content" in text
    assert f'pass media={{"media_ids": ["{media_id}"]}} (createPosts)' in text and "instead of media_paths" in text
    assert fake.count(POSTS) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"text": "x", "media_paths": ["../escape.png"]}, "is outside X_MEDIA_DIR"),
        ({"text": "x", "media_paths": []}, "'media_paths'"),
        ({"text": "$AAPL $TSLA", "media_paths": ["red.png"]}, "cashtags"),
        (
            {"text": "x", "media_paths": ["red.png"], "poll": {"options": ["a"], "duration_minutes": 5}},
            "'poll.options'",
        ),
    ],
)
def test_bad_posts_with_media_are_refused_before_anything_is_sent(
    stack, fake: FakeX, args: dict[str, Any], expected: str
) -> None:
    result, asked = call(stack[1], "createPosts", args)
    assert result.is_error and expected in texts(result)[0], texts(result)
    assert asked == [] and fake.requests == []


def test_a_thread_over_the_budget_is_refused_before_anyone_is_asked(media_dir: Path) -> None:
    """The whole thread must fit today's budget before the first post: it never stops half-way for it."""
    fake = FakeX()
    env = {"X_API_CONFIRM_WRITES": "1", "X_MEDIA_DIR": str(media_dir), "X_API_BUDGET_USD": "0.04"}
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url, **env)) as url:
        three = {"posts": [{"text": "one"}, {"text": "two"}, {"text": "three"}]}  # $0.045
        for mode in MODES:
            result, asked = call(url, "createThread", three, mode=mode)
            text = texts(result)[0]
            assert result.is_error and "could cost up to $0.045" in text and "$0.040 daily budget" in text
            assert asked == [] and fake.requests == []
        result, asked = call(url, "createThread", {"posts": three["posts"][:2]})  # $0.030: fits
        assert not result.is_error and len(asked) == 1 and fake.count(POSTS) == 2


@pytest.mark.conformance
@pytest.mark.timeout(600)
def test_prism_accepts_what_the_workflow_tools_send() -> None:
    """Prism, fed X's spec, judges each request: a thread's posts (replies, media IDs) and a collection's pages.

    (The uploads media_paths adds are uploadMedia's own requests; Prism cannot judge its multipart APPEND,
    whose segment_index the spec types as oneOf integer or digits, which a form field matches both of.)
    """
    seen: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        seen.append(response)

    with shared_prism("2.159") as base:
        store = MemoryTokenStore(
            fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET, fx.BEARER_TOKEN
        )
        tools = build_catalog(load_document("2.159"), workflows=True).tools
        client = httpx.AsyncClient(event_hooks={"response": [record]}, timeout=30)
        executor = Executor(base, store, client=client, tools=tools)
        thread = {
            "posts": [{"text": "a", "media_ids": ["1146654567674912769"]}, {"text": "b"}],
            "reply_to": "1346889436626259968",
        }
        pages = {
            "tool": "searchPostsRecent",
            "arguments": {"query": "x", "tweet_fields": ["author_id"]},
            "max_items": 30,
        }

        async def run() -> list[ToolOutcome]:
            try:
                return [
                    await executor.call(tools["createThread"], thread),
                    await executor.call(tools["collect_x_api"], pages),
                ]
            finally:
                await executor.aclose()

        posted, collected = anyio.run(run)
    assert not posted.is_error and not collected.is_error, (posted.text, collected.text)
    sent = [(r.request.method, r.request.url.path) for r in seen]
    assert (
        sent == [("POST", "/2/tweets")] * 2 + [("GET", "/2/tweets/search/recent")] * 2
    )  # Prism's example token repeats
    assert [(r.status_code, request_violations(r)) for r in seen] == [(201, []), (201, []), (200, []), (200, [])]
    assert (
        json.loads(seen[1].request.content)["reply"]["in_reply_to_tweet_id"]
        == json.loads(posted.text)["posted"][0]["id"]
    )
