"""Issue 18's proof: two xapi-mcp replicas (real subprocesses, remote mode) on one real Redis, behind a
round-robin TCP front (tests/replicas.py), against the fake X. Requests alternate between replicas; each
person only ever acts as themselves; sign-ins, refresh tokens, sign-outs and budgets hold across replicas;
a replica killed, or Redis stopped, loses nobody's identity to anyone else."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
import redis
from mcp import Client

from tests.fake_x import FakeX
from tests.redis_server import RedisServer, RedisUnavailable, redis_server_binary, start_redis, stop_redis
from tests.replicas import (
    ALICE,
    BOB,
    Person,
    Replicas,
    post,
    refresh,
    replicas,
    sign_in,
    sign_in_by_hand,
    signers,
    with_token,
)
from tests.servers import serve_asgi

pytestmark = pytest.mark.redis

ACCEPT = "application/json, text/event-stream"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture(scope="module")
def redis_binary() -> str:
    try:
        return redis_server_binary()
    except RedisUnavailable as exc:  # the `redis` mark deselects this file first; this is for -m overrides
        pytest.skip(str(exc))


@dataclass
class OwnRedis:
    """This module's own Redis (no other test empties it under the replicas); a test may stop and restart it."""

    binary: str
    folder: Path
    server: RedisServer

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def own_redis(redis_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    folder = tmp_path_factory.mktemp("redis")
    box = OwnRedis(redis_binary, folder, start_redis(redis_binary, folder))
    try:
        yield box
    finally:
        stop_redis(box.server.process)


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_asgi(fake.app()) as url:
        yield fake, url


@pytest.fixture(scope="module")
def pair(fake: tuple[FakeX, str], own_redis: OwnRedis) -> Iterator[Replicas]:
    with replicas(2, fake[1], own_redis.url) as group:
        yield group


def authorised(url: str, token: str) -> int:
    """The status of a bare ping at `url`/mcp with this token: 401 means the guard refused the person."""
    return httpx.post(f"{url}/mcp", headers={"Authorization": f"Bearer {token}"}, json=PING).status_code


def posted_as(url: str, token: str, text: str, fresh: bool = True) -> tuple[bool, str]:
    """createPosts with this bearer token through the SDK's client (a new connection per request)."""

    async def run() -> tuple[bool, str]:
        result: tuple[bool, str] = await with_token(url, token, lambda client: post(client, text), fresh=fresh)
        return result

    return anyio.run(run)


def until(check: Any, seconds: float = 15.0) -> Any:
    """Poll `check()` until it returns something truthy (no fixed sleep); fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"still not so after {seconds} s"
        time.sleep(0.05)


def test_sdk_oauth_client_signs_in_through_the_front_and_each_person_acts_as_themselves(
    fake: tuple[FakeX, str], pair: Replicas
) -> None:
    x, _ = fake
    alice, bob = Person(x, ALICE, fresh=True), Person(x, BOB, fresh=True)
    before = len(pair.front.served)

    async def listed_then_posted(client: Client) -> tuple[set[str], tuple[bool, str]]:
        tools = await client.list_tools()
        return {tool.name for tool in tools.tools}, await post(client, "sdk first post")

    async def run() -> None:
        for person in (alice, bob):
            names, (error, text) = await person.session(pair.url, listed_then_posted)
            assert "createPosts" in names and not error, text
        for round_ in range(3):
            for person in (alice, bob):
                said = f"sdk {person.who[1]} round {round_}"
                error, text = await person.session(pair.url, lambda c, s=said: post(c, s))
                assert not error, text
                assert signers(x, said) == [person.who[0]]

    anyio.run(run)
    assert signers(x, "sdk first post") == [ALICE[0], BOB[0]]
    assert len(alice.landed) == 1 and len(bob.landed) == 1  # one sign-in each, then the tokens served both replicas
    served = pair.front.served[before:]
    assert {pair[0].port, pair[1].port} == set(served) and served.count(pair[0].port) > 10, served


def test_two_people_alternating_replicas_each_only_ever_acts_as_themselves(
    fake: tuple[FakeX, str], pair: Replicas
) -> None:
    x, _ = fake
    alice, bob = sign_in_by_hand(x, pair.url, ALICE), sign_in_by_hand(x, pair.url, BOB)
    for round_ in range(3):
        for person in (alice, bob):
            for replica in pair.members:  # each person on each replica, directly: not left to chance
                said = f"{person.who[1]} on {replica.port} round {round_}"
                error, text = posted_as(replica.url, person.access, said)
                assert not error, text
                assert signers(x, said) == [person.who[0]]


def test_planted_cross_use_fails_across_replicas(fake: tuple[FakeX, str], pair: Replicas) -> None:
    x, _ = fake
    a, b = pair[0].url, pair[1].url
    alice, bob = sign_in_by_hand(x, pair.url, ALICE), sign_in_by_hand(x, pair.url, BOB)
    # Bob opens a 2025-11-25 session on A; Alice's token on Bob's session: refused on A (the session is
    # Bob's), unknown on B (sessions stay with one replica). Nothing is posted as either of them.
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    opened = httpx.post(f"{a}/mcp", headers={"Authorization": f"Bearer {bob.access}", "Accept": ACCEPT}, json=init)
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    for url, refused in ((a, 403), (b, 404)):
        said = {"name": "createPosts", "arguments": {"text": f"crossed session on {url}"}}
        crossed = httpx.post(
            f"{url}/mcp",
            headers={
                "Authorization": f"Bearer {alice.access}",
                "Mcp-Session-Id": session,
                "Mcp-Protocol-Version": "2025-11-25",
                "Accept": ACCEPT,
            },
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": said},
        )
        assert crossed.status_code == refused, (url, crossed.status_code, crossed.text)
        assert signers(x, f"crossed session on {url}") == []
    # Alice's refresh token presented by Bob's client on the other replica: no token for anyone. (Being taken
    # when presented, it is then spent for Alice too: a leaked refresh token burns.)
    stolen = refresh(b, bob.client_id, alice.refresh)
    assert stolen.status_code in (400, 401) and "access_token" not in stolen.text, stolen.text
    assert refresh(a, alice.client_id, alice.refresh).status_code == 400
    # An access token altered to name Bob (his user ID in Alice's token's claims): refused on both replicas.
    head, claims, signature = alice.access.split(".")
    body = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    forged_claims = base64.urlsafe_b64encode(json.dumps({**body, "sub": BOB[0]}).encode()).rstrip(b"=").decode()
    forged = f"{head}.{forged_claims}.{signature}"
    assert authorised(a, forged) == 401 and authorised(b, forged) == 401
    # A code issued to Alice on A, exchanged by Bob's client on B: refused.
    code, verifier = sign_in(x, a, alice.client_id, ALICE, public=pair.url)
    taken = httpx.post(
        f"{b}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:9/callback",
            "client_id": bob.client_id,
            "code_verifier": verifier,
        },
    )
    assert taken.status_code in (400, 401) and "access_token" not in taken.text, taken.text
    error, text = posted_as(a, bob.access, "bob still himself")
    assert not error and signers(x, "bob still himself") == [BOB[0]], text


def test_consent_started_on_one_replica_completes_on_the_other(fake: tuple[FakeX, str], pair: Replicas) -> None:
    """/authorize on A, X's redirect back on B (the pending sign-in is in Redis), the code exchanged on A."""
    x, _ = fake
    a, b = pair[0].url, pair[1].url
    alice = sign_in_by_hand(x, a, ALICE, public=pair.url, callback_via=b, exchange_at=a)
    error, text = posted_as(b, alice.access, "consent across replicas")
    assert not error, text
    assert signers(x, "consent across replicas") == [ALICE[0]]
    # The other way round, with the code exchanged on the replica that did not start it.
    bob = sign_in_by_hand(x, b, BOB, public=pair.url, callback_via=a, exchange_at=a)
    assert posted_as(a, bob.access, "consent across, bob")[0] is False
    assert signers(x, "consent across, bob") == [BOB[0]]


def test_a_refresh_token_works_once_when_two_replicas_race_for_it(fake: tuple[FakeX, str], pair: Replicas) -> None:
    x, _ = fake
    alice = sign_in_by_hand(x, pair.url, ALICE)
    token = alice.refresh

    async def race(url: str, token: str, answers: list[httpx.Response]) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": alice.client_id}
            answers.append(await http.post(f"{url}/token", data=form))

    for _ in range(5):
        answers: list[httpx.Response] = []

        async def both(token: str = token, answers: list[httpx.Response] = answers) -> None:
            async with anyio.create_task_group() as group:
                for replica in pair.members:
                    group.start_soon(race, replica.url, token, answers)

        anyio.run(both)
        won = [answer for answer in answers if answer.status_code == 200]
        lost = [answer for answer in answers if answer.status_code != 200]
        assert len(won) == 1 and len(lost) == 1, [(r.status_code, r.text) for r in answers]
        assert lost[0].status_code == 400 and lost[0].json()["error"] == "invalid_grant"
        token = won[0].json()["refresh_token"]
    error, text = posted_as(pair.url, won[0].json()["access_token"], "after the races")
    assert not error and signers(x, "after the races") == [ALICE[0]], text


def test_sign_out_on_one_replica_ends_the_session_on_the_other(fake: tuple[FakeX, str], pair: Replicas) -> None:
    """B keeps a person's record for at most a second: poll until it refuses, never sleep a fixed time. Also the
    planted replay: Alice's access and refresh tokens replayed on the other replica after her sign-out fail."""
    x, _ = fake
    a, b = pair[0].url, pair[1].url
    alice, bob = sign_in_by_hand(x, pair.url, ALICE), sign_in_by_hand(x, pair.url, BOB)
    assert authorised(b, alice.access) != 401  # B has read (and cached) Alice's record
    out = httpx.post(f"{a}/signout", headers={"Authorization": f"Bearer {alice.access}"})
    assert out.status_code == 200 and out.json() == {"signed_out": "@alice_x"}
    until(lambda: authorised(b, alice.access) == 401)
    assert authorised(a, alice.access) == 401  # at once on A
    with pytest.raises(Exception):  # noqa: B017  (the SDK's client: 401 and no way to sign in again)
        posted_as(b, alice.access, "replayed after sign-out")
    assert signers(x, "replayed after sign-out") == []
    for url in (a, b):
        dead = refresh(url, alice.client_id, alice.refresh)
        assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant", dead.text
    error, text = posted_as(b, bob.access, "bob after alice left")
    assert not error and signers(x, "bob after alice left") == [BOB[0]], text


def test_a_replica_killed_mid_run_loses_nobody_and_serves_them_again_once_restarted(
    fake: tuple[FakeX, str], pair: Replicas
) -> None:
    x, _ = fake
    alice, bob = Person(x, ALICE, fresh=True), Person(x, BOB, fresh=True)
    tokens = sign_in_by_hand(x, pair.url, ALICE)

    async def sessions(tag: str) -> None:
        for person in (alice, bob):
            said = f"{person.who[1]} {tag}"
            error, text = await person.session(pair.url, lambda c, s=said: post(c, s))
            assert not error and signers(x, said) == [person.who[0]], text

    anyio.run(sessions, "before the kill")
    pair.kill(0)
    before = len(pair.front.served)
    anyio.run(sessions, "while one replica is down")
    for round_ in range(3):
        error, text = posted_as(pair.url, tokens.access, f"by hand, one replica down {round_}")
        assert not error and signers(x, f"by hand, one replica down {round_}") == [ALICE[0]], text
    assert set(pair.front.served[before:]) == {pair[1].port}  # the survivor served everyone
    pair.restart(0)
    anyio.run(sessions, "after the restart")
    for person in (alice, bob):  # the restarted replica itself, chosen directly
        assert person.storage.tokens is not None
        said = f"{person.who[1]} on the restarted replica"
        error, text = posted_as(pair[0].url, person.storage.tokens.access_token, said)
        assert not error and signers(x, said) == [person.who[0]], text
    assert len(alice.landed) == 1 and len(bob.landed) == 1  # nobody signed in again


@pytest.fixture(scope="module")
def budgeted(
    fake: tuple[FakeX, str], redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    """Two replicas where a person's day fits 4 posts ($0.015 each) and everyone's together 6."""
    server = start_redis(redis_binary, tmp_path_factory.mktemp("redis-budget"))
    try:
        env = {"X_API_BUDGET_USD": "0.06", "X_API_DEPLOYMENT_BUDGET_USD": "0.09"}
        with replicas(2, fake[1], server.url, **env) as group:
            yield group
    finally:
        stop_redis(server.process)


def concurrent_posts(url: str, token: str, texts: list[str]) -> list[tuple[bool, str]]:
    """All `texts` posted at once, each by its own client on new connections (so both replicas take some)."""
    results: list[tuple[bool, str]] = []

    async def one(text: str) -> None:
        results.append(await with_token(url, token, lambda client: post(client, text), fresh=True))

    async def run() -> None:
        async with anyio.create_task_group() as group:
            for text in texts:
                group.start_soon(one, text)

    anyio.run(run)
    return results


def test_budgets_hold_across_replicas_under_concurrency(fake: tuple[FakeX, str], budgeted: Replicas) -> None:
    x, _ = fake
    alice, bob = sign_in_by_hand(x, budgeted.url, ALICE), sign_in_by_hand(x, budgeted.url, BOB)
    before = len(budgeted.front.served)
    # Alice's own budget: 12 posts at once over both replicas, exactly 4 fit.
    texts = [f"alice budget {n}" for n in range(12)]
    results = concurrent_posts(budgeted.url, alice.access, texts)
    sent = [text for text in texts if signers(x, text)]
    refused = [said for error, said in results if error]
    assert len(sent) == 4 and len(refused) == 8, (sent, results)
    assert all("Not sent" in said and "X_API_BUDGET_USD" in said for said in refused), refused
    assert all("wait for the reset" in said and "max_results" not in said for said in refused)  # a write's advice
    assert all(signers(x, text) == [ALICE[0]] for text in sent)
    assert {budgeted[0].port, budgeted[1].port} <= set(budgeted.front.served[before:])
    # The deployment's cap ($0.09, Alice spent $0.06): Bob's own budget would fit 4, everyone's fits 2 more.
    texts = [f"bob budget {n}" for n in range(12)]
    results = concurrent_posts(budgeted.url, bob.access, texts)
    sent = [text for text in texts if signers(x, text)]
    refused = [said for error, said in results if error]
    assert len(sent) == 2 and len(refused) == 10, (sent, results)
    assert all("Not sent" in said and "deployment's $0.090 daily cap" in said for said in refused), refused
    assert all("wait for the reset" in said and "max_results" not in said for said in refused)
    assert all(signers(x, text) == [BOB[0]] for text in sent)


def test_redis_stopped_mid_run_refuses_everyone_then_resumes_without_restarting_replicas(
    fake: tuple[FakeX, str], pair: Replicas, own_redis: OwnRedis
) -> None:
    """Redis stops (after a SAVE to its folder, as a Redis with persistence would have its data on disk):
    /mcp and the auth pages answer 503 + Retry-After naming Redis, nothing reaches X. Redis starts again
    on the same port from that folder: the same replicas serve Alice again, with the tokens she had.
    (Last in this file: it stops the module's Redis.)"""
    x, _ = fake
    alice = sign_in_by_hand(x, pair.url, ALICE)
    error, text = posted_as(pair.url, alice.access, "before redis stopped")
    assert not error, text
    client = redis.Redis.from_url(own_redis.url)
    client.save()
    client.close()
    stop_redis(own_redis.server.process)
    sent = x.count("/2/tweets")
    for replica in pair.members:  # past each replica's one-second copy of Alice's record: 503
        answer = until(lambda url=replica.url: _unavailable(url, alice.access))
        assert "redis" in answer.text.lower() and int(answer.headers["retry-after"]) > 0, answer.text
        form = {"grant_type": "refresh_token", "refresh_token": alice.refresh, "client_id": alice.client_id}
        refused = httpx.post(f"{replica.url}/token", data=form)
        assert refused.status_code == 503 and "retry-after" in refused.headers, refused.text
    with pytest.raises(Exception):  # noqa: B017  (the SDK's client: 503)
        posted_as(pair.url, alice.access, "while redis is down")
    assert x.count("/2/tweets") == sent and signers(x, "while redis is down") == []
    own_redis.server = start_redis(own_redis.binary, own_redis.folder, port=own_redis.server.port)
    assert own_redis.url.endswith(f":{own_redis.server.port}/0")
    for replica in pair.members:
        until(lambda url=replica.url: authorised(url, alice.access) not in (401, 503))
        said = f"after redis came back, on {replica.port}"
        error, text = posted_as(replica.url, alice.access, said)
        assert not error and signers(x, said) == [ALICE[0]], text
    renewed = refresh(pair.url, alice.client_id, alice.refresh)
    assert renewed.status_code == 200, renewed.text


def _unavailable(url: str, token: str) -> httpx.Response | None:
    answer = httpx.post(f"{url}/mcp", headers={"Authorization": f"Bearer {token}"}, json=PING)
    return answer if answer.status_code == 503 else None
