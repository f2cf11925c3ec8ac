"""Browser consent flows against the fake X API: OAuth 1.0a (lazy, startup, separate port, CLI)
and OAuth 2.0 PKCE with refresh. The "browser" is an HTTP client that follows X's redirects."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from mcp import Client

from tests import fake_x as fx
from tests.fake_x import FakeX
from tests.servers import REPO, SPEC_159, free_port, run_xapi_mcp, server_env
from xapi_mcp.auth.credentials import Signers
from xapi_mcp.auth.oauth1 import ConsentError, OAuth1Flow
from xapi_mcp.stores import CredentialKind, MemoryTokenStore

URL = re.compile(r"(http://127\.0\.0\.1:\d+/(?:oauth/authorize|2/oauth2/authorize)\?[^\s\"'<>]+)")  # X's page
# What a tool result hands out over HTTP: our /oauth/start with a one-time code, which redirects to X.
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/oauth/start\?kind=oauth[12]&nonce=[\w-]+)")


def lazy_env(x_url: str, **extra: str) -> dict[str, str]:
    """Consumer keys but no user tokens: the first user-context call must ask for consent."""
    env = server_env(x_url, X_OAUTH_OPEN_BROWSER="0", **extra)
    env.pop("X_OAUTH_ACCESS_TOKEN")
    env.pop("X_OAUTH_ACCESS_TOKEN_SECRET")
    return env


def call(url: str, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    async def run() -> tuple[bool, str]:
        async with Client(url) as client:
            result = await client.call_tool(name, arguments)
            return result.is_error, result.content[0].text

    return anyio.run(run)


def browser(url: str) -> httpx.Response:
    """What a person's browser does: open X's page, which (in the fake) redirects to the callback."""
    return httpx.get(url, follow_redirects=True, timeout=10)


def test_lazy_consent_then_signed_call_and_no_secret_in_debug_logs(fake_x: tuple[FakeX, str], tmp_path: Path) -> None:
    fake, x_url = fake_x
    log_path = tmp_path / "server.log"
    with run_xapi_mcp(lazy_env(x_url), "-v", log_path=log_path) as mcp_url:
        is_error, text = call(mcp_url, "createPosts", {"text": "first"})
        assert is_error and "no user has authorised xapi-mcp yet" in text
        consent_url = LINK.search(text).group(1)
        assert [r.path for r in fake.requests] == [], "nothing reaches /2 before consent"

        page = browser(consent_url)
        assert page.status_code == 200
        x_page = page.history[0].headers["location"]  # /oauth/start sent the browser to X's page
        assert x_page.startswith(f"{x_url}/oauth/authorize?oauth_token=req-")
        assert f"authorised to act as @{fx.SCREEN_NAME}" in page.text and "close this tab" in page.text

        is_error, text = call(mcp_url, "createPosts", {"text": "second"})
        assert not is_error, text
        (request,) = fake.requests
        assert request.body == {"text": "second"} and request.auth_kind == "oauth1"
        issued_token, issued_secret = fake.issued[0]
        assert f'oauth_token="{issued_token}"' in request.headers["authorization"]

        status = httpx.get(mcp_url.replace("/mcp", "/oauth/status")).json()
        assert status["oauth1_user"] is True and status["screen_name"] == "fake_user" and status["pending"] == []

        replay = httpx.get(page.url)  # the same callback again: reused token
        assert replay.status_code == 400 and "no authorisation in progress" in replay.text
    written = [p for p in (tmp_path, REPO / "tests") for p in p.rglob("*") if p.is_file() and p != log_path]
    assert not [p for p in written if issued_token.encode() in p.read_bytes()], "tokens are never written to disk"
    log = log_path.read_text()
    assert "DEBUG" in log, "the log was captured at DEBUG level"
    for secret in (issued_token, issued_secret, fx.CONSUMER_SECRET, fx.BEARER_TOKEN):
        assert secret not in log
    assert consent_url in log and x_page.split("oauth_token=")[1] in log  # the URLs are logged; no secret is


def test_separate_callback_port_listener_runs_only_while_needed(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    port = free_port()
    env = lazy_env(x_url, X_OAUTH_CALLBACK_PORT=str(port))
    with run_xapi_mcp(env) as mcp_url:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/oauth/callback")  # nothing listens before a flow starts
        is_error, text = call(mcp_url, "likePost", {"id": "42", "tweet_id": "1445880548472328192"})
        assert is_error
        page = browser(LINK.search(text).group(1))
        assert page.status_code == 200 and str(page.url).startswith(f"http://127.0.0.1:{port}/oauth/callback")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the listener stops once the flow has ended
            try:
                httpx.get(f"http://127.0.0.1:{port}/oauth/callback", timeout=1)
            except httpx.ConnectError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the callback listener is still running after the flow ended")
        is_error, text = call(mcp_url, "likePost", {"id": "42", "tweet_id": "1445880548472328192"})
        assert not is_error, text
        assert fake.requests[-1].auth_kind == "oauth1" and fake.requests[-1].body == {"tweet_id": "1445880548472328192"}


def test_startup_mode_consents_before_serving(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    followed: list[int] = []

    def consent_when_asked(log: str) -> None:
        match = URL.search(log)
        if match and not followed:
            followed.append(browser(match.group(1)).status_code)

    env = lazy_env(x_url, X_OAUTH_FLOW="startup")
    with run_xapi_mcp(env, while_waiting=consent_when_asked) as mcp_url:
        assert followed == [200]
        is_error, text = call(mcp_url, "getUsersMe", {})
        assert not is_error, text
        assert fake.requests[-1].auth_kind == "oauth1"


def test_denied_consent_changes_nothing(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    fake.deny = True
    with run_xapi_mcp(lazy_env(x_url)) as mcp_url:
        is_error, text = call(mcp_url, "getUsersMe", {})
        page = browser(LINK.search(text).group(1))
        assert page.status_code == 400 and "You declined to authorise xapi-mcp. Nothing was changed." in page.text
        status = httpx.get(mcp_url.replace("/mcp", "/oauth/status")).json()
        assert status["oauth1_user"] is False and status["pending"] == []
        is_error, text = call(mcp_url, "getUsersMe", {})
        assert is_error and "no user has authorised" in text  # a new flow can start


def test_oauth_start_needs_the_one_time_link_from_a_tool_result(fake_x: tuple[FakeX, str]) -> None:
    """A page on another site cannot start a consent flow: not by a plain link, not with an Origin."""
    fake, x_url = fake_x
    with run_xapi_mcp(lazy_env(x_url)) as mcp_url:
        start, status = mcp_url.replace("/mcp", "/oauth/start"), mcp_url.replace("/mcp", "/oauth/status")
        evil = {"Origin": "http://evil.example"}
        for url, headers, code in (
            (start, {}, 403),  # a top-level navigation from another site: no Origin, no code
            (f"{start}?kind=oauth1&nonce=guessed", {}, 403),
            (f"{start}?kind=oauth2&nonce=", {}, 403),
            (start, evil, 403),
            (start, {"Host": "evil.example"}, 421),
            (status, evil, 403),
            (status, {"Origin": "null"}, 403),
            (status, {"Host": "evil.example"}, 421),
        ):
            response = httpx.get(url, headers=headers, follow_redirects=False)
            assert response.status_code == code, (url, headers, response.text)
        refused = httpx.get(start)
        assert "cannot start an authorisation" in refused.text and "xapi-mcp auth" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
        assert fake.request_tokens == {}, "no refused request reached X"
        assert httpx.get(status).json()["pending"] == []

        _, text = call(mcp_url, "createPosts", {"text": "hi"})
        link = LINK.search(text).group(1)
        assert httpx.get(link, headers=evil, follow_redirects=False).status_code == 403
        wrong = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
        assert httpx.get(wrong, follow_redirects=False).status_code == 403
        response = httpx.get(link, follow_redirects=False)  # the person's click
        assert response.status_code == 302
        assert response.headers["location"].startswith(f"{x_url}/oauth/authorize?oauth_token=req-")
        reused = httpx.get(link, follow_redirects=False)
        assert reused.status_code == 403 and "already used" in reused.text
        assert len(fake.request_tokens) == 1
        assert httpx.get(status).json()["pending"] == ["OAUTH1_USER"]


def test_revoked_user_token_answer_carries_a_link_to_authorise_again(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    env = server_env(x_url, X_OAUTH_OPEN_BROWSER="0", X_OAUTH_ACCESS_TOKEN_SECRET="revoked-secret")
    with run_xapi_mcp(env) as mcp_url:
        is_error, text = call(mcp_url, "getUsersMe", {})
        assert is_error and "X rejected the credentials" in text and "authorise again" in text
        assert fake.requests[-1].auth_kind == "oauth1-bad-signature"
        page = browser(LINK.search(text).group(1))
        assert page.status_code == 200 and f"@{fx.SCREEN_NAME}" in page.text
        is_error, text = call(mcp_url, "getUsersMe", {})
        assert not is_error, text
        assert fake.requests[-1].auth_kind == "oauth1"


def test_oauth2_callback_with_wrong_or_missing_state_changes_nothing(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    fake.oauth2_tokens.clear()
    with run_xapi_mcp(pkce_env(x_url)) as mcp_url:
        _, text = call(mcp_url, "getUsersBookmarks", {"id": "42"})
        x_page = httpx.get(LINK.search(text).group(1)).headers["location"]
        callback = httpx.URL(httpx.get(x_page).headers["location"])  # where X would send the browser
        params = dict(callback.params)
        assert params["state"] and params["code"]
        base = str(callback.copy_with(query=None))
        for bad in (
            {**params, "state": "forged"},
            {"code": params["code"]},
            {**params, "state": ""},
            {"error": "access_denied", "state": "forged"},
            {"error": "access_denied"},
        ):
            page = httpx.get(base, params=bad)
            assert page.status_code == 400 and "does not belong to the authorisation in progress" in page.text, bad
        assert fake.token_requests == [], "no code was exchanged"
        status = httpx.get(mcp_url.replace("/mcp", "/oauth/status")).json()
        assert status["oauth2_user"] is False and status["pending"] == ["OAUTH2_USER"]
        assert httpx.get(base, params=params).status_code == 200  # the real redirect still completes
        assert not call(mcp_url, "getUsersBookmarks", {"id": "42"})[0]


def flow(x_url: str, timeout: float = 60) -> tuple[OAuth1Flow, MemoryTokenStore]:
    store = MemoryTokenStore(consumer_key=fx.CONSUMER_KEY, consumer_secret=fx.CONSUMER_SECRET)
    return OAuth1Flow(store, oauth_base_url=x_url, callback_url="http://127.0.0.1:1/cb", timeout=timeout), store


def redirect_params(consent_url: str) -> dict[str, str]:
    """Ask the fake's authorize page where it would send the browser, without following."""
    location = httpx.get(consent_url, follow_redirects=False).headers["location"]
    return dict(httpx.URL(location).params)


def test_callback_rejections(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x

    async def run() -> None:
        oauth, store = flow(x_url)
        first = await oauth.begin()
        assert await oauth.begin() == first  # one pending flow at a time
        assert len(fake.request_tokens) == 1
        params = redirect_params(first)

        for bad, reason in (
            ({**params, "oauth_token": "req-999"}, "does not belong to the authorisation in progress"),
            ({"oauth_token": params["oauth_token"]}, "has no oauth_verifier"),
            ({**params, "denied": "req-999"}, "does not belong"),
        ):
            result = await oauth.complete(bad)
            assert not result.ok and reason in result.message
            assert not store.has_oauth1_user() and oauth.pending  # nothing changed

        assert (await oauth.complete(params)).ok and store.has_oauth1_user()
        again = await oauth.complete(params)
        assert not again.ok and "no authorisation in progress" in again.message

        expired, store2 = flow(x_url, timeout=0.2)
        params2 = redirect_params(await expired.begin())
        await anyio.sleep(0.3)
        result = await expired.complete(params2)
        assert not result.ok and "expired" in result.message and not store2.has_oauth1_user()

    anyio.run(run)


def test_unconfirmed_callback_is_refused(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    fake.confirm_callback = False

    async def run() -> None:
        oauth, _ = flow(x_url)
        with pytest.raises(ConsentError, match="did not confirm the callback URL"):
            await oauth.begin()

    anyio.run(run)


def test_auth_command_reports_the_account(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    env = lazy_env(x_url, X_OAUTH_CALLBACK_PORT=str(free_port()), X_OAUTH_PRINT_TOKENS="1")
    code, out, err = run_auth(env)
    assert code == 0, err
    token, secret = fake.issued[0]
    assert "Authorised as @fake_user." in out
    assert f"X_OAUTH_ACCESS_TOKEN={token}" in out and f"X_OAUTH_ACCESS_TOKEN_SECRET={secret}" in out
    assert "WARNING: printing secrets because X_OAUTH_PRINT_TOKENS=1" in err


def run_auth(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`xapi-mcp auth ARGS`, consenting in the "browser" when it shows the URL; (code, stdout, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "server.py"), "auth", "--spec", str(SPEC_159), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO / "tests",
    )
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            match = URL.search(line)
            if match:
                assert browser(match.group(1)).status_code == 200
                break
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, "".join(seen) + err


@pytest.mark.parametrize("oauth2", [False, True])
def test_auth_command_says_how_to_keep_the_tokens(fake_x: tuple[FakeX, str], oauth2: bool) -> None:
    _, x_url = fake_x
    env = lazy_env(x_url, X_OAUTH_CALLBACK_PORT=str(free_port()))
    if oauth2:
        env.update({k: v for k, v in pkce_env(x_url).items() if k.startswith("X_OAUTH2_")})
    code, out, err = run_auth(env, *(["--oauth2"] if oauth2 else []))
    assert code == 0, err
    keep = "X_OAUTH_PRINT_TOKENS=1 xapi-mcp auth" + (" --oauth2" if oauth2 else "")
    names = "X_OAUTH2_ACCESS_TOKEN" if oauth2 else "X_OAUTH_ACCESS_TOKEN and X_OAUTH_ACCESS_TOKEN_SECRET"
    assert f"To keep them: run `{keep}` and put the printed {names} into your .env." in out
    assert ("expires 2 hours after it is issued" in err and "offline.access" in err) is oauth2
    assert "X_OAUTH_ACCESS_TOKEN=" not in out and "X_OAUTH2_ACCESS_TOKEN=" not in out  # nothing printed


def pkce_env(x_url: str) -> dict[str, str]:
    return server_env(
        x_url,
        X_OAUTH_OPEN_BROWSER="0",
        X_OAUTH2_CLIENT_ID=fx.OAUTH2_CLIENT_ID,
        X_OAUTH2_CLIENT_SECRET=fx.OAUTH2_CLIENT_SECRET,
        X_OAUTH2_AUTHORIZE_URL=f"{x_url}/2/oauth2/authorize",
    )


def test_pkce_flow_bookmarks_and_refresh_after_401(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    fake.oauth2_tokens.clear()
    with run_xapi_mcp(pkce_env(x_url)) as mcp_url:
        is_error, text = call(mcp_url, "getUsersBookmarks", {"id": "42"})
        assert is_error and "no user has authorised" in text
        consent_url = httpx.get(LINK.search(text).group(1)).headers["location"]  # X's page
        scope = httpx.URL(consent_url).params["scope"].split()
        assert {"bookmark.read", "offline.access"} <= set(scope) and "dm.write" not in scope
        page = browser(consent_url)
        assert page.status_code == 200 and "authorised (OAuth 2.0)" in page.text

        is_error, text = call(mcp_url, "getUsersBookmarks", {"id": "42"})
        assert not is_error, text
        first = fake.requests[-1]
        assert first.path == "/2/users/42/bookmarks" and first.auth_kind == "oauth2-user"
        old_token = first.headers["authorization"].removeprefix("Bearer ")

        fake.oauth2_tokens.discard(old_token)  # X expires the access token
        is_error, text = call(mcp_url, "getUsersBookmarks", {"id": "42"})
        assert not is_error, text
        assert [r.auth_kind for r in fake.requests[-2:]] == ["unknown-bearer", "oauth2-user"]
        assert fake.token_requests[-1]["grant_type"] == "refresh_token"
        # OAuth 1.0a user context is still preferred where the operation accepts it.
        assert not call(mcp_url, "getUsersMe", {})[0] and fake.requests[-1].auth_kind == "oauth1"


def test_oauth2_only_tool_without_client_id_says_what_to_configure(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    with run_xapi_mcp(server_env(x_url, X_OAUTH_OPEN_BROWSER="0")) as mcp_url:
        is_error, text = call(mcp_url, "getUsersBookmarks", {"id": "42"})
    assert is_error and "X_OAUTH2_CLIENT_ID" in text and "bookmark.read" in text
    assert fake.requests == []


def test_bearer_only_tool_never_signed_even_with_user_tokens(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    with run_xapi_mcp(server_env(x_url)) as mcp_url:
        assert not call(mcp_url, "searchPostsAll", {"query": "from:XDevelopers"})[0]
    assert fake.requests[-1].auth_kind == "bearer"


@pytest.mark.parametrize(
    ("consumer_secret", "token_secret", "expected"),
    [
        (fx.CONSUMER_SECRET, fx.ACCESS_TOKEN_SECRET, "oauth1"),
        ("wrong-consumer-secret", fx.ACCESS_TOKEN_SECRET, "oauth1-bad-signature"),
        (fx.CONSUMER_SECRET, "wrong-token-secret", "oauth1-bad-signature"),
    ],
)
def test_fake_x_really_checks_signatures(
    fake_x: tuple[FakeX, str], consumer_secret: str, token_secret: str, expected: str
) -> None:
    """The fake is only a judge if a wrong secret fails: sign with our signer and each secret."""
    fake, x_url = fake_x
    store = MemoryTokenStore(fx.CONSUMER_KEY, consumer_secret, fx.ACCESS_TOKEN, token_secret)
    response = httpx.post(
        f"{x_url}/2/tweets?x=1,2", json={"text": "signed"}, auth=Signers(store).signer(CredentialKind.OAUTH1_USER)
    )
    assert fake.requests[-1].auth_kind == expected
    assert fake.requests[-1].body == {"text": "signed"}
    assert response.status_code == (201 if expected == "oauth1" else 401)


def test_one_port_for_mcp_and_both_callbacks(fake_x: tuple[FakeX, str], tmp_path: Path) -> None:
    """X_OAUTH_CALLBACK_PORT == MCP_PORT (one forwarded port, a container): the MCP app serves the callbacks."""
    fake, x_url = fake_x
    fake.oauth2_tokens.clear()
    port = free_port()
    env = lazy_env(x_url, X_OAUTH_CALLBACK_PORT=str(port))
    env.update({k: v for k, v in pkce_env(x_url).items() if k.startswith("X_OAUTH2_")})
    log_path = tmp_path / "server.log"
    with run_xapi_mcp(env, port=port, log_path=log_path) as mcp_url:
        assert mcp_url == f"http://127.0.0.1:{port}/mcp"
        for tool, arguments, callback, auth_kind in (
            ("createPosts", {"text": "one port"}, "/oauth/callback", "oauth1"),
            ("getUsersBookmarks", {"id": "42"}, "/oauth2/callback", "oauth2-user"),
        ):
            is_error, text = call(mcp_url, tool, arguments)
            assert is_error and "no user has authorised xapi-mcp yet" in text, text
            page = browser(LINK.search(text).group(1))
            assert page.status_code == 200 and str(page.url).startswith(f"http://127.0.0.1:{port}{callback}?")
            is_error, text = call(mcp_url, tool, arguments)
            assert not is_error, text
            assert fake.requests[-1].auth_kind == auth_kind
    assert "Listening for the OAuth callback" not in log_path.read_text()  # no second listener
