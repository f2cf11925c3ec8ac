"""Remote mode: whose X tokens sign this request.

The bearer-token guard (server/mcp_auth.py) loads the signed-in person's X tokens into a
`MemoryTokenStore` and makes it current for the request (a context variable, which the MCP SDK
carries from the HTTP request to the tool handler). Everything that reads the executor's token
store (signing, the account named in a confirmation question) reads it through `PersonStore`, so a
call can only ever be signed with the tokens of the person whose access token it carries. Outside
a request no user tokens exist.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from xapi_mcp.stores import CredentialKind, MemoryTokenStore

T = TypeVar("T")

_CURRENT: contextvars.ContextVar[MemoryTokenStore | None] = contextvars.ContextVar("xapi_mcp_person", default=None)


@dataclass(frozen=True)
class Person:
    """An X account that signed in: its user ID is the subject of every token we issue for it."""

    user_id: str
    screen_name: str | None = None

    def get_user_id(self) -> str:  # what authlib's token generators ask a user for
        return self.user_id


@contextmanager
def acting_as(store: MemoryTokenStore) -> Iterator[None]:
    """Make `store` the current person's tokens inside the block (one request)."""
    reset = _CURRENT.set(store)
    try:
        yield
    finally:
        _CURRENT.reset(reset)


class _Current(Generic[T]):
    """An attribute read from (and written to) the current person's store."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Current[T]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> T: ...

    def __get__(self, obj: object | None, owner: type) -> Any:
        if obj is None:
            return self
        return getattr(_store(obj), self.name)

    def __set__(self, obj: object, value: T) -> None:
        setattr(_store(obj), self.name, value)


def _store(proxy: Any) -> MemoryTokenStore:
    return _CURRENT.get() or proxy.nobody


class PersonStore:
    """A `TokenStore` that is, in each request, the tokens of the person who sent it."""

    consumer_key = _Current[str | None]()
    consumer_secret = _Current[str | None]()
    access_token = _Current[str | None]()
    access_token_secret = _Current[str | None]()
    bearer_token = _Current[str | None]()
    oauth2_access_token = _Current[str | None]()
    oauth2_refresh_token = _Current[str | None]()
    screen_name = _Current[str | None]()

    def __init__(self, app_keys: MemoryTokenStore) -> None:
        # Outside any request (startup, shutdown): the app's own keys, never a person's tokens.
        self.nobody = MemoryTokenStore(
            consumer_key=app_keys.consumer_key,
            consumer_secret=app_keys.consumer_secret,
            bearer_token=app_keys.bearer_token,
        )

    def for_person(self, person: Person, token: str, secret: str) -> MemoryTokenStore:
        """The store one request of `person` runs with: the app's keys plus that person's tokens."""
        return MemoryTokenStore(
            consumer_key=self.nobody.consumer_key,
            consumer_secret=self.nobody.consumer_secret,
            bearer_token=self.nobody.bearer_token,
            access_token=token,
            access_token_secret=secret,
            screen_name=person.screen_name,
        )

    def __repr__(self) -> str:
        return f"PersonStore(current: {_store(self)!r})"

    def has(self, kind: CredentialKind) -> bool:
        return _store(self).has(kind)

    def has_oauth1_user(self) -> bool:
        return _store(self).has_oauth1_user()

    def set_oauth1_user(self, token: str, secret: str) -> None:
        _store(self).set_oauth1_user(token, secret)

    def set_oauth2_user(self, token: str, refresh_token: str | None) -> None:
        _store(self).set_oauth2_user(token, refresh_token)

    def secrets(self) -> list[str]:
        return _store(self).secrets()

    def clear(self) -> None:
        """Shutdown: nothing to forget here (each request's store lives only as long as the request)."""
