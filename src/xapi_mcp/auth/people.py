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
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from httpx2 import Headers

from xapi_mcp.errors import StateUnavailable
from xapi_mcp.stores import LOCAL_PERSON, CredentialKind, MemoryTokenStore, RateLimitState, Window

T = TypeVar("T")

log = logging.getLogger(__name__)

_CURRENT: contextvars.ContextVar[MemoryTokenStore | None] = contextvars.ContextVar("xapi_mcp_person", default=None)
_PERSON_ID: contextvars.ContextVar[str] = contextvars.ContextVar("xapi_mcp_person_id", default=LOCAL_PERSON)


@dataclass(frozen=True)
class Person:
    """An X account that signed in: its user ID is the subject of every token we issue for it."""

    user_id: str
    screen_name: str | None = None

    def get_user_id(self) -> str:  # what authlib's token generators ask a user for
        return self.user_id


@contextmanager
def acting_as(store: MemoryTokenStore, person_id: str = LOCAL_PERSON) -> Iterator[None]:
    """Make `store` the current person's tokens, and `person_id` whose spend and limits count, inside the block."""
    reset, reset_id = _CURRENT.set(store), _PERSON_ID.set(person_id)
    try:
        yield
    finally:
        _PERSON_ID.reset(reset_id)
        _CURRENT.reset(reset)


def current_person() -> str:
    """The X user ID the current request acts for (remote mode), else LOCAL_PERSON."""
    return _PERSON_ID.get()


class PerPerson(Generic[T]):
    """One `T` per person, made on first use by `make(person_id)`: the current request's is `current()`."""

    def __init__(self, make: Callable[[str], T]) -> None:
        self.make = make
        self._each: dict[str, T] = {}

    def current(self) -> T:
        person = current_person()
        found = self._each.get(person)
        if found is None:
            found = self._each[person] = self.make(person)
        return found

    def all(self) -> list[T]:
        return list(self._each.values())


class PersonRateLimits:
    """X's rate limits kept per person (a user token's limits are that user's), in memory or Redis.

    Advisory by design: when the shared store does not answer, calls go on without it (X still
    enforces its limits, and says so with a 429); nothing waits on, or fails because of, a mark.
    """

    def __init__(self, make: Callable[[str], RateLimitState]) -> None:
        self._people = PerPerson(make)

    async def update(self, endpoint: str, headers: Headers) -> Window | None:
        try:
            return await self._people.current().update(endpoint, headers)
        except StateUnavailable as exc:
            log.warning("Rate-limit mark not recorded: %s", exc)
            return None

    async def exhausted_until(self, endpoint: str, now: float | None = None) -> float | None:
        try:
            return await self._people.current().exhausted_until(endpoint, now)
        except StateUnavailable as exc:
            log.warning("Rate-limit mark not read (the call goes on): %s", exc)
            return None

    async def mark_exhausted(self, endpoint: str, reset: float) -> None:
        try:
            await self._people.current().mark_exhausted(endpoint, reset)
        except StateUnavailable as exc:
            log.warning("Rate-limit mark not recorded: %s", exc)


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
        return self._with(person, access_token=token, access_token_secret=secret)

    def for_oauth2(self, person: Person, token: str, refresh_token: str | None) -> MemoryTokenStore:
        """The same for a person who signed in with X's OAuth 2.0: their user token (no OAuth 1.0a one)."""
        return self._with(person, oauth2_access_token=token, oauth2_refresh_token=refresh_token)

    def _with(self, person: Person, **tokens: str | None) -> MemoryTokenStore:
        app = {"consumer_key": self.nobody.consumer_key, "consumer_secret": self.nobody.consumer_secret}
        return MemoryTokenStore(**app, bearer_token=self.nobody.bearer_token, screen_name=person.screen_name, **tokens)

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
