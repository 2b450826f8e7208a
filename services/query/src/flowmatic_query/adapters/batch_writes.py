"""What one projection batch transaction writes later, and what it remembers, to spare round trips.

A rebuild projects millions of events and pays one round trip per statement, so rows that nothing in the batch
reads back are not written one by one: `insert` keeps them, and `flush` writes each table's rows with one
pipelined `executemany` (one round trip however many rows), in the order they came. Who reads such a table
during a batch flushes first (the retention restore reads `events`; the sweep deletes the executions an
outcome's audit row looks up). Under a savepoint per record (a batch that had a bad record), nothing waits:
each row is written at once, in the record's own order, so a record's failure is exactly what it was.
"""

from __future__ import annotations

from typing import Any

from flowmatic_query.adapters.execution_projections import NodeTypes
from flowmatic_query.adapters.postgres import Connection


class BatchWrites:
    """One batch transaction's connection, its deferred inserts, and the node types it knows."""

    def __init__(self, connection: Connection, *, defer: bool) -> None:
        self.connection = connection
        self.node_types = NodeTypes()
        self._defer = defer
        self._pending: dict[str, list[tuple[Any, ...]]] = {}

    async def insert(self, statement: str, row: tuple[Any, ...]) -> None:
        """Run `statement` with `row`, now or at the next `flush` (rows of one statement keep their order)."""
        if self._defer:
            self._pending.setdefault(statement, []).append(row)
        else:
            await self.connection.execute(statement, *row)

    async def flush(self) -> None:
        """Write every deferred row: one round trip per statement."""
        pending, self._pending = self._pending, {}
        for statement, rows in pending.items():
            await self.connection.executemany(statement, rows)

    def rolled_back(self) -> None:
        """A savepoint was rolled back: forget every node type learnt, it may have been undone."""
        self.node_types.forget()
