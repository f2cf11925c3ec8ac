"""X failing in each of its ways: what the model is told, and how many requests X saw."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from tests import fake_x as fx
from tests.conftest import catalog_for
from tests.fake_x import FakeX, Fault
from tests.servers import free_port, serve_asgi, serve_resetting
from xapi_mcp.calls.executor import Executor, ToolOutcome
from xapi_mcp.stores import MemoryTokenStore

USER = "/2/users/by/username/jack"
POSTS = "/2/tweets"


def store() -> MemoryTokenStore:
    return MemoryTokenStore(
        fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET, fx.BEARER_TOKEN
    )


@pytest.fixture
def fake() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_asgi(fake.app()) as url:
        yield fake, url


def run(base: str, calls: list[tuple[str, dict[str, Any]]], **options: Any) -> list[ToolOutcome]:
    tools = catalog_for("2.159").tools
    options.setdefault("retry_base_delay", 0.01)

    async def go() -> list[ToolOutcome]:
        executor = Executor(base, store(), **options)
        try:
            return [await executor.call(tools[name], args) for name, args in calls]
        finally:
            await executor.aclose()

    return anyio.run(go)


def get_user() -> tuple[str, dict[str, Any]]:
    return ("getUsersByUsername", {"username": "jack"})


def create_post() -> tuple[str, dict[str, Any]]:
    return ("createPosts", {"text": "only once"})


def limit_headers(remaining: int, reset_in: float, now: float | None = None) -> dict[str, str]:
    reset = str(int((time.time() if now is None else now) + reset_in))
    return {"x-rate-limit-limit": "15", "x-rate-limit-remaining": str(remaining), "x-rate-limit-reset": reset}


def test_429_reports_reset_then_answers_locally(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    import xapi_mcp.calls.results as results

    now = float(int(time.time()))  # the rate-limit clock, stopped: "in 100 s" however slow the machine is
    monkeypatch.setattr(results, "time", SimpleNamespace(time=lambda: now))
    x, url = fake
    x.fail(USER, Fault(429, b'{"title":"Too Many Requests"}', headers=limit_headers(0, 100, now)))
    first, second = run(url, [get_user(), get_user()])
    assert first.is_error and "rate limit reached" in first.text
    assert re.search(r"resets at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in 100 s\)", first.text), first.text
    assert second.is_error and "Nothing was sent to X." in second.text
    assert x.count(USER) == 1


def test_exhausted_window_from_a_200_is_respected(fake) -> None:
    x, url = fake
    body = json.dumps({"data": {"id": "1"}}).encode()
    x.fail(USER, Fault(200, body, headers=limit_headers(0, 100)))
    first, second = run(url, [get_user(), get_user()])
    assert not first.is_error and second.is_error and "Nothing was sent to X." in second.text
    assert x.count(USER) == 1


def record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The executor's waits, recorded instead of slept (an injected clock): no test waits in real time."""
    import xapi_mcp.calls.executor as executor_module

    slept: list[float] = []

    class Clock:
        def __getattr__(self, name: str) -> Any:
            return getattr(anyio, name)

        async def sleep(self, seconds: float) -> None:
            slept.append(seconds)
            await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(executor_module, "anyio", Clock())
    return slept


def test_429_with_short_reset_waits_and_retries_once(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    x, url = fake
    slept = record_sleeps(monkeypatch)
    x.fail(USER, Fault(429, b"{}", headers=limit_headers(0, 1)), Fault(429, b"{}", headers=limit_headers(0, 1)))
    (outcome,) = run(url, [get_user()], rate_limit_wait=5)
    assert len(slept) == 1 and 0.5 <= slept[0] <= 1.5  # it waited once, for the reset (1 s away) and 0.5 s more
    assert outcome.is_error and "HTTP 429" in outcome.text  # the second 429 is reported: one retry only
    assert x.count(USER) == 2
    x.fail(USER, Fault(429, b"{}", headers=limit_headers(0, -1)))  # a window whose reset has already passed
    (outcome,) = run(url, [get_user()], rate_limit_wait=5)
    assert not outcome.is_error and x.count(USER) == 4 and slept[1:] == [0.5]


def test_get_503_then_200_is_retried(fake) -> None:
    x, url = fake
    x.fail(USER, Fault(503))
    (outcome,) = run(url, [get_user()])
    assert not outcome.is_error and json.loads(outcome.text)["data"]["username"] == "jack"
    assert x.count(USER) == 2


def test_get_gives_up_after_bounded_retries(fake) -> None:
    x, url = fake
    x.fail(USER, Fault(502), Fault(503), Fault(504), Fault(503))
    (outcome,) = run(url, [get_user()], max_retries=2)
    assert outcome.is_error and "HTTP 504" in outcome.text and "server error" in outcome.text
    assert x.count(USER) == 3


def test_post_is_never_retried_after_503(fake) -> None:
    x, url = fake
    x.fail(POSTS, Fault(503))
    (outcome,) = run(url, [create_post()])
    assert outcome.is_error and "HTTP 503" in outcome.text
    assert x.count(POSTS) == 1


def test_get_timeout_is_retried_post_timeout_is_not(fake) -> None:
    x, url = fake
    x.fail(USER, Fault(200, b"{}", delay=1.0))
    (outcome,) = run(url, [get_user()], timeout=0.3)
    assert not outcome.is_error and x.count(USER) == 2
    x.fail(POSTS, Fault(201, b"{}", delay=1.0))
    (outcome,) = run(url, [create_post()], timeout=0.3)
    assert outcome.is_error and "did not answer POST /2/tweets in time" in outcome.text
    assert "may have reached X" in outcome.text
    assert x.count(POSTS) == 1


def test_reset_connections() -> None:
    with serve_resetting() as (url, accepted):
        (get,) = run(url, [get_user()], max_retries=2)
        assert get.is_error and "after 3 attempts" in get.text and len(accepted) == 3
        accepted.clear()
        (post,) = run(url, [create_post()])
        assert post.is_error and "may have reached X" in post.text and len(accepted) == 1


def test_connection_refused_post_is_safe_to_retry() -> None:
    (post,) = run(f"http://127.0.0.1:{free_port()}", [create_post()], max_retries=1)
    assert post.is_error and "could not be reached" in post.text and "after 2 attempts" in post.text
    assert "may have reached X" not in post.text


def test_malformed_json_and_html_error_pages(fake) -> None:
    x, url = fake
    x.fail(USER, Fault(200, b'{"data": {"id": ', content_type="application/json"))
    x.fail(POSTS, Fault(502, b"<html><body><h1>Bad Gateway</h1></body></html>", content_type="text/html"))
    broken, html = run(url, [get_user(), create_post()])
    assert broken.is_error and "not valid JSON" in broken.text and '{"data": {"id":' in broken.text
    assert (
        html.is_error and "HTTP 502" in html.text and "not JSON (text/html" in html.text and "Bad Gateway" in html.text
    )
    assert x.count(POSTS) == 1


def test_problem_json_403_explains_app_permissions(fake) -> None:
    x, url = fake
    problem = {
        "title": "Forbidden",
        "type": "https://api.twitter.com/2/problems/oauth1-permissions",
        "detail": "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint.",
        "status": 403,
    }
    x.fail(
        POSTS,
        Fault(403, json.dumps(problem).encode(), "application/problem+json", {"x-transaction-id": "abc123"}),
    )
    (outcome,) = run(url, [create_post()])
    text = outcome.text
    assert outcome.is_error and "HTTP 403 Forbidden for POST /2/tweets" in text
    assert "appropriate oauth1 app permissions" in text and "'Read and write'" in text
    assert "OAuth 1.0a user context" in text and "x-transaction-id: abc123" in text


def test_errors_array_names_the_parameter(fake) -> None:
    x, url = fake
    errors = {
        "errors": [
            {"parameters": {"username": ["jack!"]}, "message": "The `username` query parameter value is not valid"}
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
    }
    x.fail(USER, Fault(400, json.dumps(errors).encode()))
    (outcome,) = run(url, [get_user()])
    assert "Invalid Request: One or more parameters to your request was invalid." in outcome.text
    assert "(parameter: username)" in outcome.text and "Fix the arguments" in outcome.text


def test_partial_errors_next_to_data_are_kept(fake) -> None:
    x, url = fake
    partial = {"data": [{"id": "1"}], "errors": [{"title": "Not Found Error", "resource_id": "2"}]}
    x.fail(USER, Fault(200, json.dumps(partial).encode()))
    (outcome,) = run(url, [get_user()])
    assert not outcome.is_error and json.loads(outcome.text) == partial


def test_big_results_are_cut_to_valid_json_with_a_hint(fake) -> None:
    x, url = fake
    big = {
        "data": [{"id": str(i), "text": "x" * 200} for i in range(2000)],
        "meta": {"result_count": 2000, "next_token": "b26v89c19zqg8o3f"},
    }
    x.fail("/2/tweets/search/recent", Fault(200, json.dumps(big).encode()))
    (outcome,) = run(url, [("searchPostsRecent", {"query": "ai"})], max_result_bytes=20_000)
    cut = json.loads(outcome.text)  # still valid JSON
    assert len(outcome.text.encode()) <= 20_000 and 0 < len(cut["data"]) < 2000
    assert cut["meta"]["next_token"] == "b26v89c19zqg8o3f"
    assert f"Kept {len(cut['data'])} of 2000 items of data" in outcome.note
    assert len(outcome.text.encode()) > 18_000, "the cut uses most of the budget"
    assert 'call searchPostsRecent again with pagination_token="b26v89c19zqg8o3f"' in outcome.note
