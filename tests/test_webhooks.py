"""X's webhook URL on the HTTP app: the CRC answer X's docs specify, events logged in one line, and the
consumer secret in no answer and no log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx2 as httpx
import pytest

from tests import fake_x as fx
from tests.fake_x import FakeX
from tests.servers import LOG_DIR, SPEC_159, free_port, run_cli, run_xapi_mcp, server_env

EVENT = {"for_user_id": "2244994945", "tweet_create_events": [{"id_str": "1", "text": "a private draft text"}]}


def expected_token(crc_token: str) -> str:
    """X's docs: sha256= + base64(HMAC-SHA256(key = consumer secret, message = crc_token))."""
    digest = hmac.new(fx.CONSUMER_SECRET.encode(), crc_token.encode(), hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def leaks(response: httpx.Response) -> bool:
    shown = response.content + b"".join(k + b": " + v for k, v in response.headers.raw)
    return fx.CONSUMER_SECRET.encode() in shown


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(fx.CONSUMER_SECRET.encode(), body, hashlib.sha256).digest()
    return {"x-twitter-webhooks-signature": "sha256=" + base64.b64encode(digest).decode()}


def test_crc_answer_events_and_guards_on_loopback(fake_x: tuple[FakeX, str]) -> None:
    _, x_url = fake_x
    log_path = LOG_DIR / f"webhooks-{free_port()}.log"
    with run_xapi_mcp(server_env(x_url), log_path=log_path) as url:
        hook = url.replace("/mcp", "/webhooks/x")
        answers = []
        # A known vector, and X's request as it arrives through a proxy or tunnel: the public host name.
        for token in ("challenge-123", "UmVhbGx5IGEgdGVzdA=="):
            answers.append(httpx.get(hook, params={"crc_token": token}, headers={"Host": "hooks.example.com"}))
            assert answers[-1].status_code == 200
            assert answers[-1].json() == {"response_token": expected_token(token)}
        missing = httpx.get(hook)
        assert missing.status_code == 400 and "Missing crc_token" in missing.json()["error"]
        assert "GET /webhooks/x?crc_token=" in missing.json()["error"]
        # A token shaped like an event would make the answer a valid signature of a forged event.
        forged = httpx.get(hook, params={"crc_token": json.dumps(EVENT)})
        assert forged.status_code == 400 and "JSON document" in forged.json()["error"]
        # A web page in a browser is refused, as on every route.
        page = httpx.get(hook, params={"crc_token": "t"}, headers={"Origin": "http://evil.example"})
        assert page.status_code == 403
        body = json.dumps(EVENT).encode()
        events = [
            httpx.post(hook, content=body, headers={**signed(body), "Host": "hooks.example.com"}),
            httpx.post(hook, content=body),
            httpx.post(hook, content=body, headers={"x-twitter-webhooks-signature": "sha256=bm9wZQ=="}),
        ]
        assert [e.status_code for e in events] == [200, 200, 200]
        answers += [missing, forged, page, *events]
    assert not [r for r in answers if leaks(r)]
    log = log_path.read_text()
    assert fx.CONSUMER_SECRET not in log
    assert "Answering X's webhook CRC check at /webhooks/x" in log
    lines = [line for line in log.splitlines() if "Webhook event received" in line]
    assert len(lines) == 3
    assert f"({len(body)} bytes, signed by X): for_user_id, tweet_create_events x1; not handled" in lines[0]
    assert "signature missing" in lines[1] and "signature does not match" in lines[2]
    assert "a private draft text" not in log and "2244994945" not in log  # keys only, never values


def test_public_bind_serves_x_without_the_mcp_token(fake_x: tuple[FakeX, str]) -> None:
    """X cannot send MCP_AUTH_TOKEN: the webhook route does without it, /mcp does not."""
    _, x_url = fake_x
    env = server_env(x_url, MCP_AUTH_TOKEN=fx.MCP_AUTH_TOKEN, X_WEBHOOK_PATH="/hooks/x-events")
    with run_xapi_mcp(env, "--host", "0.0.0.0") as url:
        hook = url.replace("/mcp", "/hooks/x-events")
        answer = httpx.get(hook, params={"crc_token": "abc"}, headers={"Host": "hooks.example.com"})
        assert answer.status_code == 200 and answer.json() == {"response_token": expected_token("abc")}
        assert (
            httpx.get(hook, params={"crc_token": "abc"}, headers={"Origin": "http://evil.example"}).status_code == 403
        )
        assert httpx.get(url.replace("/mcp", "/webhooks/x"), params={"crc_token": "abc"}).status_code == 404
        assert httpx.post(url, json={}).status_code == 401  # the MCP endpoint still wants the token


def test_no_consumer_secret_no_webhook_route(fake_x: tuple[FakeX, str]) -> None:
    _, x_url = fake_x
    env = {k: v for k, v in server_env(x_url).items() if not k.startswith("X_OAUTH_")}
    with run_xapi_mcp(env) as url:
        assert httpx.get(url.replace("/mcp", "/webhooks/x"), params={"crc_token": "abc"}).status_code == 404


@pytest.mark.parametrize("path", ["/mcp", "/oauth/callback", "webhooks"])
def test_a_webhook_path_that_cannot_be_served_stops_the_server(path: str) -> None:
    env = {"X_OAUTH_CONSUMER_KEY": fx.CONSUMER_KEY, "X_OAUTH_CONSUMER_SECRET": fx.CONSUMER_SECRET}
    result = run_cli("--port", str(free_port()), "--spec", str(SPEC_159), env={**env, "X_WEBHOOK_PATH": path})
    assert result.returncode == 2, result.stderr
    assert f"X_WEBHOOK_PATH={path!r} cannot be the webhook URL's path" in result.stderr
    assert fx.CONSUMER_SECRET not in result.stderr + result.stdout
