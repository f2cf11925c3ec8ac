"""Tokens sealed for Redis: AES-GCM with keys from the environment, bound to their key and person."""

from __future__ import annotations

import base64
import os

import pytest

from xapi_mcp.auth.vault import GENERATE, Vault, VaultError, token_hash
from xapi_mcp.errors import ConfigError

TOKEN = "1234567890-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh"
ALICE = "xapi-mcp:token:alice:oauth1"
BOB = "xapi-mcp:token:bob:oauth1"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def vault(*keys: str) -> Vault:
    return Vault.from_env({"X_MCP_TOKEN_KEYS": ", ".join(keys)})


def test_round_trip_and_nothing_readable_is_stored() -> None:
    key = new_key()
    sealed = vault(key).seal(TOKEN, ALICE)
    assert vault(key).open(sealed, ALICE) == TOKEN
    assert vault(key).open(sealed.encode(), ALICE) == TOKEN  # as a Redis client without decoding returns it
    assert sealed.startswith("v1.") and sealed.isascii()
    raw = base64.urlsafe_b64decode(sealed[3:])
    for form in (TOKEN.encode(), TOKEN[:12].encode(), base64.b64encode(TOKEN.encode())[:16]):
        assert form not in raw and form.decode() not in sealed
    assert base64.b64decode(key) not in raw
    # A fresh nonce every time: the same token sealed twice looks unrelated.
    again = vault(key).seal(TOKEN, ALICE)
    assert again != sealed and base64.urlsafe_b64decode(again[3:])[4:16] != raw[4:16]


def test_rotation_first_key_seals_every_key_opens() -> None:
    old, new = new_key(), new_key()
    sealed_with_old = vault(old).seal(TOKEN, ALICE)
    rotated = vault(new, old)
    assert rotated.open(sealed_with_old, ALICE) == TOKEN
    resealed = rotated.seal(TOKEN, ALICE)  # what a rewrite after rotation stores
    assert vault(new).open(resealed, ALICE) == TOKEN
    with pytest.raises(VaultError, match="sealed with a key that is not in X_MCP_TOKEN_KEYS"):
        vault(old).open(resealed, ALICE)
    with pytest.raises(VaultError, match="Put that key back after the new one"):
        vault(new).open(sealed_with_old, ALICE)  # the old key dropped too early


def test_moved_tampered_or_foreign_values_do_not_open() -> None:
    key = new_key()
    box = vault(key)
    sealed = box.seal(TOKEN, ALICE)
    with pytest.raises(VaultError, match="belongs under another key or person"):
        box.open(sealed, BOB)  # alice's token copied under bob's key
    raw = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    for position in (5, 20, len(raw) - 1):  # nonce, ciphertext, tag
        changed = bytearray(raw)
        changed[position] ^= 0x01
        with pytest.raises(VaultError, match="altered"):
            box.open("v1." + base64.urlsafe_b64encode(bytes(changed)).decode(), ALICE)
    for junk in ("", "v1.", "v2." + sealed[3:], TOKEN, "v1.!!!"):
        with pytest.raises(VaultError, match="not in the sealed form"):
            box.open(junk, ALICE)
    with pytest.raises(VaultError):
        vault(new_key()).open(sealed, ALICE)  # another deployment's key
    message = ""
    try:
        box.open(sealed, BOB)
    except VaultError as exc:
        message = str(exc)
    assert TOKEN not in message and key not in message


def test_missing_short_or_malformed_keys_say_how_to_make_one() -> None:
    for environ in ({}, {"X_MCP_TOKEN_KEYS": " , "}):
        with pytest.raises(ConfigError, match="X_MCP_TOKEN_KEYS is not set") as missing:
            Vault.from_env(environ)
        assert GENERATE in str(missing.value)
    short = base64.b64encode(os.urandom(16)).decode()
    with pytest.raises(ConfigError, match="Key 2 of X_MCP_TOKEN_KEYS is 16 bytes; each must be 32") as wrong:
        vault(new_key(), short)
    assert GENERATE in str(wrong.value) and short not in str(wrong.value)
    with pytest.raises(ConfigError, match="Key 1 of X_MCP_TOKEN_KEYS is not base64"):
        vault("not a key!")
    with pytest.raises(ConfigError, match="holds no key"):
        Vault([])
    # The command in the message makes a key that works.
    assert vault(base64.b64encode(os.urandom(32)).decode()).seal("x", ALICE)


def test_token_hash_is_stable_and_reveals_nothing() -> None:
    code = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert token_hash(code) == token_hash(code) and len(token_hash(code)) == 64
    assert token_hash(code) != token_hash(code[:-1] + ("A" if code[-1] != "A" else "B"))
    assert code not in token_hash(code)
