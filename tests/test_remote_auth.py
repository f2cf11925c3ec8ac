"""Remote mode (X_MCP_AUTH=oauth): the MCP SDK's own OAuth client signs in through our fake X consent,
and each person's tool calls are signed with that person's X token and no one else's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2 as httpx
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests import fake_x as fx
from tests.fake_x import FakeX
from tests.replicas import (
    ALICE,
    BOB,
    CIMD_URL,
    REDIRECT,
    Person,
    exchange,
    mcp_call,
    pkce,
    post,
    register,
    sign_in,
    signers,
)
from tests.servers import LOG_DIR, SPEC_159, free_port, serve_asgi, server_env
from xapi_mcp.app import App, build, load
from xapi_mcp.auth.cimd import ClientMetadataDocuments
from xapi_mcp.config import Settings
from xapi_mcp.errors import ConfigError
from xapi_mcp.server.http import build_app

CLIENT_INFO = {"name": "by hand", "version": "1"}


def remote_settings(x_url: str, port: int, tmp_path: Path, **extra: str) -> Settings:
    env = server_env(
        x_url,
        X_API_SPEC=str(SPEC_159),
        X_API_SPEC_CACHE_DIR=str(tmp_path),
        X_MCP_AUTH="oauth",
        X_MCP_PUBLIC_URL=f"http://127.0.0.1:{port}",
        X_MCP_SIGNIN_ALLOW=f"{ALICE[0]},@{BOB[1]}",
        X_MCP_CLIENT_METADATA_HOSTS="client.example",
        MCP_PORT=str(port),
        X_API_TOOL_ALLOWLIST="createPosts,getUsersMe,findUserByUsername",
    )
    for name in ("X_OAUTH_ACCESS_TOKEN", "X_OAUTH_ACCESS_TOKEN_SECRET"):
        env.pop(name)
    return Settings.load(env={**env, **extra}, dotenv_path=None)


def metadata_documents() -> ClientMetadataDocuments:
    """The CIMD host, served in process (the document is at an https URL the test cannot serve for real)."""

    async def document(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "client_id": CIMD_URL,
                "client_name": "CIMD test client",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }
        )

    site = Starlette(routes=[Route("/xapi-mcp-test-client.json", document)])
    return ClientMetadataDocuments("client.example", httpx.AsyncClient(transport=httpx.ASGITransport(site)))


@pytest.fixture
def remote(fake_x: tuple[FakeX, str], tmp_path: Path) -> Iterator[tuple[FakeX, str, App]]:
    fake, x_url = fake_x
    port = free_port()
    app = build(load(remote_settings(x_url, port, tmp_path)))
    app.remote.documents = metadata_documents()
    http_app = build_app(
        app.server, host="127.0.0.1", health=dict, extra_routes=app.remote.routes(), guard=app.remote.guard
    )  # as app.serve_http builds it in remote mode
    with serve_asgi(http_app, port) as url:
        yield fake, url, app


def test_sdk_oauth_client_signs_in_through_x_and_each_person_acts_only_as_themselves(
    remote: tuple[FakeX, str, App],
) -> None:
    fake, url, _ = remote
    alice, bob = Person(fake, ALICE), Person(fake, BOB, cimd=True)

    async def run() -> None:
        async def listed_then_posted(client: Client) -> tuple[set[str], tuple[bool, str]]:
            tools = await client.list_tools()
            return {tool.name for tool in tools.tools}, await post(client, "first post")

        names, (error, text) = await alice.session(url, listed_then_posted)
        assert "createPosts" in names and not error, text
        _, (error, text) = await bob.session(url, listed_then_posted)
        assert not error, text
        assert signers(fake, "first post") == [ALICE[0], BOB[0]]
        # Alternate: each person's calls are signed with their own X token, every time.
        for round_ in range(2):
            for person in (alice, bob):
                said = f"{person.who[1]} round {round_}"
                error, text = await person.session(url, lambda c, s=said: post(c, s))
                assert not error, text
                assert signers(fake, said) == [person.who[0]]

    anyio.run(run)
    # Alice registered dynamically (RFC 7591); Bob's client_id is his metadata document's URL (CIMD).
    assert alice.storage.client is not None and not alice.storage.client.client_id.startswith("https://")
    assert bob.storage.client is not None and bob.storage.client.client_id == CIMD_URL
    assert len(alice.landed) == 1 and len(bob.landed) == 1  # one sign-in each: the tokens were reused


def test_unauthenticated_mcp_gets_401_pointing_at_resource_metadata(remote: tuple[FakeX, str, App]) -> None:
    _, url, _ = remote
    answer = httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith(
        "Bearer "
    ) and f'resource_metadata="{url}/.well-known/oauth-protected-resource/mcp"' in (challenge)
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        prm = httpx.get(url + path).json()
        assert prm["resource"] == f"{url}/mcp" and prm["authorization_servers"] == [url]
    asm = httpx.get(f"{url}/.well-known/oauth-authorization-server").json()
    assert asm["issuer"] == url and asm["code_challenge_methods_supported"] == ["S256"]
    assert asm["client_id_metadata_document_supported"] is True and asm["registration_endpoint"] == f"{url}/register"


def test_planted_cross_use_fails(remote: tuple[FakeX, str, App]) -> None:
    fake, url, app = remote
    client_id = register(url)
    code, verifier = sign_in(fake, url, client_id, ALICE)
    first = exchange(url, client_id, code, verifier)
    assert first.status_code == 200, first.text
    alice = first.json()
    # A replayed code is refused (it was taken when used).
    replay = exchange(url, client_id, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # A wrong PKCE verifier is refused, and the code is then gone too.
    code2, _ = sign_in(fake, url, client_id, ALICE)
    wrong = exchange(url, client_id, code2, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # PKCE is required, S256 only: a plain challenge never reaches X.
    requests_before = fake.count("/oauth/request_token")
    plain = httpx.get(
        f"{url}/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "code_challenge": "x" * 43,
            "code_challenge_method": "plain",
        },
    )
    assert plain.status_code == 302 and "error=invalid_request" in plain.headers["location"]
    assert fake.count("/oauth/request_token") == requests_before
    # A redirect URI not registered exactly is refused on a page (never redirected to).
    odd = httpx.get(
        f"{url}/authorize", params={"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT + "/"}
    )
    assert odd.status_code == 400 and "location" not in odd.headers
    # Another audience: no code for another resource, and a token signed for another audience is refused.
    other, _ = sign_in(fake, url, client_id, ALICE, resource="https://elsewhere.example/mcp")
    assert other == "error=invalid_target"
    foreign = _token_for_audience(app, "https://elsewhere.example/mcp", ALICE[0])
    assert mcp_call(url, foreign, "foreign audience") == 401
    # Rotating refresh tokens: the new pair works, the rotated-away refresh token does not.
    refreshed = httpx.post(
        f"{url}/token",
        data={"grant_type": "refresh_token", "refresh_token": alice["refresh_token"], "client_id": client_id},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != alice["refresh_token"]
    again = httpx.post(
        f"{url}/token",
        data={"grant_type": "refresh_token", "refresh_token": alice["refresh_token"], "client_id": client_id},
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # Bob signs in; Alice's token on the session Bob opened is refused.
    bob_code, bob_verifier = sign_in(fake, url, client_id, BOB)
    bob = exchange(url, client_id, bob_code, bob_verifier).json()
    opened = httpx.post(
        f"{url}/mcp",
        headers={"Authorization": f"Bearer {bob['access_token']}", "Accept": "application/json, text/event-stream"},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
    )
    session = opened.headers["mcp-session-id"]
    crossed = httpx.post(
        f"{url}/mcp",
        headers={
            "Authorization": f"Bearer {alice['access_token']}",
            "Mcp-Session-Id": session,
            "Mcp-Protocol-Version": "2025-11-25",
            "Accept": "application/json, text/event-stream",
        },
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    )
    assert crossed.status_code == 403
    # Each token acts only as its person.
    assert mcp_call(url, refreshed.json()["access_token"], "alice by hand") == 200
    assert mcp_call(url, bob["access_token"], "bob by hand") == 200
    assert signers(fake, "alice by hand") == [ALICE[0]] and signers(fake, "bob by hand") == [BOB[0]]
    # Sign-out deletes Alice's X tokens and refresh tokens: her access token stops working at once.
    out = httpx.post(f"{url}/signout", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"})
    assert out.status_code == 200 and out.json() == {"signed_out": "@alice_x"}
    assert mcp_call(url, refreshed.json()["access_token"], "after sign-out") == 401
    gone = httpx.post(
        f"{url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed.json()["refresh_token"],
            "client_id": client_id,
        },
    )
    assert gone.status_code == 400
    assert signers(fake, "after sign-out") == [] and signers(fake, "foreign audience") == []
    assert mcp_call(url, bob["access_token"], "bob still in") == 200


def _token_for_audience(app: App, audience: str, subject: str) -> str:
    """A token signed with the server's own key, but for another resource (as another server would mint)."""
    from xapi_mcp.auth.mcp_as import Client as AsClient
    from xapi_mcp.auth.mcp_as import _Tokens
    from xapi_mcp.auth.people import Person as XPerson

    issuer = app.remote.issuer
    tokens = _Tokens(issuer.issuer, audience, issuer.key, 600)
    minted = tokens(grant_type="authorization_code", client=AsClient("c", [REDIRECT]), user=XPerson(subject))
    return str(minted["access_token"])


def test_who_may_sign_in(remote: tuple[FakeX, str, App]) -> None:
    fake, url, app = remote
    client_id = register(url)
    refused, _ = sign_in(fake, url, client_id, ("3003", "mallory"))
    assert refused == "error=access_denied"
    assert "3003" not in {key[1] for key in app.remote.state._records if key[0] == "person"}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"X_MCP_PUBLIC_URL": ""}, "X_MCP_PUBLIC_URL"),
        ({"X_MCP_PUBLIC_URL": "http://mcp.example.com"}, "plain http"),
        ({"X_MCP_SIGNIN_ALLOW": ""}, "X_MCP_SIGNIN_ALLOW"),
        ({"X_OAUTH_ACCESS_TOKEN": fx.ACCESS_TOKEN, "X_OAUTH_ACCESS_TOKEN_SECRET": fx.ACCESS_TOKEN_SECRET}, "acts only"),
    ],
)
def test_remote_settings_that_cannot_work_stop_startup(tmp_path: Path, extra: dict[str, str], words: str) -> None:
    settings = remote_settings("http://127.0.0.1:9", 8000, tmp_path, **extra)
    with pytest.raises(ConfigError, match=words):
        build(load(settings))


def test_signin_secrets_are_redacted(remote: tuple[FakeX, str, App]) -> None:
    from xapi_mcp.logs import redact

    fake, url, _ = remote
    client_id = register(url)
    code, verifier = sign_in(fake, url, client_id, ALICE)
    issued = exchange(url, client_id, code, verifier).json()
    token, secret = fake.issued[-1]
    assert token not in redact(f"x {token} y {secret}") and secret not in redact(f"x {token} y {secret}")
    assert fx.CONSUMER_SECRET not in redact(fx.CONSUMER_SECRET)
    # authlib logs every token it issues at DEBUG: remote mode keeps its grant loggers above that.
    logged = (LOG_DIR / "in-process.log").read_text()
    assert issued["refresh_token"] not in logged and issued["access_token"] not in logged


def test_person_store_is_the_requesting_persons_tokens_and_outside_a_request_nobodys() -> None:
    from xapi_mcp.auth.people import Person as XPerson
    from xapi_mcp.auth.people import PersonStore, acting_as
    from xapi_mcp.stores import CredentialKind, MemoryTokenStore

    people = PersonStore(MemoryTokenStore(consumer_key="ck", consumer_secret="cs", access_token="owner-token"))
    assert not people.has(CredentialKind.OAUTH1_USER) and people.access_token is None  # never the owner's
    with acting_as(people.for_person(XPerson("1001", "alice_x"), "a-token", "a-secret")):
        assert people.screen_name == "alice_x"  # what a confirmation question names
        assert (people.access_token, people.access_token_secret) == ("a-token", "a-secret")
        with acting_as(people.for_person(XPerson("2002", "bob_x"), "b-token", "b-secret")):
            assert people.screen_name == "bob_x" and people.access_token == "b-token"
        assert people.access_token == "a-token"
    assert people.screen_name is None and people.consumer_key == "ck"
