"""Log lines on stderr, with secrets removed from the final text.

Redaction happens in the formatter, on the finished line (message, arguments and traceback alike),
so no code path can log a secret by accident: Authorization header values, OAuth secrets in
query/form/JSON spellings, and every secret value the TokenStore holds at that moment (tokens
obtained by a consent flow included). The consent URL stays readable: its request token is not a
secret, and a person on a headless machine needs it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterable

_PATTERNS = [
    # Authorization: Bearer abc… / Basic abc…
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=%-]{6,}"), r"\1 ***"),
    # Authorization: OAuth oauth_consumer_key="…", oauth_token="…", oauth_signature="…"
    (re.compile(r"(?i)\b(oauth_[a-z_]+)=\"[^\"]*\""), r'\1="***"'),
    # name=value, name="value", "name": "value"
    (
        re.compile(
            r"(?i)\b(oauth_token_secret|oauth_signature|oauth_verifier|access_token|refresh_token|"
            r"client_secret|code_verifier|consumer_secret|token_secret)(['\"]?\s*[:=]\s*['\"]?)([^&\s'\",}]+)"
        ),
        r"\1\2***",
    ),
]
_MIN_SECRET_LENGTH = 6

SecretSource = Callable[[], Iterable[str]]
_sources: list[SecretSource] = []


def watch_secrets(source: SecretSource) -> None:
    """Redact whatever `source` returns (read at each log line, so new tokens are covered at once)."""
    _sources.append(source)


def redact(text: str) -> str:
    for source in _sources:
        for secret in source():
            if secret and len(secret) >= _MIN_SECRET_LENGTH:
                text = text.replace(secret, "***")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)sZ %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")
        self.converter = time.gmtime  # UTC timestamps, as the trailing Z says

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup(verbose: bool) -> None:
    """One stderr handler (stdout belongs to MCP on stdio); libraries' chatter stays at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "mcp", "uvicorn.access", "authlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
