"""The spend ledger in Redis: a budget per person, an optional cap for the whole deployment, any replica.

Same semantics as `MemoryLedger` and `SqliteLedger` (calls/ledger.py): UTC days from the injected
clock, a reservation checked and held in one atomic step (a Lua script: no other client's command
runs between the check and the hold, so concurrent reserves from any number of replicas never
overspend), holds that stop counting RESERVATION_TTL after they were made, settle, release, and
the once-a-day dedup of charged resources.

Key layout (P = prefix, default `xapi-mcp`; U = person id, percent-encoded; D = UTC day, ISO):

    P:spend:U:D   hash  `total`, `usd:<tool>` (micro-dollars), `calls:<tool>`, `res:<tool>:<category>`;
                        kept KEEP_DAYS after the day, for reports
    P:held:U:D    zset  the person's holds: member `<id>:<micro-dollars>`, score = expiry (Unix s)
    P:spend:*:D   hash  `total`: the whole deployment's settled spend (every settle adds to it)
    P:held:*:D    zset  every person's holds, kept only when a deployment cap is set
    P:seen:D      list  resource keys charged on D, expiring when D ends

`*` cannot be a person (ids are percent-encoded). The charged keys belong to the deployment, not
to a person: X bills the developer app and dedups per app, and every person of a deployment acts
through the same app. Money is integer micro-dollars, as in SQLite (rounded up).

Round trips (benchmarks/ledger_bench.py counts them): `reserve` is one EVALSHA, `settle` one
EVALSHA of a second script (one command to pack and one reply to parse, not a MULTI of a dozen),
`seen` none on the hot path: the reserve script also returns the charged keys added since this
process last looked (a cursor into `P:seen:D`), so `seen` answers from this process's copy, as
fresh as the reserve. A key another replica charges between that reserve and this call's `seen`
is counted again here: an overstatement, never less. The settle script also returns the person's
new total, which `day_total` answers for `total_fresh_for` seconds (the cost line read right
after a call): within that second, another replica's settle for the same person may be missing.

The ledger acts for one person; `for_person` gives another person's view sharing the client, the
scripts and the copy of charged keys. Times come from the injected clock; key lifetimes are
relative (EXPIRE), so a clock in the past or future does not delete keys early.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from time import monotonic

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from xapi_mcp.calls.cost import Charge
from xapi_mcp.calls.cost import usd as money
from xapi_mcp.calls.ledger import (
    DEFAULT_BUDGET,
    RESERVATION_TTL,
    BudgetExceeded,
    Clock,
    Reservation,
    ToolSpend,
    utc_day,
    utc_now,
)
from xapi_mcp.redis_state import DEFAULT_PREFIX, guarded, key_part
from xapi_mcp.stores import LOCAL_PERSON

KEEP_DAYS = 35  # spend per tool stays readable this long after its day (a month's report)
DEPLOYMENT = "*"

# KEYS: 1 person spend, 2 person holds, 3 deployment spend, 4 deployment holds, 5 charged keys (list)
# ARGV: 1 now, 2 hold expiry, 3 member, 4 micro-dollars, 5 budget (-1: none), 6 cap (-1: none),
#       7 holds' key lifetime (s), 8 cursor into the charged keys
# Returns {verdict (0 held, 1 over the person's budget, 2 over the deployment cap), spent, held, start, new keys}
_RESERVE = """
local now, micros = tonumber(ARGV[1]), tonumber(ARGV[4])
local function held(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local sum = 0
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    sum = sum + tonumber(string.match(member, ':(%d+)$'))
  end
  return sum
end
local function spent(key)
  return tonumber(redis.call('HGET', key, 'total') or '0')
end
local start = tonumber(ARGV[8])
if start > redis.call('LLEN', KEYS[5]) then start = 0 end
local seen = redis.call('LRANGE', KEYS[5], start, -1)
if micros > 0 then
  local budget, cap = tonumber(ARGV[5]), tonumber(ARGV[6])
  local mine, mine_held = spent(KEYS[1]), held(KEYS[2])
  if budget >= 0 and mine + mine_held + micros > budget then
    return {1, mine, mine_held, start, seen}
  end
  if cap >= 0 then
    local all, all_held = spent(KEYS[3]), held(KEYS[4])
    if all + all_held + micros > cap then
      return {2, all, all_held, start, seen}
    end
    redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
    redis.call('EXPIRE', KEYS[4], ARGV[7])
  end
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
return {0, 0, 0, start, seen}
"""

# KEYS: 1 person holds, 2 deployment holds (of the reservation's day), 3 person spend, 4 deployment spend,
#       5 charged keys (of today)
# ARGV: 1 member, 2 micro-dollars, 3 tool, 4 spend's key lifetime (s), 5 charged keys' lifetime (s), 6 cursor,
#       7 n categories, then n (category, count) pairs, then the newly charged keys
# Returns {start, the charged keys from start on (this call's among them), the person's new total for the day}
_SETTLE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local micros, tool = ARGV[2], ARGV[3]
local total = redis.call('HINCRBY', KEYS[3], 'total', micros)
redis.call('HINCRBY', KEYS[3], 'usd:' .. tool, micros)
redis.call('HINCRBY', KEYS[3], 'calls:' .. tool, 1)
local n = tonumber(ARGV[7])
for i = 0, n - 1 do
  redis.call('HINCRBY', KEYS[3], 'res:' .. tool .. ':' .. ARGV[8 + 2 * i], ARGV[9 + 2 * i])
end
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('HINCRBY', KEYS[4], 'total', micros)
redis.call('EXPIRE', KEYS[4], ARGV[4])
local first = 8 + 2 * n
if #ARGV >= first then
  for i = first, #ARGV, 1000 do  -- unpack puts its values on Lua's stack: a thousand at a time
    redis.call('RPUSH', KEYS[5], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
  redis.call('EXPIRE', KEYS[5], ARGV[5])
end
local start = tonumber(ARGV[6])
if start > redis.call('LLEN', KEYS[5]) then start = 0 end
return {start, redis.call('LRANGE', KEYS[5], start, -1), total}
"""


class DeploymentCapExceeded(BudgetExceeded):
    """A call would take the whole deployment's spend today over its cap; nothing was sent."""

    def __init__(
        self, estimate: Decimal, spent: Decimal, reserved: Decimal, cap: Decimal, why: str, now: datetime
    ) -> None:
        super().__init__(estimate, spent, reserved, cap, why, now)
        minutes = int((self.resets_at - now).total_seconds() // 60)
        running = f" (+{money(reserved)} held by calls still running)" if reserved else ""
        self.args = (
            f"Not sent: this call could cost up to {money(estimate)}{f' ({why})' if why else ''}, and today's X API "
            f"spend of everyone using this server is {money(spent)}{running} of the deployment's {money(cap)} daily "
            f"cap (per UTC day; it resets at 00:00 UTC, in {minutes // 60} h {minutes % 60:02d} min). To go on: "
            f"{self.SMALLER}ask whoever runs this server to raise the cap.",
        )


class _SeenCopy:
    """This process's copy of one day's charged keys, and how far into `P:seen:D` it has read."""

    def __init__(self) -> None:
        self.day: date | None = None
        self.keys: set[str] = set()
        self.cursor = 0

    def cursor_for(self, day: date) -> int:
        return self.cursor if day == self.day else 0

    def merge(self, day: date, sent: int, start: int, entries: Sequence[bytes | str]) -> None:
        """Add what Redis returned from `start` on (asked from `sent`; less: the list was emptied)."""
        if day != self.day:
            if self.day is not None and day < self.day:
                return  # an answer about a day this process has left
            self.day, self.keys, self.cursor = day, set(), 0
        self.keys.update(_text(entry) for entry in entries)
        end = start + len(entries)
        self.cursor = end if start < sent else max(self.cursor, end)


class RedisLedger:
    """The spend of one person (`person`), in Redis shared by every replica; see the module's doc."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        person: str = LOCAL_PERSON,
        budget: Decimal | None = DEFAULT_BUDGET,
        deployment_cap: Decimal | None = None,
        prefix: str = DEFAULT_PREFIX,
        now: Clock = utc_now,
        keep_days: int = KEEP_DAYS,
        total_fresh_for: float = 1.0,
    ) -> None:
        self.budget, self.deployment_cap, self.person = budget, deployment_cap, person
        self._client, self._prefix, self._now, self._keep_days = client, prefix, now, keep_days
        self._who = key_part(person)
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._seen = _SeenCopy()
        self.total_fresh_for = total_fresh_for
        self._settled: tuple[date, int, float] | None = None  # day, the person's total a settle returned, when

    def for_person(self, person: str, budget: Decimal | None = DEFAULT_BUDGET) -> RedisLedger:
        """Another person's ledger on the same Redis: same client, script, cap and copy of charged keys."""
        other = RedisLedger(
            self._client,
            person=person,
            budget=budget,
            deployment_cap=self.deployment_cap,
            prefix=self._prefix,
            now=self._now,
            keep_days=self._keep_days,
        )
        other._reserve, other._settle, other._seen = self._reserve, self._settle, self._seen
        return other

    def close(self) -> None:
        """Nothing of its own to let go: the Redis client belongs to whoever connected it (app.py)."""

    def today(self) -> date:
        return utc_day(self._now())

    def _key(self, kind: str, who: str, day: date) -> str:
        return f"{self._prefix}:{kind}:{who}:{day.isoformat()}"

    def _seen_key(self, day: date) -> str:
        return f"{self._prefix}:seen:{day.isoformat()}"

    def _seen_ttl(self, day: date) -> int:
        """Seconds until `day` is over (by the injected clock), plus an hour for calls that straddle midnight."""
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        return max(60, int((end - self._now()).total_seconds()) + 3600)

    async def reserve(self, tool: str, usd: Decimal, why: str = "") -> Reservation:
        now = self._now()
        reservation = Reservation(os.urandom(12).hex(), tool, usd, utc_day(now))
        day, micros = reservation.day, _micros(usd)
        cursor = self._seen.cursor_for(day)
        keys = [
            self._key("spend", self._who, day),
            self._key("held", self._who, day),
            self._key("spend", DEPLOYMENT, day),
            self._key("held", DEPLOYMENT, day),
            self._seen_key(day),
        ]
        hold_until = now + RESERVATION_TTL
        args: list[str | int | float] = [now.timestamp(), hold_until.timestamp(), _member(reservation), micros]
        args += [_limit(self.budget), _limit(self.deployment_cap), int(RESERVATION_TTL.total_seconds()) + 60, cursor]
        with guarded(self._client, "reserving this call's cost against the budget", "Nothing was sent to X."):
            verdict, spent, held, start, entries = await self._reserve(keys=keys, args=args)
        self._seen.merge(day, cursor, int(start), entries)
        if verdict == 1:
            assert self.budget is not None
            raise BudgetExceeded(usd, _usd(spent), _usd(held), self.budget, why, now)
        if verdict == 2:
            assert self.deployment_cap is not None
            raise DeploymentCapExceeded(usd, _usd(spent), _usd(held), self.deployment_cap, why, now)
        return reservation

    async def settle(self, reservation: Reservation, charge: Charge) -> None:
        day, tool = self.today(), reservation.tool
        keys = [
            self._key("held", self._who, reservation.day),
            self._key("held", DEPLOYMENT, reservation.day),
            self._key("spend", self._who, day),
            self._key("spend", DEPLOYMENT, day),
            self._seen_key(day),
        ]
        cursor = self._seen.cursor_for(day)
        new = [key for key in charge.keys if day != self._seen.day or key not in self._seen.keys]
        keep = self._seen_ttl(day) + self._keep_days * 86_400
        args: list[str | int] = [_member(reservation), _micros(charge.usd), tool, keep, self._seen_ttl(day), cursor]
        args.append(len(charge.resources))
        for category, count in charge.resources.items():
            args += [category, count]
        outcome = f"X answered and may have billed {money(charge.usd)}, which today's total may now lack."
        with guarded(self._client, "recording what this call cost", outcome):
            start, entries, total = await self._settle(keys=keys, args=[*args, *new])
        self._seen.merge(day, cursor, int(start), entries)
        if self._settled is not None and self._settled[0] == day:
            total = max(int(total), self._settled[1])  # settles answered out of order: a day's total only grows
        self._settled = (day, int(total), monotonic())

    async def release(self, reservation: Reservation) -> None:
        member, day = _member(reservation), reservation.day
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zrem(self._key("held", self._who, day), member)
            pipe.zrem(self._key("held", DEPLOYMENT, day), member)
            with guarded(self._client, "freeing this call's hold", "Its hold stops counting within 10 minutes."):
                await pipe.execute()

    async def seen(self, day: date, keys: Collection[str]) -> set[str]:
        if day != self._seen.day:
            with guarded(self._client, "reading the resources already charged today", "Nothing was sent to X."):
                entries = await self._client.lrange(self._seen_key(day), 0, -1)
            self._seen.merge(day, 0, 0, entries)
            if day != self._seen.day:  # a day before the one this process is on: not kept
                return set(keys) & {_text(entry) for entry in entries}
        return set(keys) & self._seen.keys

    async def mark_seen(self, day: date, keys: Iterable[str]) -> None:
        new = [key for key in keys if day != self._seen.day or key not in self._seen.keys]
        cursor = self._seen.cursor_for(day)
        async with self._client.pipeline(transaction=True) as pipe:
            if not self._push_seen(pipe, day, new, cursor):
                return
            with guarded(self._client, "recording the resources charged", "X's answer was received."):
                results = await pipe.execute()
        self._seen.merge(day, cursor, cursor, results[-1])

    def _push_seen(self, pipe: Pipeline, day: date, new: list[str], cursor: int) -> bool:
        """Queue the new charged keys and the read of what others added; False when there is nothing to do."""
        if not new:
            return False
        pipe.rpush(self._seen_key(day), *new)
        pipe.expire(self._seen_key(day), self._seen_ttl(day))
        pipe.lrange(self._seen_key(day), cursor, -1)
        return True

    async def day_total(self, day: date) -> Decimal:
        """This person's settled spend on `day`: as the last settle here returned it, when that was less than
        `total_fresh_for` seconds ago (the cost line right after a call costs no round trip), else read."""
        settled = self._settled
        if settled is not None and settled[0] == day and monotonic() - settled[2] < self.total_fresh_for:
            return _usd(settled[1])
        return await self._total(self._key("spend", self._who, day))

    async def deployment_total(self, day: date) -> Decimal:
        """Everyone's settled spend on `day`."""
        return await self._total(self._key("spend", DEPLOYMENT, day))

    async def _total(self, key: str) -> Decimal:
        with guarded(self._client, "reading today's spend", "Nothing was sent to X."):
            return _usd(int(await self._client.hget(key, "total") or 0))

    async def by_tool(self, day: date) -> dict[str, ToolSpend]:
        with guarded(self._client, "reading today's spend per tool", "Nothing was sent to X."):
            fields = await self._client.hgetall(self._key("spend", self._who, day))
        usd: dict[str, int] = {}
        calls: dict[str, int] = {}
        resources: dict[str, dict[str, int]] = {}
        for raw, value in fields.items():
            kind, _, rest = _text(raw).partition(":")
            if kind == "usd":
                usd[rest] = int(value)
            elif kind == "calls":
                calls[rest] = int(value)
            elif kind == "res":
                tool, _, category = rest.partition(":")
                resources.setdefault(tool, {})[category] = int(value)
        return {tool: ToolSpend(_usd(usd.get(tool, 0)), n, resources.get(tool, {})) for tool, n in calls.items()}


def _member(reservation: Reservation) -> str:
    return f"{reservation.id}:{_micros(reservation.usd)}"


def _limit(amount: Decimal | None) -> int:
    return -1 if amount is None else int((amount * 1_000_000).to_integral_value(rounding=ROUND_CEILING))


def _micros(amount: Decimal) -> int:
    return max(0, int((amount * 1_000_000).to_integral_value(rounding=ROUND_CEILING)))


def _usd(micros: int | float | bytes) -> Decimal:
    return Decimal(int(micros)) / 1_000_000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
