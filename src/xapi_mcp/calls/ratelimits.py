"""X's rate limits, as X last reported them, per endpoint.

X sends `x-rate-limit-limit`, `-remaining` and `-reset` (Unix seconds) on every response. Knowing
an endpoint is exhausted lets us answer a looping agent at once instead of spending a request
(and a 429) on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from httpx2 import Headers


@dataclass(frozen=True)
class Window:
    limit: int
    remaining: int
    reset: float  # Unix time

    def exhausted(self, now: float) -> bool:
        return self.remaining <= 0 and self.reset > now


class RateLimits:
    def __init__(self) -> None:
        self._windows: dict[str, Window] = {}

    def update(self, endpoint: str, headers: Headers) -> Window | None:
        window = parse(headers)
        if window is not None:
            self._windows[endpoint] = window
        return window

    def exhausted_until(self, endpoint: str, now: float | None = None) -> float | None:
        """The reset time when X said this endpoint has no requests left, else None."""
        window = self._windows.get(endpoint)
        now = time.time() if now is None else now
        return window.reset if window is not None and window.exhausted(now) else None

    def mark_exhausted(self, endpoint: str, reset: float) -> None:
        previous = self._windows.get(endpoint)
        self._windows[endpoint] = Window(previous.limit if previous else 0, 0, reset)


def parse(headers: Headers) -> Window | None:
    try:
        return Window(
            limit=int(headers["x-rate-limit-limit"]),
            remaining=int(headers["x-rate-limit-remaining"]),
            reset=float(headers["x-rate-limit-reset"]),
        )
    except (KeyError, ValueError):
        return None


def describe_reset(reset: float, now: float | None = None) -> str:
    """`2026-11-22 19:59:00 UTC (in 93 s)`: both the absolute time and how long to wait."""
    now = time.time() if now is None else now
    when = datetime.fromtimestamp(reset, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when} (in {max(0, round(reset - now))} s)"
