"""X tokens sealed before they leave the process (for Redis), and the hashes that stand for codes.

`Vault.seal(value, bound_to)` encrypts with AES-256-GCM (`cryptography`'s AESGCM): a fresh random
96-bit nonce per value, the first configured key, and associated data made of the format
version, the key's id and `bound_to` (the Redis key the value is written under, which names the
person). So a sealed value copied under another key, or another person's key, fails to open, as
does any changed byte. The keys come from the environment (`X_MCP_TOKEN_KEYS`: comma-separated
base64 of 32 random bytes) and are never stored: the first one seals, every one of them opens,
so a new key goes first and an old one stays listed until the values it sealed have been
rewritten or have expired (rotation).

Sealed form (ASCII, fits any Redis client): `v1.` + base64url(key id (4 bytes) | nonce (12) |
ciphertext and tag). The key id is the start of SHA-256 over a label and the key: it says which
key to try without revealing anything usable about it.

Refresh tokens and authorization codes are stored only as `token_hash(value)`: they are random
values of 256 bits that this server issues, so nobody can guess one from its hash, and a slow
password hash (bcrypt, argon2) would add nothing but CPU time to every refresh. One round of
SHA-256 is enough, and finding a stored entry by the hash of what a client presents stays a
single key lookup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from xapi_mcp.errors import ConfigError, XapiMcpError

ENV_TOKEN_KEYS = "X_MCP_TOKEN_KEYS"
VERSION = b"v1"
KEY_BYTES = 32
NONCE_BYTES = 12  # 96 bits, the size GCM is built for; random per value
ID_BYTES = 4
GENERATE = 'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'


class VaultError(XapiMcpError):
    """A sealed value cannot be opened: altered, moved under another key or person, or sealed with a key we lack."""


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"xapi-mcp token key id\x00" + key).digest()[:ID_BYTES]


def token_hash(token: str) -> str:
    """What stands for a refresh token or authorization code in storage (see the module's doc for why SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Vault:
    """AES-GCM with the configured keys: the first seals, all open."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ConfigError(f"{ENV_TOKEN_KEYS} holds no key. Generate one with:\n  {GENERATE}")
        for position, key in enumerate(keys, 1):
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"Key {position} of {ENV_TOKEN_KEYS} is {len(key)} bytes; each must be {KEY_BYTES} random "
                    f"bytes, base64-encoded. Generate one with:\n  {GENERATE}"
                )
        self._sealing = (key_id(keys[0]), AESGCM(keys[0]))
        self._opening = {key_id(key): AESGCM(key) for key in reversed(keys)}  # the first key wins an id clash

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Vault:
        """The vault of `X_MCP_TOKEN_KEYS`: comma-separated base64 keys of 32 bytes, the sealing one first."""
        raw = (os.environ if environ is None else environ).get(ENV_TOKEN_KEYS, "")
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        if not parts:
            raise ConfigError(
                f"{ENV_TOKEN_KEYS} is not set: tokens kept in Redis are encrypted with keys from it, never "
                f"stored there. Generate a key with:\n  {GENERATE}\nand set {ENV_TOKEN_KEYS} to it (to rotate: "
                "put a new key first, keep the old ones after it until their values have been rewritten)."
            )
        keys = []
        for position, part in enumerate(parts, 1):
            try:
                keys.append(base64.b64decode(part, validate=True))
            except binascii.Error:
                raise ConfigError(
                    f"Key {position} of {ENV_TOKEN_KEYS} is not base64. Generate one with:\n  {GENERATE}"
                ) from None
        return cls(keys)

    def seal(self, value: str, bound_to: str) -> str:
        """`value` encrypted for storage under `bound_to` (the Redis key, which names the person)."""
        kid, aead = self._sealing
        nonce = os.urandom(NONCE_BYTES)
        sealed = aead.encrypt(nonce, value.encode(), _associated(kid, bound_to))
        return VERSION.decode() + "." + base64.urlsafe_b64encode(kid + nonce + sealed).decode()

    def open(self, sealed: str | bytes, bound_to: str) -> str:
        """The value `seal` encrypted for `bound_to`; VaultError if it was altered, moved, or its key is gone."""
        text = sealed.decode() if isinstance(sealed, bytes) else sealed
        version, _, body = text.partition(".")
        try:
            raw = base64.urlsafe_b64decode(body.encode())
        except (binascii.Error, ValueError):
            raw = b""
        if version.encode() != VERSION or len(raw) < ID_BYTES + NONCE_BYTES + 16:
            raise VaultError(f"A stored token under {bound_to} is not in the sealed form this server writes.")
        kid, nonce, ciphertext = raw[:ID_BYTES], raw[ID_BYTES : ID_BYTES + NONCE_BYTES], raw[ID_BYTES + NONCE_BYTES :]
        aead = self._opening.get(kid)
        if aead is None:
            raise VaultError(
                f"A stored token under {bound_to} was sealed with a key that is not in {ENV_TOKEN_KEYS} (key id "
                f"{kid.hex()}). Put that key back after the new one, or have the person sign in again."
            )
        try:
            return aead.decrypt(nonce, ciphertext, _associated(kid, bound_to)).decode()
        except InvalidTag:
            raise VaultError(
                f"A stored token under {bound_to} does not open: it was altered or belongs under another key or "
                "person. It is not used; the person has to sign in again."
            ) from None


def _associated(kid: bytes, bound_to: str) -> bytes:
    return VERSION + b"\x00" + kid + b"\x00" + bound_to.encode()
