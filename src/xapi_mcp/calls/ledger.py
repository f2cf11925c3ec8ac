"""The spend ledger: what calls cost today, a daily budget no set of concurrent calls can cross.

A call reserves its worst-case estimate against the budget before it is sent, and settles on what
X actually returned (or releases the reservation when nothing was billed). The check and the
reservation are one atomic step — a lock in memory, a `BEGIN IMMEDIATE` transaction in SQLite, so
also across processes sharing the file — hence ten concurrent $0.50 calls against $1.00 left let
two through, not ten. Days are UTC days, X's own dedup and billing window; the clock is injected.

The methods are `async` so a networked store (Redis, for many users) fits the same protocol. The
SQLite one runs its statements inline on the event loop instead of in a thread: a reserve or a
settle is about 0.1 ms of SQLite work on a local file (benchmarks/ledger_bench.py, a busy 2-core
machine), while one `asyncio.to_thread` round trip measured about 0.1 ms there by itself. The loop
can wait longer only when another process holds the file's write lock (up to the 5 s timeout).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Protocol

from xapi_mcp.calls.cost import Charge
from xapi_mcp.calls.cost import usd as money
from xapi_mcp.errors import XapiMcpError

ENV_BUDGET = "X_API_BUDGET_USD"
ENV_SPEND_DB = "X_API_SPEND_DB"
DEFAULT_BUDGET = Decimal("5.00")
# A reservation outlives any call; one left behind by a crashed process stops holding budget then.
RESERVATION_TTL = timedelta(minutes=10)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def next_utc_midnight(moment: datetime) -> datetime:
    return datetime.combine(utc_day(moment) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


@dataclass(frozen=True)
class Reservation:
    """Budget held for one call in flight."""

    id: str
    tool: str
    usd: Decimal
    day: date


@dataclass(frozen=True)
class ToolSpend:
    usd: Decimal
    calls: int
    resources: Mapping[str, int] = field(default_factory=dict)  # category -> count


class BudgetExceeded(XapiMcpError):
    """A call's estimate would take today's spend over the daily budget; nothing was sent."""

    SMALLER = "lower max_results (or ask for fewer IDs or expansions), or "  # the advice that fits only a read

    def advice_for(self, method: str) -> str:
        """The message, its advice fitted to the request: a write cannot be made smaller, only waited for."""
        text = str(self)
        return text if method == "GET" else text.replace(self.SMALLER, "wait for the reset, or ")

    def __init__(
        self, estimate: Decimal, spent: Decimal, reserved: Decimal, budget: Decimal, why: str, now: datetime
    ) -> None:
        self.estimate, self.spent, self.reserved, self.budget, self.why = estimate, spent, reserved, budget, why
        self.resets_at = next_utc_midnight(now)
        minutes = int((self.resets_at - now).total_seconds() // 60)
        running = f" (+{money(reserved)} held by calls still running)" if reserved else ""
        super().__init__(
            f"Not sent: this call could cost up to {money(estimate)}{f' ({why})' if why else ''}, and today's X API "
            f"spend is {money(spent)}{running} of the {money(budget)} daily budget ({ENV_BUDGET}, per UTC day; it "
            f"resets at 00:00 UTC, in {minutes // 60} h {minutes % 60:02d} min). To go on: {self.SMALLER}raise "
            f"{ENV_BUDGET} (or set it to off)."
        )


class SpendLedger(Protocol):
    """Today's spend per tool and category, reservations against the budget, resources already charged."""

    budget: Decimal | None

    def today(self) -> date: ...

    async def reserve(self, tool: str, usd: Decimal, why: str = "") -> Reservation:
        """Hold `usd` for a call; raises BudgetExceeded when that would cross the budget."""
        ...

    async def settle(self, reservation: Reservation, charge: Charge) -> None:
        """Record what the call cost, mark its resources charged for the day, free the hold."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Free the hold of a call X did not bill (refused, failed, cancelled)."""
        ...

    async def seen(self, day: date, keys: Collection[str]) -> set[str]:
        """Which of `keys` were already charged on `day`."""
        ...

    async def mark_seen(self, day: date, keys: Iterable[str]) -> None: ...

    async def day_total(self, day: date) -> Decimal:
        """Settled spend on `day` (calls still running not included)."""
        ...

    async def by_tool(self, day: date) -> dict[str, ToolSpend]: ...

    def close(self) -> None:
        """Let go of what the ledger holds open (a file); it is not used afterwards."""
        ...


class _Clocked:
    def __init__(self, budget: Decimal | None, now: Clock) -> None:
        self.budget = budget
        self._now = now

    def today(self) -> date:
        return utc_day(self._now())

    def _check(self, usd: Decimal, spent: Decimal, held: Decimal, why: str, now: datetime) -> None:
        if self.budget is not None and usd > 0 and spent + held + usd > self.budget:
            raise BudgetExceeded(usd, spent, held, self.budget, why, now)


class MemoryLedger(_Clocked):
    """Kept in this process only: for tests, and for `X_API_SPEND_DB=memory`."""

    def __init__(self, budget: Decimal | None = DEFAULT_BUDGET, *, now: Clock = utc_now) -> None:
        super().__init__(budget, now)
        self._lock = threading.Lock()  # also safe when called from worker threads
        self._held: dict[str, tuple[Reservation, datetime]] = {}
        self._spend: dict[tuple[date, str], ToolSpend] = {}
        self._seen: dict[date, set[str]] = {}

    def close(self) -> None:
        pass  # nothing held open

    async def reserve(self, tool: str, usd: Decimal, why: str = "") -> Reservation:
        now = self._now()
        reservation = Reservation(os.urandom(12).hex(), tool, usd, utc_day(now))
        with self._lock:
            self._held = {k: v for k, v in self._held.items() if v[1] > now}
            held = sum((r.usd for r, _ in self._held.values() if r.day == reservation.day), Decimal(0))
            self._check(usd, self._total(reservation.day), held, why, now)
            self._held[reservation.id] = (reservation, now + RESERVATION_TTL)
        return reservation

    async def settle(self, reservation: Reservation, charge: Charge) -> None:
        day = self.today()
        with self._lock:
            self._held.pop(reservation.id, None)
            old = self._spend.get((day, reservation.tool), ToolSpend(Decimal(0), 0))
            resources = dict(old.resources)
            for category, count in charge.resources.items():
                resources[category] = resources.get(category, 0) + count
            self._spend[(day, reservation.tool)] = ToolSpend(old.usd + charge.usd, old.calls + 1, resources)
            self._mark(day, charge.keys)

    async def release(self, reservation: Reservation) -> None:
        with self._lock:
            self._held.pop(reservation.id, None)

    async def seen(self, day: date, keys: Collection[str]) -> set[str]:
        with self._lock:
            return set(keys) & self._seen.get(day, set())

    async def mark_seen(self, day: date, keys: Iterable[str]) -> None:
        with self._lock:
            self._mark(day, keys)

    async def day_total(self, day: date) -> Decimal:
        with self._lock:
            return self._total(day)

    async def by_tool(self, day: date) -> dict[str, ToolSpend]:
        with self._lock:
            return {tool: spend for (d, tool), spend in self._spend.items() if d == day}

    def _total(self, day: date) -> Decimal:
        return sum((s.usd for (d, _), s in self._spend.items() if d == day), Decimal(0))

    def _mark(self, day: date, keys: Iterable[str]) -> None:
        for old in [d for d in self._seen if d < day]:
            del self._seen[old]  # X charges again from the next UTC day: yesterday's set is of no use
        self._seen.setdefault(day, set()).update(keys)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    day TEXT NOT NULL, tool TEXT NOT NULL, usd_micros INTEGER NOT NULL, calls INTEGER NOT NULL,
    PRIMARY KEY (day, tool)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS resources (
    day TEXT NOT NULL, tool TEXT NOT NULL, category TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (day, tool, category)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY, day TEXT NOT NULL, tool TEXT NOT NULL, usd_micros INTEGER NOT NULL, expires REAL NOT NULL
    ) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (day TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (day, key)) WITHOUT ROWID;
"""
# Holds of calls that never settled (a crash) stop counting when they expire; deleted once a day.
_SPENT_AND_HELD = (
    "SELECT (SELECT COALESCE(SUM(usd_micros), 0) FROM spend WHERE day = ?1), "
    "(SELECT COALESCE(SUM(usd_micros), 0) FROM reservations WHERE day = ?1 AND expires > ?2)"
)


class SqliteLedger(_Clocked):
    """A small SQLite file, so the daily budget survives restarts and is shared by every process using it.

    Money is stored as integer micro-dollars (exact sums in SQL); a rate finer than that rounds up.
    The once-a-day dedup reads this process's copy of the day's charged keys (loaded from the file
    when the day is first asked for, kept in step with what this process settles): a lookup in the
    file on every call cost more than the rest of the ledger. A resource that another process
    sharing the file charged after that load is counted again here: an overstatement, never less.
    """

    def __init__(self, path: str | Path, budget: Decimal | None = DEFAULT_BUDGET, *, now: Clock = utc_now) -> None:
        super().__init__(budget, now)
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly, as BEGIN IMMEDIATE where they write.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5.0)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            self._db.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of this process
            self._db.executescript(_SCHEMA)
        self._pruned: date | None = None
        self._seen_day: date | None = None
        self._seen_keys: set[str] = set()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    async def reserve(self, tool: str, usd: Decimal, why: str = "") -> Reservation:
        now = self._now()
        reservation = Reservation(os.urandom(12).hex(), tool, usd, utc_day(now))
        if usd <= 0:
            return reservation  # holds nothing; settle still records the call
        day = reservation.day.isoformat()
        with self._write() as db:
            spent, held = db.execute(_SPENT_AND_HELD, (day, now.timestamp())).fetchone()
            self._check(usd, _usd(spent), _usd(held), why, now)
            db.execute(
                "INSERT INTO reservations VALUES (?, ?, ?, ?, ?)",
                (reservation.id, day, tool, _micros(usd), (now + RESERVATION_TTL).timestamp()),
            )
        return reservation

    async def settle(self, reservation: Reservation, charge: Charge) -> None:
        day = self.today()
        key = (day.isoformat(), reservation.tool)
        with self._write() as db:
            db.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))
            db.execute(
                "INSERT INTO spend VALUES (?, ?, ?, 1) ON CONFLICT (day, tool) DO UPDATE SET "
                "usd_micros = usd_micros + excluded.usd_micros, calls = calls + 1",
                (*key, _micros(charge.usd)),
            )
            db.executemany(
                "INSERT INTO resources VALUES (?, ?, ?, ?) ON CONFLICT (day, tool, category) DO UPDATE SET "
                "count = count + excluded.count",
                [(*key, category, count) for category, count in charge.resources.items()],
            )
            self._mark(db, day, charge.keys)
        self._remember(day, charge.keys)

    async def release(self, reservation: Reservation) -> None:
        with self._write() as db:
            db.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    async def seen(self, day: date, keys: Collection[str]) -> set[str]:
        with self._lock:
            return set(keys) & self._keys_of(day)

    async def mark_seen(self, day: date, keys: Iterable[str]) -> None:
        keys = list(keys)
        with self._write() as db:
            self._mark(db, day, keys)
        self._remember(day, keys)

    async def day_total(self, day: date) -> Decimal:
        with self._lock:
            return _usd(_scalar(self._db, "SELECT SUM(usd_micros) FROM spend WHERE day = ?", day.isoformat()))

    async def by_tool(self, day: date) -> dict[str, ToolSpend]:
        with self._lock:
            spend = self._db.execute("SELECT tool, usd_micros, calls FROM spend WHERE day = ?", (day.isoformat(),))
            rows = self._db.execute("SELECT tool, category, count FROM resources WHERE day = ?", (day.isoformat(),))
            totals, counts = spend.fetchall(), rows.fetchall()
        resources: dict[str, dict[str, int]] = {}
        for tool, category, count in counts:
            resources.setdefault(tool, {})[category] = count
        return {tool: ToolSpend(_usd(micros), calls, resources.get(tool, {})) for tool, micros, calls in totals}

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that holds SQLite's write lock from its start, across processes."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _keys_of(self, day: date) -> set[str]:
        """This process's copy of `day`'s charged keys, read from the file when the day is first asked for."""
        if self._seen_day != day:
            rows = self._db.execute("SELECT key FROM seen WHERE day = ?", (day.isoformat(),))
            self._seen_keys, self._seen_day = {row[0] for row in rows}, day
        return self._seen_keys

    def _remember(self, day: date, keys: Collection[str]) -> None:
        """Add what the file now holds to this process's copy (after the commit: never ahead of the file)."""
        with self._lock:
            if day == self._seen_day:
                self._seen_keys.update(keys)

    def _mark(self, db: sqlite3.Connection, day: date, keys: Collection[str]) -> None:
        if self._pruned != day:  # X charges again from the next UTC day: older rows are of no use
            db.execute("DELETE FROM seen WHERE day < ?", (day.isoformat(),))
            db.execute("DELETE FROM reservations WHERE expires <= ?", (self._now().timestamp(),))
            self._pruned = day
        stamp = day.isoformat()
        db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", [(stamp, key) for key in keys])


def usd_setting(raw: str, default: Decimal, error: str) -> Decimal | None:
    """A USD amount setting: blank is `default`, `off` (or none/never/unlimited) is None; ValueError(`error`)."""
    value = raw.strip()
    if value == "":
        return default
    if value.lower() in ("off", "none", "never", "unlimited"):
        return None
    try:
        amount = Decimal(value.removeprefix("$"))
    except ArithmeticError:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise ValueError(error)
    return amount


def budget_from_env(environ: Mapping[str, str] | None = None) -> Decimal | None:
    """`X_API_BUDGET_USD`: USD per UTC day (default 5.00), or `off` for no budget."""
    raw = (os.environ if environ is None else environ).get(ENV_BUDGET, "")
    error = f"{ENV_BUDGET}={raw.strip()!r} is not a budget: give USD per UTC day like 5.00, or off for none."
    return usd_setting(raw, DEFAULT_BUDGET, error)


def spend_db_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the ledger lives: `X_API_SPEND_DB`, else the user's state directory; None for `memory`."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV_SPEND_DB, "").strip()
    if raw.lower() == "memory":
        return None
    if raw:
        return Path(raw).expanduser()
    state = env.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "xapi-mcp" / "spend.sqlite3"


def open_ledger(environ: Mapping[str, str] | None = None, *, now: Clock = utc_now) -> SpendLedger:
    """The ledger the settings ask for: SQLite in the state directory by default, or in memory."""
    budget = budget_from_env(environ)
    path = spend_db_path(environ)
    return MemoryLedger(budget, now=now) if path is None else SqliteLedger(path, budget, now=now)


def _micros(amount: Decimal) -> int:
    return int((amount * 1_000_000).to_integral_value(rounding=ROUND_CEILING))


def _usd(micros: int) -> Decimal:
    return Decimal(micros) / 1_000_000


def _scalar(db: sqlite3.Connection, sql: str, *args: object) -> int:
    row = db.execute(sql, args).fetchone()
    return int(row[0] or 0) if row else 0
