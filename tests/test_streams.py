"""X's streams as bounded tools, against the fake X's NDJSON streams (keep-alives, error events, slow and fast
senders): the caps, X closing early, X's refusals, cost, and over MCP progress and cancellation."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

from tests import fake_x as fx
from tests.conftest import load_document
from tests.fake_x import FakeX, Fault, StreamScript
from tests.servers import LOG_DIR, run_xapi_mcp, serve_asgi, server_env
from tests.test_catalog import STREAMS as CATALOG_STREAMS
from xapi_mcp.calls.executor import Executor
from xapi_mcp.calls.ledger import MemoryLedger
from xapi_mcp.calls.prices import shipped_prices
from xapi_mcp.calls.results import ToolOutcome
from xapi_mcp.calls.spending import Spending
from xapi_mcp.stores import MemoryTokenStore
from xapi_mcp.tools.catalog import build_catalog
from xapi_mcp.tools.tooldef import StreamCaps, ToolDef

FILTERED = "/2/tweets/search/stream"
SAMPLE = "/2/tweets/sample/stream"
STREAMS = set(CATALOG_STREAMS)  # X's 15 streaming operations, as tests/test_catalog.py names them


DEFAULT = StreamCaps()


def tools(caps: StreamCaps = DEFAULT) -> dict[str, ToolDef]:
    return build_catalog(load_document("2.159"), workflows=True, streams=caps).tools


def executor(x_url: str, budget: Decimal | None = None, caps: StreamCaps = DEFAULT) -> Executor:
    spending = Spending(load_document("2.159"), shipped_prices(), MemoryLedger(budget))
    store = MemoryTokenStore(bearer_token=fx.BEARER_TOKEN)
    return Executor(x_url, store, tools=tools(caps), spending=spending, max_retries=0, max_result_bytes=100_000)


def run(x_url: str, name: str, args: dict[str, Any], **kwargs: Any) -> tuple[ToolOutcome, dict[str, Any]]:
    """Call stream tool `name` in process; its outcome and the parsed result."""
    ex = executor(x_url, **kwargs)

    async def go() -> ToolOutcome:
        try:
            return await ex.call(ex.tools[name], args)
        finally:
            await ex.aclose()

    outcome = anyio.run(go)
    try:
        return outcome, json.loads(outcome.text)
    except ValueError:
        return outcome, {}


@pytest.fixture
def fake(fake_x: tuple[FakeX, str]) -> Iterator[FakeX]:
    with fake_x[0].fresh() as fake:
        fake.streams.clear()
        yield fake


# --- the catalog ----------------------------------------------------------------------------


def test_the_15_streams_are_tools_with_their_own_arguments_and_both_caps() -> None:
    catalog = build_catalog(load_document("2.159"), streams=StreamCaps(max_items=250, max_seconds=60))
    streams = {name for name, tool in catalog.tools.items() if tool.stream is not None}
    assert streams == STREAMS and catalog.excluded == []
    tool = catalog.tools["streamPosts"]
    props = tool.input_schema["properties"]
    assert {"tweet_fields", "expansions", "backfill_minutes"} <= set(props)
    assert props["max_items"]["maximum"] == 250 and props["max_seconds"]["maximum"] == 60
    assert "one connection per app" in tool.description and tool.annotations == {"readOnlyHint": True}
    left_out = build_catalog(load_document("2.159"), streams=None)
    assert set(left_out.excluded) == STREAMS and not STREAMS & set(left_out.tools)


def test_caps_are_enforced_on_the_arguments(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    for args in ({"max_items": 0}, {"max_items": 101}, {"max_seconds": 31}, {"max_seconds": 0.5}):
        outcome, _ = run(fake_x[1], "streamPosts", args)
        assert outcome.is_error and "max_" in outcome.text, outcome.text
    assert fake.count(FILTERED) == 0


# --- collecting -----------------------------------------------------------------------------


def test_item_cap_stops_collecting_and_closes_the_connection(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    fake.streams[FILTERED] = script = StreamScript(items=50, interval=0.01)
    outcome, result = run(fake_x[1], "streamPosts", {"max_items": 5, "max_seconds": 20})
    assert not outcome.is_error, outcome.text
    assert [item["text"] for item in result["data"]] == [f"stream post {n}" for n in range(5)]
    assert result["data"][0]["matching_rules"] == [{"id": "1900000000000000001", "tag": "test"}]
    assert result["includes"] == {"users": [{"id": "2244994945", "name": "X Developers", "username": "XDevelopers"}]}
    assert result["stopped"]["reason"] == "max_items" and result["stopped"]["items"] == 5
    assert _closed(script), "xapi-mcp left the stream open"
    assert script.sent < 50
    assert fake.requests[-1].auth_kind == "bearer"  # signed like any call to this operation


def test_time_cap_returns_what_arrived_from_a_slow_sender(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    fake.streams[SAMPLE] = script = StreamScript(items=3, interval=0.05)  # then keep-alives only
    outcome, result = run(fake_x[1], "streamPostsSample", {"max_items": 100, "max_seconds": 1})
    assert not outcome.is_error, outcome.text
    assert len(result["data"]) == 3 and result["stopped"]["reason"] == "max_seconds"
    assert result["stopped"]["seconds"] >= 1 and _closed(script)


def test_x_closing_early_is_said(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    fake.streams[SAMPLE] = StreamScript(items=2, then="close")
    _, result = run(fake_x[1], "streamPostsSample", {"max_items": 10, "max_seconds": 10})
    assert len(result["data"]) == 2 and result["stopped"]["reason"] == "x_closed"
    assert "X closed the stream" in result["stopped"]["detail"] and "backfill_minutes" in result["stopped"]["detail"]


def test_an_error_event_stops_with_xs_words_and_its_advice(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    fake.streams[SAMPLE] = StreamScript(items=2, then="error")
    outcome, result = run(fake_x[1], "streamPostsSample", {"max_items": 10, "max_seconds": 10})
    assert not outcome.is_error and len(result["data"]) == 2  # what arrived before is kept (and billed)
    stopped = result["stopped"]
    assert stopped["reason"] == "error" and "operational-disconnect" in stopped["detail"]
    assert "OperationalDisconnect" in stopped["detail"] and "reconnect" in stopped["detail"]


def test_a_second_filtered_stream_connection_is_explained(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    body = {
        "title": "ConnectionException",
        "detail": "This stream is currently at the maximum allowed connection limit.",
        "connection_issue": "TooManyConnections",
        "type": "https://api.twitter.com/2/problems/streaming-connection",
    }
    fake.fail(FILTERED, Fault(429, json.dumps(body).encode()))
    outcome, _ = run(fake_x[1], "streamPosts", {"max_items": 5, "max_seconds": 5})
    assert outcome.is_error and outcome.status == 429
    assert "another client of this app holds the filtered stream open" in outcome.text, outcome.text
    assert "maximum allowed connection limit" in outcome.text


def test_an_error_before_the_stream_starts_is_the_usual_error(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    fake.fail(
        SAMPLE, Fault(403, b'{"title":"Client Forbidden","type":"https://api.x.com/2/problems/client-forbidden"}')
    )
    outcome, _ = run(fake_x[1], "streamPostsSample", {"max_items": 5, "max_seconds": 5})
    assert outcome.is_error and "HTTP 403" in outcome.text and "Client Forbidden" in outcome.text


def test_a_fast_sender_is_read_no_further_than_the_item_cap(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    """100,000 items as fast as the socket takes them: the tool keeps 20, reads no further and closes; what the
    fake could hand over before the close is bounded by the socket buffers, not by the sender."""
    fake.streams[SAMPLE] = script = StreamScript(items=100_000, keep_alive=False)
    outcome, result = run(fake_x[1], "streamPostsSample", {"max_items": 20, "max_seconds": 30})
    assert len(result["data"]) == 20 and result["stopped"]["reason"] == "max_items"
    assert _closed(script) and script.sent < 100_000, script.sent
    assert outcome.body is not None and len(outcome.body["data"]) == 20


def test_a_big_collection_is_cut_with_the_usual_note(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    fake.streams[SAMPLE] = StreamScript(items=100, keep_alive=False)
    ex = executor(fake_x[1])
    ex.max_result_bytes = 2_000

    async def go() -> ToolOutcome:
        try:
            return await ex.call(ex.tools["streamPostsSample"], {"max_items": 100, "max_seconds": 10})
        finally:
            await ex.aclose()

    outcome = anyio.run(go)
    assert len(outcome.text.encode()) <= 2_000 and json.loads(outcome.text)["stopped"]["items"] == 100
    assert "X_API_MAX_RESULT_BYTES" in outcome.note and "of 100 items of data" in outcome.note


# --- cost -----------------------------------------------------------------------------------


def test_estimate_is_the_item_cap_and_the_charge_is_what_arrived(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    fake.streams[SAMPLE] = StreamScript(items=3, then="close")
    ex = executor(fake_x[1], budget=Decimal(5))
    tool = ex.tools["streamPostsSample"]

    async def go() -> tuple[Any, ToolOutcome, ToolOutcome]:
        try:
            checked = await ex.preflight(tool, {"max_items": 40, "max_seconds": 5})
            first = await ex.call(tool, {"max_items": 40, "max_seconds": 5})
            again = await ex.call(tool, {"max_items": 40, "max_seconds": 5})  # the same 3 posts: free today
            return checked, first, again
        finally:
            await ex.aclose()

    checked, first, again = anyio.run(go)
    assert checked.estimate.usd == Decimal("0.200") and "up to 40 posts" in checked.estimate.why
    # 3 posts, and their author once (each message includes it; the result merges includes)
    assert first.cost is not None and first.cost[0]["charged_usd"] == 0.025
    assert first.cost[0]["resources"] == {"Posts: Read": 3, "User: Read": 1}
    assert again.cost is not None and again.cost[0]["charged_usd"] == 0 and again.cost[0]["repeats"] == 4


def test_a_stream_over_the_budget_is_refused_before_it_opens(fake_x: tuple[FakeX, str], fake: FakeX) -> None:
    fake.streams[SAMPLE] = script = StreamScript(items=5)
    outcome, _ = run(fake_x[1], "streamPostsSample", {"max_items": 100, "max_seconds": 5}, budget=Decimal("0.10"))
    assert outcome.is_error and "budget" in outcome.text.lower(), outcome.text
    assert fake.count(SAMPLE) == 0 and script.connections == 0


# --- over MCP: progress and cancellation, both protocol versions ----------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url), log_path=LOG_DIR / "streams.log") as url:
        yield fake, url


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_progress_notifications_while_collecting(served: tuple[FakeX, str], mode: str) -> None:
    fake, url = served
    fake.streams[FILTERED] = StreamScript(items=4, interval=0.6, then="hang")
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async def go() -> types.CallToolResult:
        async with Client(url, mode=mode) as client:
            args = {"max_items": 4, "max_seconds": 20}
            return await client.call_tool("streamPosts", args, progress_callback=on_progress)

    result = anyio.run(go)
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text)["stopped"] == {**_stopped(result), "reason": "max_items", "items": 4}
    assert len(seen) >= 2, seen
    values = [p for p, _, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values)  # MCP: progress always increases
    assert seen[-1][0] == 100.0 and seen[-1][1] == 100.0 and seen[-1][2].startswith("4 of 4 items")
    assert any(m and " s left" in m for _, _, m in seen)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_cancelling_mid_stream_closes_the_connection_to_x(served: tuple[FakeX, str], mode: str) -> None:
    fake, url = served
    fake.streams[SAMPLE] = script = StreamScript(items=1_000, interval=0.1)

    async def go() -> float:
        async with Client(url, mode=mode) as client:
            async with anyio.create_task_group() as group:
                group.start_soon(client.call_tool, "streamPostsSample", {"max_items": 100, "max_seconds": 30})
                with anyio.fail_after(20):
                    while script.sent < 3:
                        await anyio.sleep(0.02)
                cancelled = time.monotonic()
                group.cancel_scope.cancel()
            with anyio.fail_after(10):
                while script.closed_by_client is None:
                    await anyio.sleep(0.02)
            return cancelled

    cancelled = anyio.run(go)
    assert script.closed_by_client is not None and script.closed_by_client - cancelled <= 1.0
    assert script.sent < 100  # the collection stopped long before either cap


def _stopped(result: types.CallToolResult) -> dict[str, Any]:
    stopped: dict[str, Any] = json.loads(result.content[0].text)["stopped"]
    return stopped


def _closed(script: StreamScript, within: float = 5.0) -> bool:
    """The fake saw its connection closed by the client (it notices within moments of the close)."""
    deadline = time.monotonic() + within
    while script.closed_by_client is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return script.closed_by_client is not None
