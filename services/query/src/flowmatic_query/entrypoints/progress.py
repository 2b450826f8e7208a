"""The projector's committed positions, and waiting for them: the heart of the sync barrier."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from flowmatic_query.domain.partitions import Partition, reached


class ProjectionProgress:
    """Committed next offsets per partition, advanced only after the database commit that stored them.

    Waiters are woken on every advance; nothing polls the database.
    """

    def __init__(self) -> None:
        self._positions: dict[Partition, int] = {}
        self._changed = asyncio.Condition()
        self._loaded = False
        self._running = False

    @property
    def positions(self) -> dict[Partition, int]:
        """A copy of the committed positions."""
        return dict(self._positions)

    @property
    def partitions(self) -> list[Partition]:
        """Every partition the projector is assigned."""
        return list(self._positions)

    @property
    def ready(self) -> bool:
        """True while the projector runs with its positions loaded."""
        return self._loaded and self._running

    async def load(self, positions: Mapping[Partition, int]) -> None:
        """The starting positions, once known: the projector is then assigned exactly these partitions."""
        async with self._changed:
            self._positions = dict(positions)
            self._loaded = True
            self._running = True
            self._changed.notify_all()

    async def advance(self, positions: Mapping[Partition, int]) -> None:
        """Record positions just committed to the database and wake the waiters."""
        async with self._changed:
            for partition, offset in positions.items():
                if offset > self._positions.get(partition, -1):
                    self._positions[partition] = offset
            self._changed.notify_all()

    async def stopped(self) -> None:
        """The projector no longer runs; waiters give up at their deadline."""
        async with self._changed:
            self._running = False
            self._changed.notify_all()

    async def wait_ready(self) -> None:
        """Return once the projector runs with its positions loaded; bound it with `asyncio.timeout`."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.ready)

    async def wait_for(self, targets: Mapping[Partition, int]) -> None:
        """Return once every target position is committed; bound it with `asyncio.timeout`."""
        wanted = dict(targets)
        async with self._changed:
            await self._changed.wait_for(lambda: reached(self._positions, wanted))
