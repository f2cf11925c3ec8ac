"""What each person's calls share with nobody else (spend, rate limits), and what happens when the shared
state (Redis) does not answer: nothing is sent, nobody is guessed, and an answer X gave is never lost."""

from __future__ import annotations

import base64
import logging
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from httpx2 import Headers

from tests.servers import free_port, serve_asgi
from tests.test_remote_auth import remote_settings
from tests.test_spending import SEARCH, Clock, page, spending_executor
from xapi_mcp.app import build, load
from xapi_mcp.auth.people import PersonRateLimits, acting_as
from xapi_mcp.calls.executor import ToolOutcome
from xapi_mcp.calls.ledger import MemoryLedger
from xapi_mcp.calls.ledger_people import PersonLedgers
from xapi_mcp.errors import StateUnavailable
from xapi_mcp.redis_state import RedisRateLimits, connect
from xapi_mcp.server.http import build_app
from xapi_mcp.stores import MemoryRateLimits, MemoryTokenStore

ENDPOINT = "GET /2/tweets/search/recent"


def as_person(person: str) -> Any:
    return acting_as(MemoryTokenStore(), person)


def test_each_person_spends_their_own_budget(fake_x) -> None:
    fake, x_url = fake_x
    clock = Clock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    ledgers = PersonLedgers(lambda person: MemoryLedger(Decimal("1.00"), now=clock), Decimal("1.00"))
    executor = spending_executor(x_url, ledgers, clock)  # type: ignore[arg-type]
    tool = executor.tools["searchPostsRecent"]
    fake.fail(SEARCH, *[page(list(range(n * 100, n * 100 + 100))) for n in range(4)])

    async def search(person: str) -> ToolOutcome:
        with as_person(person):
            return await executor.call(tool, {"query": person, "max_results": 100})  # $0.50 at most

    async def run() -> list[ToolOutcome]:
        try:
            return [await search(who) for who in ("alice", "alice", "alice", "bob", "bob")]
        finally:
            await executor.aclose()

    outcomes = anyio.run(run)
    assert [o.is_error for o in outcomes] == [False, False, True, False, False]
    assert "daily budget" in outcomes[2].text  # Alice's third is refused; Bob's budget is his own
    assert fake.count(SEARCH) == 4
    assert outcomes[4].cost is not None and outcomes[4].cost[0]["day_total_usd"] == pytest.approx(1.0)


def test_rate_limit_marks_are_per_person_and_advisory(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        limits = PersonRateLimits(lambda person: MemoryRateLimits())
        reset = 4_000_000_000.0
        with as_person("alice"):
            await limits.update(
                ENDPOINT,
                Headers({"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}),
            )
            assert await limits.exhausted_until(ENDPOINT) == reset
        with as_person("bob"):
            assert await limits.exhausted_until(ENDPOINT) is None
        # Redis down: the marks are advisory, so the call goes on (X still enforces its limits).
        client = connect(f"redis://127.0.0.1:{free_port()}/0", timeout=0.3)
        shared = PersonRateLimits(lambda person: RedisRateLimits(client, person, fresh_for=0))
        with as_person("alice"):
            assert await shared.exhausted_until(ENDPOINT) is None
            await shared.mark_exhausted(ENDPOINT, reset)
        await client.aclose()

    with caplog.at_level(logging.WARNING):
        anyio.run(run)
    assert "Rate-limit mark not read (the call goes on)" in caplog.text and "Redis at 127.0.0.1" in caplog.text


class FlakyLedger(MemoryLedger):
    """A ledger whose store stops answering at one step: `reserve` (before the send) or `settle` (after)."""

    def __init__(self, failing: str, clock: Clock) -> None:
        super().__init__(Decimal(5), now=clock)
        self.failing = failing

    async def reserve(self, tool: str, usd: Decimal, why: str = "") -> Any:
        if self.failing == "reserve":
            raise StateUnavailable("Redis at 127.0.0.1:1 did not answer while reserving. Nothing was sent to X.")
        return await super().reserve(tool, usd, why)

    async def settle(self, reservation: Any, charge: Any) -> None:
        if self.failing == "settle":
            raise StateUnavailable("Redis at 127.0.0.1:1 did not answer while recording what this call cost.")
        await super().settle(reservation, charge)

    async def day_total(self, day: Any) -> Decimal:
        if self.failing == "settle":
            raise StateUnavailable("Redis at 127.0.0.1:1 did not answer while reading today's spend.")
        return await super().day_total(day)


@pytest.mark.parametrize("failing", ["reserve", "settle"])
def test_ledger_down_sends_nothing_before_and_keeps_xs_answer_after(fake_x, failing: str) -> None:
    fake, x_url = fake_x
    clock = Clock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    executor = spending_executor(x_url, FlakyLedger(failing, clock), clock)
    tool = executor.tools["createPosts"]

    async def run() -> ToolOutcome:
        try:
            return await executor.call(tool, {"text": f"ledger down at {failing}"})
        finally:
            await executor.aclose()

    outcome = anyio.run(run)
    posted = [r for r in fake.requests if r.path == "/2/tweets"]
    if failing == "reserve":
        assert outcome.is_error and "Nothing was sent to X" in outcome.text and "Redis" in outcome.text
        assert posted == []
    else:  # the post exists at X: the model must see its id and must not post it again
        assert not outcome.is_error and '"id"' in outcome.text and len(posted) == 1
        assert "Do not repeat the call" in outcome.note
        assert outcome.cost is not None and outcome.cost[0]["unrecorded"] is True
        assert "today: unknown" in outcome.cost[1]


def test_redis_down_answers_503_with_retry_after_and_acts_for_nobody(fake_x, tmp_path: Path) -> None:
    fake, x_url = fake_x
    port = free_port()
    keys = base64.b64encode(os.urandom(32)).decode()
    settings = remote_settings(
        x_url,
        port,
        tmp_path,
        X_MCP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        X_MCP_TOKEN_KEY="t" * 48,
        X_MCP_TOKEN_KEYS=keys,
    )
    app = build(load(settings))
    from xapi_mcp.auth.mcp_as import Client as AsClient
    from xapi_mcp.auth.mcp_as import _Tokens
    from xapi_mcp.auth.people import Person

    issuer = app.remote.issuer
    minted = _Tokens(issuer.issuer, issuer.resource, issuer.key, 600)(
        grant_type="authorization_code", client=AsClient("c", ["http://127.0.0.1:9/cb"]), user=Person("1001")
    )
    http_app = build_app(
        app.server, host="127.0.0.1", health=dict, extra_routes=app.remote.routes(), guard=app.remote.guard
    )
    with serve_asgi(http_app, port) as url:
        bearer = {"Authorization": f"Bearer {minted['access_token']}"}
        answer = httpx.post(f"{url}/mcp", headers=bearer, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert "Redis at 127.0.0.1" in answer.text and "Try again in a few seconds" in answer.text
        refresh = httpx.post(
            f"{url}/token", data={"grant_type": "refresh_token", "refresh_token": "r", "client_id": "c"}
        )
        assert refresh.status_code == 503 and refresh.headers["retry-after"] == "5"
        registered = httpx.post(f"{url}/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"]})
        assert registered.status_code == 503
    assert fake.requests == []  # nothing reached X for anybody
    anyio.run(app.aclose)


@pytest.mark.redis
def test_local_mode_with_redis_shares_spend_between_processes(fake_x, redis_url: str, tmp_path: Path) -> None:
    """X_MCP_REDIS_URL without remote mode: one X account, its budget held in Redis for every replica."""
    import redis as sync_redis

    from tests.servers import SPEC_159, server_env
    from xapi_mcp.config import Settings

    fake, x_url = fake_x
    env = server_env(x_url, X_API_SPEC=str(SPEC_159), X_API_SPEC_CACHE_DIR=str(tmp_path), X_MCP_REDIS_URL=redis_url)
    settings = Settings.load(env={**env, "X_API_BUDGET_USD": "1.00"}, dotenv_path=None)
    startup = load(settings)
    fake.fail(SEARCH, *[page(list(range(n * 100, n * 100 + 100))) for n in range(3)])

    async def run() -> list[ToolOutcome]:
        replicas = [build(startup), build(startup)]
        try:
            tool = startup.tools["searchPostsRecent"]
            return [await replicas[n % 2].executor.call(tool, {"query": "q", "max_results": 100}) for n in range(3)]
        finally:
            for replica in replicas:
                await replica.aclose()

    outcomes = anyio.run(run)
    assert [o.is_error for o in outcomes] == [False, False, True] and "daily budget" in outcomes[2].text
    assert fake.count(SEARCH) == 2
    raw = sync_redis.Redis.from_url(redis_url)
    day = datetime.now(UTC).date().isoformat()
    assert int(raw.hget(f"xapi-mcp:spend:local:{day}", "total")) == 1_000_000  # $1.00 in micro-dollars
    raw.close()


@pytest.mark.redis
def test_registered_clients_expire_unless_used(fake_x, redis_url: str, tmp_path: Path) -> None:
    """/register is open to anyone: a registration lives X_MCP_REFRESH_TOKEN_TTL after its last use, not for ever."""
    import redis as sync_redis

    from tests.replicas import ALICE, register, sign_in

    fake, x_url = fake_x
    port = free_port()
    keys = base64.b64encode(os.urandom(32)).decode()
    extra = {"X_MCP_REDIS_URL": redis_url, "X_MCP_TOKEN_KEY": "t" * 48, "X_MCP_TOKEN_KEYS": keys}
    app = build(load(remote_settings(x_url, port, tmp_path, X_MCP_REFRESH_TOKEN_TTL="3600", **extra)))
    http_app = build_app(
        app.server,
        host="127.0.0.1",
        health=dict,
        extra_routes=app.remote.routes(),
        guard=app.remote.guard,
        on_shutdown=app.aclose,  # in the server's own event loop, where its Redis connections live
    )
    raw = sync_redis.Redis.from_url(redis_url)
    with serve_asgi(http_app, port) as url:
        client_id = register(url)
        key = f"xapi-mcp:auth:client:{client_id}"
        assert 3590 <= raw.ttl(key) <= 3600
        raw.expire(key, 100)  # as if registered long ago
        code, _ = sign_in(fake, url, client_id, ALICE)  # used: its lifetime starts again
        assert not code.startswith("error") and 3590 <= raw.ttl(key) <= 3600
    raw.close()
