"""Log lines on stderr, and the one redaction that every text leaving the server goes through.

`redact` removes secrets from a finished text: every secret value a watched source holds or ever
held (configured keys and tokens, and tokens obtained later by a consent flow), in plain,
percent-encoded and JSON-escaped spellings, and credential patterns in any quoting (Authorization
header values, OAuth 1.0a parameters, token/secret fields in query, form and JSON, escaped or
percent-encoded). The log formatter applies it to the finished line (message, arguments and
traceback alike); the MCP server applies it to every tool result (mcp_app.redact_result), and
code that shortens a text redacts before it cuts, so no secret is cut where redaction cannot see it. The
consent URL stays readable: its request token is not a secret, and a person on a headless machine
needs it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_SECRET_LENGTH = 6
# A quote in any spelling: ", ', \" (inside a JSON string), \\\" (JSON in JSON), %22 (percent-encoded).
_QUOTE = r"""(?:\\*["']|%22)"""
_SEP = r"\s*(?:[:=]|%3[AaDd])\s*"
# A value ends at a quote, separator or space in any of those spellings.
_VALUE = r"""(?:(?!%2[026Cc]|%3[Bb])[^\s"'\\&,;<>{}\[\]])+"""
# Credential field names, as "<name>_<word>": matched from the "_" with the name in a look-behind, so
# the regex engine skips to each "_" as fast as str.find would (a plain alternation tests every position).
_FIELDS = {
    "token": ("oauth", "access", "refresh", "id", "bearer", "auth"),  # oauth_token, access_token, MCP_AUTH_TOKEN…
    "secret": ("client", "consumer", "token"),  # client_secret, oauth_token_secret…
    "key": ("oauth_consumer", "api"),
    "verifier": ("oauth", "code"),
    "signature": ("oauth",),
}


def _field_pattern() -> re.Pattern[str]:
    words = []
    for word, names in _FIELDS.items():
        for spelling in (word, word.upper(), word.capitalize()):
            behind = "|".join(rf"(?<=(?<![A-Za-z])(?i:{name})_{spelling})" for name in names)
            words.append(rf"{spelling}(?:{behind})")
    # The consent link's request token (…/authorize?oauth_token=…) is not a secret and stays readable.
    return re.compile(
        rf"(_(?:{'|'.join(words)})(?<!authorize\?oauth_token)(?<!authenticate\?oauth_token)"
        rf"{_QUOTE}?{_SEP}{_QUOTE}?){_VALUE}"
    )


def _scheme_pattern(tail: str, head: str) -> re.Pattern[str]:
    """`Authorization: Bearer abc…` / `Basic abc…`, also %20- and +-separated, found from a literal `tail`.

    A credential, not prose: 12+ characters with a digit, or 20+ ("basic understanding" stays).
    """
    run = "[A-Za-z0-9._~+/=%-]"
    return re.compile(rf"({tail}(?<=(?<![A-Za-z]){head}{tail})(?:\s+|%20|\+))(?:(?={run}*\d){run}{{12,}}|{run}{{20,}})")


# Each starts with a literal, so a text without credentials costs one fast scan per pattern.
_PATTERNS = [
    _field_pattern(),
    _scheme_pattern("earer", "[Bb]"),
    _scheme_pattern("EARER", "B"),
    _scheme_pattern("asic", "[Bb]"),
    _scheme_pattern("ASIC", "B"),
]

SecretSource = Callable[[], Iterable[str]]
_sources: list[SecretSource] = []


class _Known:
    """Every secret value seen so far, and all their spellings, longest first; recomputed only when one is new.

    Never forgets: a token replaced by a refresh, or cleared at shutdown, may still be echoed later.
    str.replace per spelling: each is one fast scan, several times faster than one regex alternation.
    """

    values: frozenset[str] = frozenset()
    spellings: tuple[str, ...] = ()
    _last: ClassVar[list[str]] = []  # what the sources returned last time: unchanged is the common, cheap case

    @classmethod
    def current(cls) -> tuple[str, ...]:
        seen = [v for source in _sources for v in source()]
        if seen != cls._last:
            fresh = {v for v in seen if v and len(v) >= _MIN_SECRET_LENGTH}
            if not fresh <= cls.values:
                values = cls.values | fresh
                spellings = {s for v in values for s in (v, quote(v, safe=""), quote_plus(v), json.dumps(v)[1:-1])}
                # Longest first, so a secret that contains another is masked whole. Spellings before values
                # (and values before _last): a thread that sees the new state sees all of it.
                cls.spellings = tuple(sorted(spellings, key=len, reverse=True))
                cls.values = values
            cls._last = seen
        return cls.spellings


def watch_secrets(source: SecretSource) -> None:
    """Redact whatever `source` returns (read at each redaction, so new tokens are covered at once)."""
    _sources.append(source)


def redact(text: str) -> str:
    """`text` without any known secret value or credential pattern."""
    return _redact(text, _Known.current())


def redactor() -> Callable[[str], str]:
    """`redact` for several texts in a row (one result's blocks): the secrets are looked up once."""
    spellings = _Known.current()
    return lambda text: _redact(text, spellings)


def _redact(text: str, spellings: tuple[str, ...]) -> str:
    for secret in spellings:
        text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        if pattern.search(text):  # rare; a str template in sub() would be re-parsed on every call
            text = pattern.sub(_keep_name, text)
    return text


def _keep_name(match: re.Match[str]) -> str:
    """What a pattern keeps (the name or scheme and the separator), and the mask for the value."""
    return match.group(1) + MASK


def redact_value(value: Any, scrub: Callable[[str], str] = redact) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with every string, keys included, redacted."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {redact_value(k, scrub): redact_value(v, scrub) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, scrub) for v in value]
    return value


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
