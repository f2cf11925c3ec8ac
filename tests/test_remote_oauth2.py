"""Remote mode with X_OAUTH2_CLIENT_ID: people sign in with X's OAuth 2.0 (code + PKCE), and each person's
calls carry that person's OAuth 2.0 user token, refreshed when X answers 401 or the token has expired, and
shared by replicas through Redis (the X callback may land on another replica; two replicas may race to
refresh, and X accepts only one)."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
import redis.asyncio as aioredis
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests import fake_x as fx
from tests.fake_x import FakeX
from tests.servers import free_port, serve_asgi
from tests.test_remote_auth import ALICE, BOB, REDIRECT, Person, metadata_documents, post, register, remote_settings
from tests.test_remote_auth import sign_in as sign_in_by_hand
from xapi_mcp.app import App, build, load
from xapi_mcp.auth.people import Person as XPerson
from xapi_mcp.auth.people import PersonStore, acting_as
from xapi_mcp.auth.remote_state_redis import RedisRemoteState
from xapi_mcp.auth.signin import Allowed
from xapi_mcp.auth.signin_oauth2 import XSignInOAuth2
from xapi_mcp.auth.vault import Vault
from xapi_mcp.server.http import build_app
from xapi_mcp.server.remote import SignInAgain
from xapi_mcp.stores import CredentialKind, MemoryTokenStore
from xapi_mcp.tools.tooldef import AuthRequirement


def oauth2_settings(x_url: str, port: int, tmp_path: Path, **extra: str) -> Any:
    return remote_settings(
        x_url,
        port,
        tmp_path,
        X_OAUTH2_CLIENT_ID=fx.OAUTH2_CLIENT_ID,
        X_OAUTH2_CLIENT_SECRET=fx.OAUTH2_CLIENT_SECRET,
        X_OAUTH2_AUTHORIZE_URL=f"{x_url}/2/oauth2/authorize",
        **extra,
    )


@contextmanager
def served(app: App, port: int | None = None) -> Iterator[str]:
    """`app` over HTTP as app.serve_http builds it in remote mode (closed on its own event loop)."""
    app.remote.documents = metadata_documents()
    http_app = build_app(
        app.server,
        host="127.0.0.1",
        health=dict,
        on_shutdown=app.aclose,
        extra_routes=app.remote.routes(),
        guard=app.remote.guard,
    )
    with serve_asgi(http_app, port) as url:
        yield url


@pytest.fixture
def remote2(fake_x: tuple[FakeX, str], tmp_path: Path) -> Iterator[tuple[FakeX, str, App]]:
    fake, x_url = fake_x
    port = free_port()
    app = build(load(oauth2_settings(x_url, port, tmp_path)))
    with served(app, port) as url:
        yield fake, url, app


def tweets(fake: FakeX, text: str) -> list[tuple[str, str | None, str]]:
    """(credential kind, whose token, bearer value) of each request that posted `text`, in order."""
    return [
        (r.auth_kind, r.signer, r.headers.get("authorization", ""))
        for r in fake.requests
        if r.path == "/2/tweets" and (r.body or {}).get("text") == text
    ]


def post_with(url: str, access_token: str, text: str) -> tuple[bool, str]:
    """Post `text` with an MCP access token already held (no OAuth provider): (is_error, text)."""

    async def run() -> tuple[bool, str]:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {access_token}"})
        async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            return await post(client, text)

    return anyio.run(run)


def test_sdk_client_signs_in_through_x_oauth2_and_calls_carry_that_persons_token(
    remote2: tuple[FakeX, str, App],
) -> None:
    fake, url, app = remote2
    alice, bob = Person(fake, ALICE), Person(fake, BOB, cimd=True)

    async def run() -> None:
        for person in (alice, bob):
            error, text = await person.session(url, lambda c, p=person: post(c, f"hello from {p.who[1]}"))
            assert not error, text

    anyio.run(run)
    # No OAuth 1.0a anywhere: X's OAuth 2.0 consent, a code exchanged with PKCE at our registered callback.
    assert fake.count("/oauth/request_token") == 0
    codes = [r for r in fake.token_requests if r["grant_type"] == "authorization_code"]
    assert len(codes) == 2 and all(r["redirect_uri"] == f"{url}/oauth2/callback" and r["code_verifier"] for r in codes)
    scopes = set(app.remote.signin.scope.split())
    assert {"tweet.write", "users.read", "tweet.read", "offline.access"} <= scopes
    # Each call carried the OAuth 2.0 user token X issued to the person who made it, and no other.
    for person in (alice, bob):
        [(kind, owner, _)] = tweets(fake, f"hello from {person.who[1]}")
        assert (kind, owner) == ("oauth2-user", person.who[0])
    assert len(alice.landed) == 1 and len(bob.landed) == 1


def test_only_listed_people_may_sign_in_with_oauth2(remote2: tuple[FakeX, str, App]) -> None:
    fake, url, app = remote2
    refused, _ = sign_in_by_hand(fake, url, register(url), ("3003", "mallory"))
    assert refused == "error=access_denied"
    assert fake.count("/2/users/me") == 1  # X was asked who signed in; then nothing was kept for them
    assert not [key for key in app.remote.state._records if key[0] == "person"]


def test_a_401_or_an_expired_token_is_refreshed_and_the_call_goes_through(remote2: tuple[FakeX, str, App]) -> None:
    fake, url, app = remote2
    alice = Person(fake, ALICE)
    anyio.run(alice.session, url, lambda c: post(c, "first"))
    assert alice.storage.tokens is not None
    mcp_token = alice.storage.tokens.access_token
    [(_, _, first)] = tweets(fake, "first")
    # X stops taking the token (revoked, or expired earlier than said): 401, one refresh, the call is sent again.
    fake.oauth2_tokens.discard(first.removeprefix("Bearer "))
    error, text = post_with(url, mcp_token, "after a 401")
    assert not error, text
    sent = tweets(fake, "after a 401")
    assert [kind for kind, _, _ in sent] == ["unknown-bearer", "oauth2-user"] and sent[1][1] == ALICE[0]
    assert len(fake.refreshed) == 1
    # The new tokens were written back: the next call uses them without another refresh.
    assert not post_with(url, mcp_token, "reused")[0]
    assert tweets(fake, "reused")[0][2] == sent[1][2] and len(fake.refreshed) == 1
    # Two calls of hers at once both get a 401: one refresh; the other call uses its tokens.
    fake.oauth2_tokens.discard(sent[1][2].removeprefix("Bearer "))

    async def two_at_once() -> None:
        async with anyio.create_task_group() as group:
            for i in range(2):
                group.start_soon(anyio.to_thread.run_sync, post_with, url, mcp_token, f"at once {i}")

    anyio.run(two_at_once)
    assert [tweets(fake, f"at once {i}")[-1][0] for i in range(2)] == ["oauth2-user"] * 2
    assert len(fake.refreshed) == 2
    # Past its expiry: refreshed before the request is sent (X never sees the old token again).
    record = anyio.run(app.remote.state.get, "person", ALICE[0])
    anyio.run(app.remote.state.put, "person", ALICE[0], {**record, "expires_at": int(time.time()) - 1}, None)
    assert not post_with(url, mcp_token, "after expiry")[0]
    [(kind, owner, bearer)] = tweets(fake, "after expiry")
    assert (kind, owner) == ("oauth2-user", ALICE[0]) and bearer != sent[1][2] and len(fake.refreshed) == 3


def test_oauth1_only_tools_say_the_person_signed_in_with_oauth2() -> None:
    people = PersonStore(MemoryTokenStore(consumer_key="ck", consumer_secret="cs"))
    prompt = SignInAgain(people)
    only_oauth1 = AuthRequirement((CredentialKind.OAUTH1_USER,))
    with acting_as(people.for_oauth2(XPerson("1001", "alice_x"), "o2-token", "o2-refresh"), "1001"):
        said = anyio.run(prompt.prompt, only_oauth1)
        assert said is not None and "OAuth 1.0a" in said and "signed in with X's OAuth 2.0" in said
    with acting_as(people.for_person(XPerson("1001", "alice_x"), "t", "s"), "1001"):
        said = anyio.run(prompt.prompt, only_oauth1)
        assert said is not None and "OAuth 2.0" not in said


# --- two replicas sharing one Redis -----------------------------------------------------------------


@dataclass
class Hopping(Person):
    """A browser whose X redirect lands on another replica (the load balancer chose it)."""

    other: str = ""
    callbacks: list[str] = field(default_factory=list)  # X's redirects, as the browser followed them

    async def open_browser(self, url: str) -> None:
        self.fake.next_people[:] = [self.who]
        async with httpx.AsyncClient(timeout=10) as browser:
            while not url.startswith(REDIRECT):
                if "/oauth2/callback?" in url:
                    url = self.other + url[url.index("/oauth2/callback?") :]
                    self.callbacks.append(url)
                response = await browser.get(url)
                assert response.status_code in (302, 303), (response.status_code, response.text)
                url = response.headers["location"]
        self.landed.append(url)


@pytest.mark.redis
def test_two_replicas_callback_elsewhere_and_one_refresh_wins_the_race(
    fake_x: tuple[FakeX, str], redis_url: str, tmp_path: Path
) -> None:
    fake, x_url = fake_x
    port = free_port()
    keys = base64.b64encode(os.urandom(32)).decode()
    settings = oauth2_settings(
        x_url, port, tmp_path, X_MCP_REDIS_URL=redis_url, X_MCP_TOKEN_KEY="k" * 48, X_MCP_TOKEN_KEYS=keys
    )
    startup = load(settings)
    with served(build(startup), port) as one, served(build(startup)) as two:
        alice = Hopping(fake, ALICE, other=two)
        anyio.run(alice.session, one, lambda c: post(c, "signed in on two"))
        assert alice.storage.tokens is not None
        mcp_token = alice.storage.tokens.access_token
        # The pending sign-in was written by replica one and taken by replica two (where X sent the browser).
        assert alice.landed and "code=" in alice.landed[0] and alice.callbacks[0].startswith(two)
        replayed = httpx.get(one + alice.callbacks[0].removeprefix(two))  # accepted once, on any replica
        assert replayed.status_code == 400 and "no sign-in in progress" in replayed.text
        for n, url in enumerate((one, two, one, two)):
            assert not post_with(url, mcp_token, f"call {n}")[0]
            assert [(k, o) for k, o, _ in tweets(fake, f"call {n}")] == [("oauth2-user", ALICE[0])]
        # X stops taking the token; both replicas get a 401 at once and both try to refresh.
        fake.oauth2_tokens.discard(tweets(fake, "call 0")[0][2].removeprefix("Bearer "))

        async def both() -> list[tuple[bool, str]]:
            results: list[tuple[bool, str]] = [(True, "")] * 2

            async def call(i: int, url: str) -> None:
                results[i] = await anyio.to_thread.run_sync(post_with, url, mcp_token, f"race {i}")

            async with anyio.create_task_group() as group:
                for i, url in enumerate((one, two)):
                    group.start_soon(call, i, url)
            return results

        results = anyio.run(both)
        assert all(not error for error, _ in results), results
        assert len(fake.refreshed) == 1  # X accepted one refresh; the other replica used the winner's tokens
        finals = [tweets(fake, f"race {i}")[-1] for i in range(2)]
        assert {(k, o) for k, o, _ in finals} == {("oauth2-user", ALICE[0])} and finals[0][2] == finals[1][2]


@pytest.mark.redis
def test_the_loser_of_a_refresh_race_uses_the_tokens_the_winner_stores(
    fake_x: tuple[FakeX, str], redis_url: str
) -> None:
    fake, x_url = fake_x
    fake.oauth2_tokens.add("o2-old")
    fake.oauth2_refresh.add("o2r-old")
    fake.oauth2_owner["o2r-old"] = ALICE
    old = {"oauth2_token": "o2-old", "oauth2_refresh": "o2r-old", "expires_at": None, "screen_name": ALICE[1]}

    async def run() -> None:
        clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
        vault = Vault([os.urandom(32)])
        winner_state, loser_state = (RedisRemoteState(c, vault) for c in clients)
        loser = XSignInOAuth2(
            loser_state,
            client_id=fx.OAUTH2_CLIENT_ID,
            client_secret=fx.OAUTH2_CLIENT_SECRET,
            authorize_url=f"{x_url}/2/oauth2/authorize",
            token_url=f"{x_url}/2/oauth2/token",
            api_base_url=x_url,
            callback_url="http://127.0.0.1:9/oauth2/callback",
            scopes=(),
            allowed=Allowed("*"),
        )
        try:
            await winner_state.put("person", ALICE[0], old, None)
            assert await loser_state.get("person", ALICE[0]) == old  # the loser holds the old record
            # The winner's refresh at X (X rotates the refresh token) ...
            async with httpx.AsyncClient(auth=(fx.OAUTH2_CLIENT_ID, fx.OAUTH2_CLIENT_SECRET)) as x:
                won = (
                    await x.post(
                        f"{x_url}/2/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "o2r-old"}
                    )
                ).json()

            async def store_later() -> None:  # ... whose new tokens reach Redis a moment after the loser's try
                await asyncio.sleep(0.3)
                await winner_state.put(
                    "person",
                    ALICE[0],
                    {**old, "oauth2_token": won["access_token"], "oauth2_refresh": won["refresh_token"]},
                    None,
                )

            later = asyncio.create_task(store_later())
            record = await loser.refresh(ALICE[0], "o2-old")
            await later
            assert record is not None and record["oauth2_token"] == won["access_token"]
        finally:
            for client in clients:
                await client.aclose()

    asyncio.run(run())
    attempts = [r for r in fake.token_requests if r["grant_type"] == "refresh_token"]
    assert len(attempts) == 2 and fake.refreshed == ["o2r-old"]  # the loser's try was refused (invalid_grant)


def test_an_oauth2_client_id_alone_is_enough_to_sign_people_in(tmp_path: Path) -> None:
    from xapi_mcp.errors import ConfigError

    no_keys = {"X_OAUTH_CONSUMER_KEY": "", "X_OAUTH_CONSUMER_SECRET": ""}
    app = build(load(oauth2_settings("http://127.0.0.1:9", 8000, tmp_path, **no_keys)))
    assert isinstance(app.remote.signin, XSignInOAuth2) and app.remote.callback_path == "/oauth2/callback"
    anyio.run(app.aclose)
    settings = remote_settings("http://127.0.0.1:9", 8000, tmp_path, **no_keys)
    with pytest.raises(ConfigError, match="X_OAUTH2_CLIENT_ID"):
        build(load(settings))
