"""Several xapi-mcp replicas in remote mode on one Redis, behind a round-robin TCP front, and the by-hand
sign-in helpers the remote-mode tests share (tests/test_remote_auth.py, tests/test_replicas.py, benchmarks).

- `replicas(n, x_url, redis_url, **env)`: n `server.py` subprocesses (http, 127.0.0.1, free ports), all with
  X_MCP_PUBLIC_URL = the front, the same token keys and the same Redis; kill one (SIGKILL), restart it.
- `Front`: an L4 load balancer (as in docs/deploy.md): each new TCP connection goes to the next live
  replica. A client that opens a connection per request (`NO_KEEPALIVE`) alternates replicas.
- `sign_in` / `sign_in_by_hand`: register, /authorize -> X's (fake) consent -> callback -> code -> /token
  with PKCE; the callback can be sent to another replica than the /authorize.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2 as httpx
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from tests import fake_x as fx
from tests.fake_x import FakeX
from tests.servers import PIDS, run_xapi_mcp, server_env

REDIRECT = "http://127.0.0.1:9/callback"  # the MCP client's loopback redirect (never actually served)
CIMD_URL = "https://client.example/xapi-mcp-test-client.json"
ALICE, BOB = ("1001", "alice_x"), ("2002", "bob_x")
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)  # a new connection per request: the front alternates
MCP_TIMEOUT = httpx.Timeout(30, read=300)  # as the SDK's create_mcp_http_client


# --- the front: a round-robin TCP proxy --------------------------------------------------------------
class Front:
    """A round-robin TCP proxy on 127.0.0.1 (asyncio streams in a daemon thread): each new connection goes
    to the next replica port that accepts it (a refused connect tries the next one). `served` lists the
    replica port each connection went to, in order."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.served: list[int] = []
        self._next = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="front")

    def start(self) -> Front:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the front proxy did not start")
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._sock.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._connected, sock=self._sock))
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = None
        for _ in range(len(self.ports)):
            port = self.ports[self._next % len(self.ports)]
            self._next += 1
            try:
                upstream = await asyncio.open_connection("127.0.0.1", port)
            except OSError:  # refused: that replica is down, try the next one
                continue
            self.served.append(port)
            break
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until either side ends, then close the sink (its reader then ends the other direction)."""
    with suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    with suppress(OSError):
        sink.close()


# --- the replicas -----------------------------------------------------------------------------------
@dataclass
class Replica:
    port: int
    stack: ExitStack = field(default_factory=ExitStack)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return PIDS.get(f"{self.url}/mcp")


@dataclass
class Replicas:
    """Running replicas behind `front`; `url` is the public URL (the front's)."""

    front: Front
    env: dict[str, str]
    members: list[Replica]

    @property
    def url(self) -> str:
        return self.front.url

    def __getitem__(self, index: int) -> Replica:
        return self.members[index]

    def kill(self, index: int) -> None:
        """SIGKILL, not a graceful shutdown: nothing is flushed, nothing said goodbye."""
        replica = self.members[index]
        if replica.pid is not None:
            os.kill(replica.pid, signal.SIGKILL)
        replica.stack.close()  # reaps the process (already dead: no further signal)

    def restart(self, index: int) -> None:
        """Start that replica again on its own port (the front sends it connections again)."""
        replica = self.members[index]
        replica.stack = ExitStack()
        replica.stack.enter_context(run_xapi_mcp(self.env, port=replica.port))


def replica_env(x_url: str, redis_url: str, public_url: str, **extra: str) -> dict[str, str]:
    """Remote mode on Redis, as every replica of one deployment has it: same public URL, same keys."""
    token_key, token_keys = secrets.token_urlsafe(32), base64.b64encode(os.urandom(32)).decode()
    fx.ISSUED_SECRETS.extend((token_key, token_keys))  # the session-end log scan looks for them too
    env = server_env(
        x_url,
        X_MCP_AUTH="oauth",
        X_MCP_PUBLIC_URL=public_url,
        X_MCP_SIGNIN_ALLOW=f"{ALICE[0]},@{BOB[1]}",
        X_MCP_CLIENT_METADATA_HOSTS="client.example",
        X_MCP_REDIS_URL=redis_url,
        X_MCP_TOKEN_KEY=token_key,
        X_MCP_TOKEN_KEYS=token_keys,
        X_API_TOOL_ALLOWLIST="createPosts,getUsersMe,findUserByUsername",
    )
    for name in ("X_OAUTH_ACCESS_TOKEN", "X_OAUTH_ACCESS_TOKEN_SECRET"):
        env.pop(name)
    return {**env, **extra}


@contextmanager
def replicas(n: int, x_url: str, redis_url: str, **env: str) -> Iterator[Replicas]:
    """n replicas (started in parallel) behind a new front; `env` adds to or overrides `replica_env`."""
    front = Front().start()
    group = Replicas(front, replica_env(x_url, redis_url, front.url, **env), [])
    try:
        with ThreadPoolExecutor(n) as pool:
            stacks = [ExitStack() for _ in range(n)]
            started = [pool.submit(stack.enter_context, run_xapi_mcp(group.env)) for stack in stacks]
            for stack, future in zip(stacks, started, strict=True):
                try:
                    url = future.result()
                except Exception:
                    for other in stacks:
                        other.close()
                    raise
                group.members.append(Replica(int(urlsplit(url).port or 0), stack))
        front.ports = [replica.port for replica in group.members]
        yield group
    finally:
        with ThreadPoolExecutor(max(1, len(group.members))) as pool:  # each waits for its process to end
            list(pool.map(lambda replica: replica.stack.close(), group.members))
        front.close()


# --- signing in by hand -----------------------------------------------------------------------------
def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register(url: str) -> str:
    answer = httpx.post(
        f"{url}/register",
        json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "client_name": "by hand"},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client_id"])


def sign_in(
    fake: FakeX | None,
    url: str,
    client_id: str,
    who: tuple[str, str] | None,
    *,
    public: str | None = None,
    callback_via: str | None = None,
    **extra: str,
) -> tuple[str, str]:
    """The authorization request by hand to `url`, through X's consent: (code, verifier), or the error's query.

    `public`: the deployment's public URL (the resource; default `url`). `callback_via`: the base URL that
    receives X's redirect back (another replica), instead of the public URL X was told."""
    public = public or url
    verifier, challenge = pkce()
    if fake is not None and who is not None:  # else the fake X (in another process) names the next person itself
        fake.next_people[:] = [who]  # who clicks Authorize at X (if the request gets that far)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": f"{public}/mcp",
        **extra,
    }
    location = f"{url}/authorize?" + httpx.QueryParams(params).__str__()
    while not location.startswith(REDIRECT):
        if callback_via is not None and location.startswith(public + "/"):
            location = callback_via + location[len(public) :]
        answer = httpx.get(location)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
    query = parse_qs(urlsplit(location).query)
    return (query["code"][0] if "code" in query else f"error={query['error'][0]}"), verifier


def exchange(url: str, client_id: str, code: str, verifier: str, **extra: str) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id}
    return httpx.post(f"{url}/token", data={**form, "code_verifier": verifier, **extra})


def refresh(url: str, client_id: str, refresh_token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return httpx.post(f"{url}/token", data=form)


@dataclass(frozen=True)
class Tokens:
    who: tuple[str, str]
    client_id: str
    access: str
    refresh: str


def sign_in_by_hand(
    fake: FakeX,
    url: str,
    who: tuple[str, str],
    *,
    public: str | None = None,
    callback_via: str | None = None,
    exchange_at: str | None = None,
    client_id: str | None = None,
) -> Tokens:
    """Register (unless `client_id`), sign `who` in at `url` (X's callback to `callback_via` if given), and
    exchange the code at `exchange_at` (default `url`): the access and refresh tokens."""
    client_id = client_id or register(url)
    code, verifier = sign_in(fake, url, client_id, who, public=public, callback_via=callback_via)
    assert not code.startswith("error="), code
    answer = exchange(exchange_at or url, client_id, code, verifier)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return Tokens(who, client_id, body["access_token"], body["refresh_token"])


# --- MCP clients ------------------------------------------------------------------------------------
def mcp_http(*, auth: httpx.Auth | None = None, headers: dict[str, str] | None = None, fresh: bool = False) -> Any:
    """The SDK's HTTP client; `fresh`: a new connection per request (through the front: alternating replicas)."""
    if not fresh:
        return create_mcp_http_client(headers=headers, auth=auth)
    return httpx.AsyncClient(timeout=MCP_TIMEOUT, headers=headers, auth=auth, limits=NO_KEEPALIVE)


async def post(client: Client, text: str) -> tuple[bool, str]:
    result = await client.call_tool("createPosts", {"text": text})
    return bool(result.is_error), result.content[0].text  # type: ignore[union-attr]


def signers(fake: FakeX, text: str) -> list[str | None]:
    return [r.signer for r in fake.requests if r.path == "/2/tweets" and (r.body or {}).get("text") == text]


async def with_token(url: str, token: str, action: Callable[[Client], Awaitable[Any]], fresh: bool = False) -> Any:
    """`action(client)` on an MCP client that sends this bearer token (no OAuth provider)."""
    http = mcp_http(headers={"Authorization": f"Bearer {token}"}, fresh=fresh)
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        return await action(client)


def mcp_call(url: str, token: str, text: str) -> int:
    """Post `text` with a bearer token (the SDK's client, no OAuth provider): the HTTP status of /mcp."""
    answer = httpx.post(
        f"{url}/mcp",
        headers={"Authorization": f"Bearer {token}"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    if answer.status_code in (401, 403, 503):  # refused before MCP reads the message
        return answer.status_code

    async def run() -> None:
        error, said = await with_token(url, token, lambda client: post(client, text))
        assert not error, said

    anyio.run(run)
    return 200


@dataclass
class Storage:
    tokens: OAuthToken | None = None
    client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@dataclass
class Person:
    """A person with an MCP client (the SDK's OAuthClientProvider): the browser clicks through X's consent
    (the fake's) at once. `fresh`: every HTTP request on a new connection (through a front: alternating)."""

    fake: FakeX
    who: tuple[str, str]
    cimd: bool = False
    fresh: bool = False
    storage: Storage = field(default_factory=Storage)
    landed: list[str] = field(default_factory=list)  # where the browser ended: the client's redirect URI

    async def open_browser(self, url: str) -> None:
        self.fake.next_people[:] = [self.who]
        limits = NO_KEEPALIVE if self.fresh else httpx.Limits(max_connections=100, max_keepalive_connections=20)
        async with httpx.AsyncClient(timeout=10, limits=limits) as browser:
            while not url.startswith(REDIRECT):
                response = await browser.get(url)
                assert response.status_code in (302, 303), (response.status_code, response.text)
                url = response.headers["location"]
        self.landed.append(url)

    async def callback(self) -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(self.landed[-1]).query)
        assert "code" in query, query
        return AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0])

    def provider(self, url: str) -> OAuthClientProvider:
        metadata = OAuthClientMetadata(
            redirect_uris=[REDIRECT],  # type: ignore[list-item]
            client_name=f"test client of {self.who[1]}",
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        )
        return OAuthClientProvider(
            f"{url}/mcp",
            metadata,
            self.storage,
            self.open_browser,
            self.callback,
            client_metadata_url=CIMD_URL if self.cimd else None,
        )

    async def session(self, url: str, action: Any) -> Any:
        http = mcp_http(auth=self.provider(url), fresh=self.fresh)
        async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            return await action(client)
