"""Runs last (file order): every log line the suite's flows wrote at DEBUG, searched for secrets.

The servers started by the other tests (consent flows, PKCE with refresh, faults, media, both
transports) and the in-process executors all log at DEBUG into LOG_DIR. Not one line may hold a
configured secret or a token a fake issued during the session.
"""

from __future__ import annotations

from tests import fake_x as fx
from tests import fake_xai
from tests.servers import LOG_DIR

CONFIGURED = (
    fx.CONSUMER_SECRET,
    fx.ACCESS_TOKEN,
    fx.ACCESS_TOKEN_SECRET,
    fx.BEARER_TOKEN,
    fx.OAUTH2_USER_TOKEN,
    fx.OAUTH2_CLIENT_SECRET,
    fx.MCP_AUTH_TOKEN,
    fake_xai.API_KEY,
)


def test_no_token_or_secret_in_any_debug_log() -> None:
    logs = {path.name: path.read_text(errors="replace") for path in LOG_DIR.glob("*.log")}
    assert logs, f"no logs in {LOG_DIR}: run the whole suite"
    assert any(" DEBUG " in text for text in logs.values()), "the logs were written at DEBUG level"
    secrets = [s for s in (*CONFIGURED, *fx.ISSUED_SECRETS) if s]
    leaks = [(name, secret[:6] + "…") for name, text in logs.items() for secret in secrets if secret in text]
    assert not leaks, f"secrets in logs: {leaks}"
    print(f"\n{len(logs)} logs, {sum(map(len, logs.values())):,} characters, {len(secrets)} secrets: none found")
