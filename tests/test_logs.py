"""Redaction of log lines: header spellings, OAuth fields, and secret values the store holds."""

from __future__ import annotations

import logging

from xapi_mcp.auth.credentials import TokenStore
from xapi_mcp.logs import RedactingFormatter, redact, watch_secrets


def test_header_and_field_spellings_are_redacted() -> None:
    cases = {
        'Authorization: OAuth oauth_consumer_key="ck1", oauth_token="at-123", oauth_signature="s%3D"': (
            'Authorization: OAuth oauth_consumer_key="***", oauth_token="***", oauth_signature="***"'
        ),
        "{'authorization': 'Bearer AAAAAAAAAAAAAAAAAAAA'}": "{'authorization': 'Bearer ***'}",
        "authorization=Basic ZmFrZS1jbGllbnQ6c2VjcmV0": "authorization=Basic ***",
        "oauth_token=req-1&oauth_token_secret=abcdef12345&oauth_callback_confirmed=true": (
            "oauth_token=req-1&oauth_token_secret=***&oauth_callback_confirmed=true"
        ),
        '{"access_token": "o2-access-9", "refresh_token":"o2-r"}': '{"access_token": "***", "refresh_token":"***"}',
        "grant_type=authorization_code&code_verifier=abc123&client_secret=s3cr3t": (
            "grant_type=authorization_code&code_verifier=***&client_secret=***"
        ),
    }
    for raw, expected in cases.items():
        assert redact(raw) == expected
    consent = "open http://127.0.0.1/oauth/authorize?oauth_token=req-5 in a browser"
    assert redact(consent) == consent  # the person needs this URL; the request token is not a secret


def test_values_held_by_the_store_are_redacted_anywhere(caplog) -> None:
    store = TokenStore("ck", "consumer-secret-value", bearer_token="app-bearer-value")
    watch_secrets(store.secrets)
    store.set_oauth1_user("user-token-from-consent", "user-secret-from-consent")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "got %s and %s", ("user-token-from-consent", 1), None)
    line = RedactingFormatter().format(record)
    assert "user-token-from-consent" not in line and "got *** and 1" in line
    try:
        raise ValueError("boom with app-bearer-value inside")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
        record.exc_text = None
    assert "app-bearer-value" not in RedactingFormatter().format(record)  # tracebacks too
