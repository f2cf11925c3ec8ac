"""X's rate limits shared by replicas in Redis, and the errors of a Redis that does not answer."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from httpx2 import Headers

from tests.redis_server import counting_client
from tests.servers import free_port
from xapi_mcp.errors import StateUnavailable
from xapi_mcp.redis_state import RedisRateLimits, connect, key_part

ENDPOINT = "GET /2/users/{id}/tweets"


def window(remaining: int, reset: float) -> Headers:
    return Headers(
        {"x-rate-limit-limit": "900", "x-rate-limit-remaining": str(remaining), "x-rate-limit-reset": str(reset)}
    )


@pytest.mark.redis
def test_an_exhausted_endpoint_is_known_to_every_replica_of_that_person_only(redis_url: str) -> None:
    async def test() -> None:
        clients = [aioredis.Redis.from_url(redis_url) for _ in range(3)]
        first = RedisRateLimits(clients[0], "alice", fresh_for=0)
        second = RedisRateLimits(clients[1], "alice", fresh_for=0)
        bob = RedisRateLimits(clients[2], "bob", fresh_for=0)
        reset = time.time() + 120
        assert await second.exhausted_until(ENDPOINT) is None
        assert (await first.update(ENDPOINT, window(3, reset))).remaining == 3  # requests left: nothing written
        assert await clients[0].keys("*") == []
        await first.update(ENDPOINT, window(0, reset))
        assert await second.exhausted_until(ENDPOINT) == pytest.approx(reset)
        assert await second.exhausted_until(ENDPOINT, now=reset + 1) is None  # past the reset
        assert await bob.exhausted_until(ENDPOINT) is None
        assert await second.exhausted_until("GET /2/users/{id}/mentions") is None
        key = f"xapi-mcp:rate:alice:{key_part(ENDPOINT)}"
        assert 118 <= await clients[0].ttl(key) <= 122  # the mark goes when the window resets
        # A 429's reset marks it too; an answer with requests left again clears the mark everywhere.
        await bob.mark_exhausted(ENDPOINT, reset + 60)
        assert await first.exhausted_until(ENDPOINT) == pytest.approx(reset)
        assert await RedisRateLimits(clients[0], "bob", fresh_for=0).exhausted_until(ENDPOINT) == pytest.approx(
            reset + 60
        )
        await second.update(ENDPOINT, window(899, reset + 900))
        assert await first.exhausted_until(ENDPOINT) == pytest.approx(reset)  # first's own copy until its reset
        assert await RedisRateLimits(clients[0], "alice").exhausted_until(ENDPOINT) is None
        for client in clients:
            await client.aclose()

    asyncio.run(test())


@pytest.mark.redis
def test_a_recent_answer_is_reused_for_fresh_for_seconds(redis_url: str) -> None:
    async def test() -> None:
        client, counter = counting_client(redis_url)
        limits = RedisRateLimits(client, "alice", fresh_for=60)
        await limits.exhausted_until(ENDPOINT)  # connects and asks
        before = counter.sent
        for _ in range(10):
            assert await limits.exhausted_until(ENDPOINT) is None
        assert counter.sent == before  # no round trip while the last answer is fresh
        reset = time.time() + 30
        await limits.mark_exhausted(ENDPOINT, reset)
        before = counter.sent
        assert await limits.exhausted_until(ENDPOINT) == pytest.approx(reset)
        assert counter.sent == before  # its own mark is known locally
        await client.aclose()

    asyncio.run(test())


def test_redis_down_says_what_failed_and_what_to_do() -> None:
    async def test() -> None:
        client = connect(f"redis://:do-not-show-me@127.0.0.1:{free_port()}/0", timeout=0.5)
        with pytest.raises(StateUnavailable) as down:
            await RedisRateLimits(client, "alice").exhausted_until(ENDPOINT)
        message = str(down.value)
        assert message.startswith("Redis at 127.0.0.1:") and "reading a rate-limit mark" in message
        assert "Nothing was sent to X. Try again in a few seconds" in message and "do-not-show-me" not in message
        await client.aclose()

    asyncio.run(test())
