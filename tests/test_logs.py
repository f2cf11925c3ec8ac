"""Redaction of log lines: header spellings, OAuth fields, and secret values the store holds.

Tokens are shaped like X's: an access token is "<user id>-<letters and digits>", bearer tokens carry
percent-escapes, OAuth 2.0 tokens have "-" and "_".
"""

from __future__ import annotations

import json
import logging
import sys
from urllib.parse import quote

from tests.conftest import WATCHED_SECRETS, isolated_redaction
from xapi_mcp.logs import RedactingFormatter, _sources, redact, watch_secrets
from xapi_mcp.stores import MemoryTokenStore

ACCESS = "1445880548472328192-Ab3dEfGh1jKlMnOpQrStUvWxYz0123"  # not held by any store: patterns only
BEARER = "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DEUifiRBkKG5E2XzMDjRfl76ZC9Ub0wnz4X"
HEADER = (
    f'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_token="{ACCESS}", '
    'oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjLY%3D"'
)
MASKED_HEADER = 'OAuth oauth_consumer_key="***", oauth_token="***", oauth_signature="***"'


def line(message: str, *args: object) -> str:
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, message, args, None)
    return RedactingFormatter().format(record)


def test_header_and_field_spellings_are_redacted() -> None:
    cases = {
        f"Authorization: {HEADER}": f"Authorization: {MASKED_HEADER}",
        f"{{'authorization': 'Bearer {BEARER}'}}": "{'authorization': 'Bearer ***'}",
        "authorization=Basic ZmFrZS1jbGllbnQ6c2VjcmV0LXdpdGgtMTIz": "authorization=Basic ***",
        f"Authorization%3A%20Bearer%20{quote(BEARER, safe='')}": "Authorization%3A%20Bearer%20***",
        f"oauth_token={ACCESS}&oauth_token_secret=Lswwdo-UaIvS8lty&oauth_callback_confirmed=true": (
            "oauth_token=***&oauth_token_secret=***&oauth_callback_confirmed=true"
        ),
        f"callback?oauth_token%3D{ACCESS}%26oauth_verifier%3Dq2N-8fR": (
            "callback?oauth_token%3D***%26oauth_verifier%3D***"
        ),
        f"Authorization%3A%20OAuth%20oauth_token%3D%22{ACCESS}%22%2C%20oauth_nonce%3D%22n1%22": (
            "Authorization%3A%20OAuth%20oauth_token%3D%22***%22%2C%20oauth_nonce%3D%22n1%22"
        ),
        '{"access_token": "o2-7-bWRWa0Vx_SjFw-d2xh", "refresh_token":"o2r-7-Zx8_fake-r"}': (
            '{"access_token": "***", "refresh_token":"***"}'
        ),
        "grant_type=authorization_code&code_verifier=abc-123_x&client_secret=Zx8-fake_client": (
            "grant_type=authorization_code&code_verifier=***&client_secret=***"
        ),
        "X_OAUTH_ACCESS_TOKEN=1-abc MCP_AUTH_TOKEN=q2N-8fR XAI_API_KEY=xai-Fk8s": (
            "X_OAUTH_ACCESS_TOKEN=*** MCP_AUTH_TOKEN=*** XAI_API_KEY=***"
        ),
    }
    for raw, expected in cases.items():
        assert redact(raw) == expected, raw
    consent = "open http://127.0.0.1/oauth/authorize?oauth_token=req-5 in a browser"
    assert redact(consent) == consent  # the person needs this URL; the request token is not a secret
    prose = '{"text":"universal basic income; bearer of news","meta":{"next_token":"7140dibdnow9c7btw3w"}}'
    assert redact(prose) == prose  # X's data is not mistaken for credentials


def test_escaped_quotes_in_a_json_body_of_the_debug_log_are_redacted() -> None:
    """X's error body echoing the header: the debug log holds it as JSON text, quotes escaped (once or twice)."""
    body = json.dumps({"detail": f"Authorization: {HEADER}"})
    assert f'oauth_token=\\"{ACCESS}\\"' in body
    logged = line("response body=%s | twice=%s", body, json.dumps(body))
    assert ACCESS not in logged and "xvz1evFS4wEEPTGEFPHBog" not in logged and "tnnArxj06cWHq44gCs1O" not in logged
    assert 'oauth_token=\\"***\\"' in logged and 'oauth_token=\\\\\\"***\\\\\\"' in logged


def test_values_held_by_the_store_are_redacted_anywhere() -> None:
    store = MemoryTokenStore("Fk3CnsKeY9dLq2WmZr8TbVx1u", "Lq7-tR2wXy9Zb4Nc8Vd1Fg6Hj3Km5Ps", bearer_token=BEARER)
    watch_secrets(store.secrets)
    consented = ("42-Ab3dEf_Gh1jKl-MnOpQr", "LswwdoUaIvS8-ltyTt5jkRh4J_50vUP")
    store.set_oauth1_user(*consented)  # obtained at run time, after the watch began
    logged = line("got %s and %s, key %s", consented[0], 1, store.consumer_key)
    assert consented[0] not in logged and "got *** and 1, key ***" in logged
    encoded = line("echo %s / %s", quote(consented[1], safe=""), json.dumps({"s": consented[1]}))
    assert consented[1] not in encoded and "echo *** / " in encoded
    store.clear()  # shutdown forgets the tokens; the log still never shows them
    assert consented[0] not in line("late echo of %s", consented[0])
    try:
        raise ValueError(f"boom with {BEARER} inside")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert BEARER not in RedactingFormatter().format(record)  # tracebacks too


def test_secrets_watched_inside_a_test_leave_with_it() -> None:
    """The autouse fixture's isolation: a later test cannot pass on what an earlier one watched."""
    secret = "Zq9-watched-only-in-here-7Hx"
    before = len(_sources)
    with isolated_redaction():
        watch_secrets(lambda: [secret])
        assert redact(f"token {secret}") == "token ***" and len(_sources) == before + 1
    assert redact(f"token {secret}") == f"token {secret}" and len(_sources) == before
    assert secret in WATCHED_SECRETS  # still looked for in the logs at session end


def test_a_secret_split_by_the_first_cut_of_a_long_body_never_shows() -> None:
    """Redacting earlier secrets shortens the text: a fragment cut at the rough limit must not slide into view."""
    from xapi_mcp.calls.results import snippet

    secret = "Zq8-vB3nM6xC1lK9jH2gF5dS4aP7oI0uY3tR6eW9qA2sD5fG8h"
    with isolated_redaction():
        watch_secrets(lambda: [secret])
        for lead in range(0, 60):
            body = (secret + " ") * 15 + "x" * lead + secret + "y" * 2000  # the last one straddles the first cut
            shown = snippet(body, 500)
            assert secret[:12] not in shown.replace("***", ""), (lead, shown)
            assert shown.endswith("…") and len(shown) <= 501
