"""Remote mode's state in a real Redis (X_MCP_REDIS_URL): what two replicas share, sealed, hashed, once-only."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.redis_server import counting_client
from tests.servers import free_port
from xapi_mcp.auth.remote_state import digest
from xapi_mcp.auth.remote_state_redis import RedisRemoteState
from xapi_mcp.auth.vault import Vault
from xapi_mcp.errors import StateUnavailable
from xapi_mcp.redis_state import Broadcast, RedisRateLimits, Shared, connect

pytestmark = pytest.mark.redis

KEY_A, KEY_B = os.urandom(32), os.urandom(32)
ALICE = {"token": "1001-alice-x-token", "secret": "alice-x-secret", "screen_name": "alice_x"}


def run(redis_url: str, test: Callable[..., Awaitable[None]], replicas: int = 2, **options: Any) -> None:
    """`test(*states, raw)`: `replicas` states (each its own client, as replicas have) and a plain client."""

    async def main() -> None:
        clients = [aioredis.Redis.from_url(redis_url) for _ in range(replicas + 1)]
        states = [RedisRemoteState(c, Vault([KEY_A]), **options) for c in clients[:replicas]]
        try:
            await test(*states, clients[-1])
        finally:
            for client in clients:
                await client.aclose()

    asyncio.run(main())


def test_a_persons_x_tokens_are_sealed_in_redis_and_bound_to_their_key(redis_url: str) -> None:
    async def test(one: RedisRemoteState, two: RedisRemoteState, raw: aioredis.Redis) -> None:
        await one.put("person", "1001", ALICE, None)
        assert await two.get("person", "1001") == ALICE  # another replica opens it
        stored = await raw.get("xapi-mcp:auth:person:1001")
        assert stored.startswith(b"v1.") and b"alice" not in stored  # neither token nor name in the clear
        assert 86_000 <= await raw.ttl("xapi-mcp:auth:person:1001") <= 86_400  # person_ttl
        # Alice's sealed record copied under Bob's key does not open as Bob: he is simply not signed in.
        await raw.set("xapi-mcp:auth:person:2002", stored)
        assert await two.get("person", "2002") is None
        # A replica without the sealing key cannot open it either (keys come from the environment only).
        stranger = RedisRemoteState(raw, Vault([KEY_B]))
        assert await stranger.get("person", "1001") is None
        # The tokens a replica held are known to its log redaction, and only those.
        assert set(two.secrets()) == {ALICE["token"], ALICE["secret"]}
        assert stranger.secrets() == []

    run(redis_url, test, person_ttl=86_400, person_fresh_for=0)


def test_key_rotation_opens_old_values_and_seals_with_the_new_key(redis_url: str) -> None:
    async def test(old: RedisRemoteState, raw: aioredis.Redis) -> None:
        await old.put("person", "1001", ALICE, None)
        rotated = RedisRemoteState(raw, Vault([KEY_B, KEY_A]), person_fresh_for=0)
        assert await rotated.get("person", "1001") == ALICE
        await rotated.put("person", "1001", ALICE, None)  # rewritten: now under the new key only
        assert await RedisRemoteState(raw, Vault([KEY_B]), person_fresh_for=0).get("person", "1001") == ALICE
        assert await RedisRemoteState(raw, Vault([KEY_A]), person_fresh_for=0).get("person", "1001") is None

    run(redis_url, test, replicas=1, person_fresh_for=0)


def test_codes_and_refresh_tokens_are_stored_hashed_and_work_once_across_replicas(redis_url: str) -> None:
    async def test(one: RedisRemoteState, two: RedisRemoteState, raw: aioredis.Redis) -> None:
        code = "a-very-random-authorization-code"
        grant = {"client_id": "c1", "sub": "1001", "screen_name": "alice_x", "resource": "http://x/mcp"}
        await one.put("code", digest(code), grant, 60)
        assert [k.decode() for k in await raw.keys("*")] == [f"xapi-mcp:auth:code:{digest(code)}"]
        assert 58 <= await raw.ttl(f"xapi-mcp:auth:code:{digest(code)}") <= 60
        # Both replicas race for the same code: exactly one gets it.
        won = await asyncio.gather(*(state.take("code", digest(code)) for state in (one, two, one, two)))
        assert [w for w in won if w is not None] == [grant]
        # Refresh tokens: the same, and each is listed under its person for sign-out.
        await one.put("refresh", digest("r1"), grant, 3600)
        await two.put("refresh", digest("r2"), grant, 3600)
        members = await raw.smembers("xapi-mcp:auth:refreshes:1001")
        assert {m.decode() for m in members} == {f"xapi-mcp:auth:refresh:{digest(r)}" for r in ("r1", "r2")}
        assert await two.take("refresh", digest("r1")) == grant
        assert await one.take("refresh", digest("r1")) is None
        assert len(await raw.smembers("xapi-mcp:auth:refreshes:1001")) == 1  # a used one leaves the list

    run(redis_url, test)


def test_sign_out_on_one_replica_deletes_tokens_everywhere(redis_url: str) -> None:
    async def test(one: RedisRemoteState, two: RedisRemoteState, raw: aioredis.Redis) -> None:
        bob = {**ALICE, "token": "2002-bob", "secret": "bob-secret", "screen_name": "bob_x"}
        await one.put("person", "1001", ALICE, None)
        await one.put("person", "2002", bob, None)
        for refresh, sub in (("r1", "1001"), ("r2", "1001"), ("r3", "2002")):
            await one.put("refresh", digest(refresh), {"sub": sub, "client_id": "c"}, 3600)
        assert await two.get("person", "1001") == ALICE  # two now holds a copy for person_fresh_for
        await one.forget("1001")
        assert await one.get("person", "1001") is None  # at once on the replica that signed out
        assert await two.get("person", "1001") == ALICE  # the other answers from its copy for under a second
        deadline = time.monotonic() + 5
        while await two.get("person", "1001") is not None:
            assert time.monotonic() < deadline, "the other replica still acts for a signed-out person"
            await asyncio.sleep(0.05)
        assert await two.take("refresh", digest("r1")) is None and await two.take("refresh", digest("r2")) is None
        assert await two.get("person", "2002") == bob  # nobody else is signed out
        assert await two.take("refresh", digest("r3")) is not None

    run(redis_url, test, person_fresh_for=2)


def test_a_pending_sign_in_is_sealed_and_finishes_on_another_replica(redis_url: str) -> None:
    async def test(one: RedisRemoteState, two: RedisRemoteState, raw: aioredis.Redis) -> None:
        record = {"authorize": {"client_id": "c1", "state": "s"}, "request_secret": "x-request-token-secret"}
        await one.put("pending", "request-token-1", record, 300)
        assert b"x-request-token-secret" not in await raw.get("xapi-mcp:auth:pending:request-token-1")
        assert await two.take("pending", "request-token-1") == record
        assert await one.take("pending", "request-token-1") is None
        assert "x-request-token-secret" in two.secrets()

    run(redis_url, test)


def test_the_hot_path_reads_a_person_at_most_once_per_fresh_for(redis_url: str) -> None:
    async def test() -> None:
        client, counter = counting_client(redis_url)
        state = RedisRemoteState(client, Vault([KEY_A]), person_fresh_for=60)
        await state.put("person", "1001", ALICE, None)
        before = counter.sent
        for _ in range(50):
            assert await state.get("person", "1001") == ALICE
        assert counter.sent - before == 1
        await client.aclose()

    asyncio.run(test())


def test_redis_down_is_an_error_naming_redis_never_an_empty_answer() -> None:
    async def test() -> None:
        client = connect(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
        state = RedisRemoteState(client, Vault([KEY_A]))
        for action in (
            state.get("person", "1001"),
            state.take("code", "h"),
            state.put("refresh", "h", {"sub": "1"}, 60),
            state.forget("1001"),
        ):
            with pytest.raises(StateUnavailable) as down:
                await action
            assert "Redis at 127.0.0.1" in str(down.value) and "X_MCP_REDIS_URL" in str(down.value)
        await client.aclose()

    asyncio.run(test())


def test_vault_keys_from_settings_are_checked() -> None:
    from xapi_mcp.config import Settings
    from xapi_mcp.errors import ConfigError
    from xapi_mcp.server.remote import remote_state

    key = base64.b64encode(KEY_A).decode()
    base = {"X_MCP_REDIS_URL": "redis://127.0.0.1:1/0", "X_MCP_TOKEN_KEY": "k" * 40}
    client = Shared.connect(base["X_MCP_REDIS_URL"])  # never connected: nothing is sent here
    assert isinstance(
        remote_state(Settings.load(env={**base, "X_MCP_TOKEN_KEYS": key}, dotenv_path=None), client), RedisRemoteState
    )
    with pytest.raises(ConfigError, match="X_MCP_TOKEN_KEYS is not set"):
        remote_state(Settings.load(env=base, dotenv_path=None), client)
    with pytest.raises(ConfigError, match="X_MCP_TOKEN_KEY to the same"):
        remote_state(Settings.load(env={"X_MCP_TOKEN_KEYS": key}, dotenv_path=None), client)


async def listening(*broadcasts: Broadcast) -> None:
    """Until every broadcast hears its channel (its subscription confirmed)."""
    deadline = time.monotonic() + 5
    while not all(b.trusted(b.epoch) for b in broadcasts):
        assert time.monotonic() < deadline, "the broadcast did not subscribe"
        await asyncio.sleep(0.01)


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 5
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


def test_with_a_broadcast_a_person_is_read_once_and_a_sign_out_is_heard_at_once(redis_url: str) -> None:
    async def test() -> None:
        (a_client, _), (b_client, b_sent) = counting_client(redis_url), counting_client(redis_url)
        a_cast, b_cast = Broadcast(a_client, "xapi-mcp:changes"), Broadcast(b_client, "xapi-mcp:changes")
        a = RedisRemoteState(a_client, Vault([KEY_A]), person_fresh_for=0, broadcast=a_cast)
        b = RedisRemoteState(b_client, Vault([KEY_A]), person_fresh_for=0, broadcast=b_cast)
        await listening(a_cast, b_cast)
        await a.put("person", "1001", ALICE, None)
        await b_client.ping()  # B's connection opened (its handshake is not counted below)
        before = b_sent.sent
        for _ in range(20):
            assert await b.get("person", "1001") == ALICE
        assert b_sent.sent - before == 1  # read once, then B's copy, trusted while it hears announcements
        # Alice signs in again on A (new X tokens): B drops its copy on the announcement and reads the new ones.
        renewed = {**ALICE, "token": "1001-renewed"}
        await a.put("person", "1001", renewed, None)
        await until(lambda: _is(b.get("person", "1001"), renewed), "B kept Alice's old tokens")
        # Sign-out on A: B stops acting for her as soon as the announcement arrives (not after a timeout).
        await a.forget("1001")
        await until(lambda: _is(b.get("person", "1001"), None), "B still acts for a signed-out person")
        # The subscription is cut (as by a network failure): B trusts no copy until it hears again.
        assert await b.get("person", "1001") is None
        await a.put("person", "1001", ALICE, None)
        await until(lambda: _is(b.get("person", "1001"), ALICE), "B did not read Alice again")
        heard_since = b_cast.epoch
        raw = aioredis.Redis.from_url(redis_url)
        await raw.client_kill_filter(_type="pubsub")
        await raw.aclose()
        deadline = time.monotonic() + 5
        while not (b_cast.epoch > heard_since and b_cast.live):  # the gap noticed, and subscribed again
            assert time.monotonic() < deadline, "the broadcast did not notice the lost subscription"
            await asyncio.sleep(0.01)
        before = b_sent.sent
        assert await b.get("person", "1001") == ALICE
        assert b_sent.sent - before == 1  # a copy from before the gap is not trusted: read again
        assert await b.get("person", "1001") == ALICE
        assert b_sent.sent - before == 1  # and the new copy is
        for cast in (a_cast, b_cast):
            await cast.aclose()
        await a_client.aclose()
        await b_client.aclose()

    asyncio.run(test())


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected


def test_with_a_broadcast_rate_limit_marks_reach_every_replica_without_a_read(redis_url: str) -> None:
    async def test() -> None:
        (a_client, _), (b_client, b_sent) = counting_client(redis_url), counting_client(redis_url)
        a_cast, b_cast = Broadcast(a_client, "xapi-mcp:changes"), Broadcast(b_client, "xapi-mcp:changes")
        a = RedisRateLimits(a_client, "alice", fresh_for=0, broadcast=a_cast)
        b = RedisRateLimits(b_client, "alice", fresh_for=0, broadcast=b_cast)
        bob = RedisRateLimits(b_client, "bob", fresh_for=0, broadcast=b_cast)
        await listening(a_cast, b_cast)
        await b_client.ping()
        endpoint = "GET /2/users/{id}/tweets"
        assert await b.exhausted_until(endpoint) is None  # one read...
        before = b_sent.sent
        for _ in range(10):
            assert await b.exhausted_until(endpoint) is None  # ...then none while B hears announcements
        assert b_sent.sent == before
        reset = time.time() + 300
        await a.mark_exhausted(endpoint, reset)
        await until(lambda: _is(b.exhausted_until(endpoint), pytest.approx(reset)), "B did not hear the mark")
        assert b_sent.sent == before  # heard, not read
        assert await bob.exhausted_until(endpoint) is None  # Bob's limits are his own
        for cast in (a_cast, b_cast):
            await cast.aclose()
        await a_client.aclose()
        await b_client.aclose()

    asyncio.run(test())


def test_update_replaces_only_a_record_that_still_exists_keeping_its_lifetime(redis_url: str) -> None:
    """A refresh finishing after a sign-out must not sign the person back in (memory and Redis alike)."""
    from xapi_mcp.auth.remote_state import MemoryRemoteState

    async def test(state: RedisRemoteState, raw: aioredis.Redis) -> None:
        for store in (state, MemoryRemoteState()):
            assert await store.update("person", "1001", ALICE) is False
            assert await store.get("person", "1001") is None  # not created
            await store.put("person", "1001", ALICE, 3600)
            renewed = {**ALICE, "token": "1001-renewed"}
            assert await store.update("person", "1001", renewed) is True
            assert await store.get("person", "1001") == renewed
            await store.forget("1001")
            assert await store.update("person", "1001", renewed) is False
            assert await store.get("person", "1001") is None
        await state.put("person", "1001", ALICE, 3600)
        await state.update("person", "1001", ALICE)
        assert 3590 <= await raw.ttl("xapi-mcp:auth:person:1001") <= 3600  # the lifetime is kept

    run(redis_url, test, replicas=1, person_fresh_for=0)


def test_a_hung_redis_is_an_error_within_the_clients_timeout_not_a_hang(redis_url: str, redis_server: Any) -> None:
    """Redis stopped dead (SIGSTOP, it would never answer): a read still comes back, with an error naming the fix
    (the client's timeout and one retry), before Redis moves again; then the same client serves at once."""
    import signal

    async def test() -> None:
        client = connect(redis_url, timeout=0.3)
        state = RedisRemoteState(client, Vault([KEY_A]), person_fresh_for=0)
        await state.put("person", "1001", ALICE, None)
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(StateUnavailable) as slow:  # returns while Redis is still stopped: no hang
                await state.get("person", "1001")
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        assert "did not answer" in str(slow.value) and "Try again in a few seconds" in str(slow.value)
        assert await state.get("person", "1001") == ALICE  # moving again: served by the same client
        await client.aclose()

    asyncio.run(test())
