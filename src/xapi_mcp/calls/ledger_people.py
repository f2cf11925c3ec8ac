"""Remote mode's spend ledger: each person's own budget, whichever request of theirs is running.

A `SpendLedger` that is, in each request, the ledger of the person it acts for (`auth.people`):
Alice's calls never spend Bob's budget, and a reservation is settled in the ledger that held it
(the same request). In memory (one replica) or in Redis (`RedisLedger.for_person`, any replica).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import date
from decimal import Decimal

from xapi_mcp.auth.people import PerPerson
from xapi_mcp.calls.cost import Charge
from xapi_mcp.calls.ledger import Reservation, SpendLedger, ToolSpend


class PersonLedgers:
    """The current person's `SpendLedger`, made by `make(person_id)` on their first call."""

    def __init__(self, make: Callable[[str], SpendLedger], budget: Decimal | None) -> None:
        self._people = PerPerson(make)
        self.budget = budget  # every person's daily budget (X_API_BUDGET_USD)

    def today(self) -> date:
        return self._people.current().today()

    async def reserve(self, tool: str, usd: Decimal, why: str = "") -> Reservation:
        return await self._people.current().reserve(tool, usd, why)

    async def settle(self, reservation: Reservation, charge: Charge) -> None:
        await self._people.current().settle(reservation, charge)

    async def release(self, reservation: Reservation) -> None:
        await self._people.current().release(reservation)

    async def seen(self, day: date, keys: Collection[str]) -> set[str]:
        return await self._people.current().seen(day, keys)

    async def mark_seen(self, day: date, keys: Iterable[str]) -> None:
        await self._people.current().mark_seen(day, keys)

    async def day_total(self, day: date) -> Decimal:
        return await self._people.current().day_total(day)

    async def by_tool(self, day: date) -> dict[str, ToolSpend]:
        return await self._people.current().by_tool(day)

    def close(self) -> None:
        for ledger in self._people.all():
            ledger.close()
