"""Retention of execution read models: the sweep that deletes old finished executions, and their restoration.

The log and the `events` table keep everything; only `executions` and `steps` rows are deleted. A workflow whose
`executionRetentionDays` is removed or raised gets its swept executions back: they are re-projected from the
`events` table with the same projection code, in sequence order, so they read exactly as before the sweep.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from flowmatic_contracts.envelope import decode
from flowmatic_contracts.events import WebhookReceived
from flowmatic_query.adapters.execution_projections import EXECUTION_EVENTS, project_execution_event
from flowmatic_query.adapters.postgres import PROJECTION_LOCK, Connection

_HISTORY_TYPES = [WebhookReceived.message_type, *(event.message_type for event in EXECUTION_EVENTS)]


async def sweep(connection: Connection, now: datetime, workflow_id: str | None = None) -> int:
    """Delete the finished executions (and their steps) older than their workflow's setting; returns how many."""
    only = " AND w.id = $2" if workflow_id is not None else ""
    arguments: list[object] = [now] if workflow_id is None else [now, workflow_id]
    count: int = await connection.fetchval(
        "WITH doomed AS ("
        " DELETE FROM executions e USING workflows w"
        " WHERE e.workflow_id = w.id AND w.execution_retention_days IS NOT NULL AND e.finished_at IS NOT NULL"
        f" AND e.finished_at < $1::timestamptz - make_interval(days => w.execution_retention_days){only}"
        " RETURNING e.id),"
        " gone_steps AS (DELETE FROM steps WHERE execution_id IN (SELECT id FROM doomed))"
        " SELECT count(*) FROM doomed",
        *arguments,
    )
    return count


async def restore(connection: Connection, workflow_id: str) -> int:
    """Re-project every execution of the workflow that the sweep deleted, from `events`; returns how many."""
    missing = await connection.fetch(
        "SELECT o.execution_id FROM execution_owners o WHERE o.workflow_id = $1"
        " AND NOT EXISTS (SELECT 1 FROM executions e WHERE e.id = o.execution_id) ORDER BY o.execution_id",
        workflow_id,
    )
    for row in missing:
        history = await connection.fetch(
            "SELECT raw FROM events WHERE aggregate_id = $1 AND type = ANY($2::text[])"
            ' ORDER BY sequence, topic, partition, "offset"',
            row["execution_id"],
            _HISTORY_TYPES,
        )
        for event in history:
            await project_execution_event(connection, decode(bytes(event["raw"])))
    return len(missing)


class PostgresRetention:
    """The sweep as the service runs it: one transaction, serialised with the projector's batches."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def sweep(self, now: datetime) -> int:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", PROJECTION_LOCK)
            return await sweep(connection, now)
