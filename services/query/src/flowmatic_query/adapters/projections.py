"""Where an event becomes a row: every projection of the log into PostgreSQL, and the positions beside them.

Workflow events are projected here; webhook deliveries and execution events in `execution_projections.py`;
command outcomes and deliveries into the audit log in `audit_projection.py`.

A batch of records is applied in ONE transaction together with the next offsets it reaches, so a crash never
applies an event twice nor skips one. A batch is first applied as a whole; if a record fails, the batch is rolled
back and applied again with each record under its own savepoint: the record that cannot be decoded or applied
is written to `projection_errors` and skipped, and the rest of the batch still commits.

What a batch costs is round trips (one per statement; a rebuild projects millions of events). So the `events` and
`audit` rows of a batch are written together at its end (`batch_writes.py`), each event's read models take one
statement where they can (see `execution_projections.py`), and the offsets are written once per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from flowmatic_contracts.envelope import Envelope, decode, to_jsonable
from flowmatic_contracts.events import WorkflowCreated, WorkflowDeleted, WorkflowUpdated
from flowmatic_query.adapters.audit_projection import project_audit
from flowmatic_query.adapters.batch_writes import BatchWrites
from flowmatic_query.adapters.execution_projections import project_execution_event
from flowmatic_query.adapters.postgres import PROJECTION_LOCK, Connection
from flowmatic_query.adapters.retention import restore, sweep
from flowmatic_query.domain.partitions import LogRecord, Partition
from flowmatic_query.domain.stored_events import stored_payload
from flowmatic_query.domain.workflows import mark_deleted, render_workflow, retention_lifted

log = logging.getLogger(__name__)


# Failures of the database itself, not of one record: the batch is rolled back and retried, never skipped.
_TRANSIENT_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
    OSError,
)


class PostgresProjectionStore:
    """The `ProjectionStore` on PostgreSQL. `lock_key` is the advisory lock every batch holds: projectors of the
    same tables share it; a rebuild into fresh tables uses its own (see `entrypoints/rebuild.py`)."""

    def __init__(self, pool: asyncpg.Pool, lock_key: int = PROJECTION_LOCK) -> None:
        self._pool = pool
        self._lock_key = lock_key

    async def load_positions(self, topics: Sequence[str]) -> dict[Partition, int]:
        """The stored next offset of every partition of `topics`."""
        rows = await self._pool.fetch(
            "SELECT topic, partition, next_offset FROM projection_offsets WHERE topic = ANY($1::text[])", list(topics)
        )
        return {Partition(row["topic"], row["partition"]): row["next_offset"] for row in rows}

    async def commit_batch(
        self, records: Sequence[LogRecord], positions: Mapping[Partition, int]
    ) -> dict[Partition, int]:
        """Apply `records` and store `positions` in one transaction; returns the positions committed.

        Records below a partition's stored offset were applied by another projector on the same database and
        are skipped; the committed position is then the further of the two.
        """
        try:
            return await self._commit(records, positions, guarded=False)
        except _TRANSIENT_ERRORS:
            raise
        except Exception:
            # Some record cannot be applied: again, each record under its own savepoint, so only it is skipped.
            # (Savepoints on every record cost two round trips each: only a batch that needs them pays.)
            return await self._commit(records, positions, guarded=True)

    async def _commit(
        self,
        records: Sequence[LogRecord],
        positions: Mapping[Partition, int],
        *,
        guarded: bool,
    ) -> dict[Partition, int]:
        apply = _apply_guarded if guarded else apply_record
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", self._lock_key)
            stored = await _stored_positions(connection, positions.keys())
            batch = BatchWrites(connection, defer=not guarded)
            for record in records:
                if record.offset < stored.get(record.position, 0):
                    continue
                await apply(batch, record)
            await batch.flush()
            committed = {p: max(offset, stored.get(p, 0)) for p, offset in positions.items()}
            changed = [(p.topic, p.partition, o) for p, o in committed.items() if stored.get(p) != o]
            if changed:
                await connection.executemany(
                    "INSERT INTO projection_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)"
                    " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                    changed,
                )
        return committed


async def _stored_positions(connection: Connection, partitions: Any) -> dict[Partition, int]:
    wanted = list(partitions)
    if not wanted:
        return {}
    rows = await connection.fetch(
        "SELECT o.topic, o.partition, o.next_offset FROM projection_offsets o"
        " JOIN unnest($1::text[], $2::int[]) AS w(topic, partition)"
        " ON o.topic = w.topic AND o.partition = w.partition FOR UPDATE OF o",
        [p.topic for p in wanted],
        [p.partition for p in wanted],
    )
    return {Partition(row["topic"], row["partition"]): row["next_offset"] for row in rows}


async def _apply_guarded(batch: BatchWrites, record: LogRecord) -> None:
    """Apply one record under a savepoint; a record that fails is recorded in `projection_errors`."""
    connection = batch.connection
    try:
        async with connection.transaction():
            await apply_record(batch, record)
    except _TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        batch.rolled_back()
        error = f"{type(exc).__name__}: {exc}"
        log.error(
            "cannot project %s[%d]@%d, recorded and skipped: %s", record.topic, record.partition, record.offset, error
        )
        await connection.execute(
            'INSERT INTO projection_errors (topic, partition, "offset", error, raw) VALUES ($1, $2, $3, $4, $5)',
            record.topic,
            record.partition,
            record.offset,
            error[:4000],
            record.value,
        )


async def apply_record(batch: BatchWrites, record: LogRecord) -> None:
    """Decode one record and project it: the audit row, then the read models its type feeds."""
    if record.value is None:
        raise ValueError("a record without a value is not an event")
    envelope = decode(record.value)
    await batch.insert(_INSERT_EVENT, _event_row(record, envelope))
    connection = batch.connection
    payload = envelope.payload
    if isinstance(payload, WorkflowCreated | WorkflowUpdated):
        await _project_workflow_written(batch, envelope, payload)
    elif isinstance(payload, WorkflowDeleted):
        await _project_workflow_deleted(connection, envelope)
    else:
        await project_execution_event(connection, envelope, batch.node_types)
    await project_audit(batch, envelope)


_INSERT_EVENT = (
    'INSERT INTO events (topic, partition, "offset", id, type, schema_version, aggregate_id, sequence,'
    " occurred_at, correlation_id, causation_id, actor, payload, previous_hash, raw)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
)


def _event_row(record: LogRecord, envelope: Envelope) -> tuple[Any, ...]:
    data = to_jsonable(envelope)
    # Ciphertext of webhook secrets stays out of every queryable column (it is only in `raw`).
    payload = stored_payload(data["payload"])
    return (
        record.topic,
        record.partition,
        record.offset,
        envelope.id,
        envelope.type,
        envelope.schema_version,
        envelope.aggregate_id,
        envelope.sequence,
        envelope.occurred_at,
        envelope.correlation_id,
        envelope.causation_id,
        data["actor"],
        payload,
        envelope.previous_hash,
        record.value,
    )


async def _project_workflow_written(
    batch: BatchWrites, envelope: Envelope, payload: WorkflowCreated | WorkflowUpdated
) -> None:
    connection = batch.connection
    workflow_id = envelope.aggregate_id
    version = envelope.sequence
    created_at: datetime = envelope.occurred_at
    previous = await connection.fetchrow(
        "SELECT created_at, execution_retention_days FROM workflows WHERE id = $1", workflow_id
    )
    if isinstance(payload, WorkflowUpdated) and previous is not None:
        created_at = previous["created_at"]
    document = render_workflow(
        workflow_id=workflow_id,
        version=version,
        spec=payload.spec,
        webhooks=payload.webhooks,
        created_at=created_at,
        updated_at=envelope.occurred_at,
    )
    await connection.execute(
        "INSERT INTO workflows (id, version, name, description, active, document, created_at, updated_at, deleted,"
        " execution_retention_days)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, false, $9)"
        " ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, name = EXCLUDED.name,"
        " description = EXCLUDED.description, active = EXCLUDED.active, document = EXCLUDED.document,"
        " updated_at = EXCLUDED.updated_at, deleted = false,"
        " execution_retention_days = EXCLUDED.execution_retention_days",
        workflow_id,
        version,
        payload.spec.name,
        payload.spec.description,
        payload.spec.active,
        document,
        created_at,
        envelope.occurred_at,
        payload.spec.execution_retention_days,
    )
    change = "created" if isinstance(payload, WorkflowCreated) else "updated"
    await _insert_version(connection, envelope, change, document)
    if previous is not None and retention_lifted(
        previous["execution_retention_days"], payload.spec.execution_retention_days
    ):
        # Executions swept under the old setting come back from the log; those still too old go again. The
        # restore reads `events` and the sweep deletes executions that audit rows look up, so this batch's
        # deferred rows go in first; both rewrite execution rows, so the node types known are forgotten.
        await batch.flush()
        await restore(connection, workflow_id)
        await sweep(connection, await connection.fetchval("SELECT now()"), workflow_id)
        batch.node_types.forget()


async def _project_workflow_deleted(connection: Connection, envelope: Envelope) -> None:
    document = await connection.fetchval(
        "UPDATE workflows SET deleted = true, version = $2, updated_at = $3 WHERE id = $1 RETURNING document",
        envelope.aggregate_id,
        envelope.sequence,
        envelope.occurred_at,
    )
    recorded = None
    if document is not None:
        recorded = mark_deleted(document, version=envelope.sequence, deleted_at=envelope.occurred_at)
    await _insert_version(connection, envelope, "deleted", recorded)


async def _insert_version(
    connection: Connection, envelope: Envelope, change: str, document: dict[str, Any] | None
) -> None:
    # A plain INSERT: the same version twice fails loudly (and lands in projection_errors) instead of hiding.
    await connection.execute(
        "INSERT INTO workflow_versions (workflow_id, version, change, actor, occurred_at, document)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        envelope.aggregate_id,
        envelope.sequence,
        change,
        envelope.actor.model_dump(mode="json", by_alias=True),
        envelope.occurred_at,
        document,
    )
