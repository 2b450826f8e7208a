"""The read side of histories: an execution's events, a workflow's versions, the audit log, the hash chains."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import asyncpg

from flowmatic_contracts.topics import Topics
from flowmatic_query.adapters.filters import Filters
from flowmatic_query.adapters.read_model import unavailable_as_port_error
from flowmatic_query.domain.audit import AuditEntry, AuditQuery
from flowmatic_query.domain.chain import ChainLink
from flowmatic_query.domain.history import EventRecord, VersionPageRequest, VersionRecord

# Rows fetched per round trip while walking every chain.
CHAIN_PREFETCH = 2000


class PostgresHistory:
    """The `History` port on PostgreSQL; `topics` tells which stored events belong to which stream."""

    def __init__(self, pool: asyncpg.Pool, topics: Topics) -> None:
        self._pool = pool
        self._topics = topics

    async def execution_events(self, execution_id: str) -> list[EventRecord]:
        """The delivery (sequence 0) if any, then the execution's events by sequence; empty when unknown."""
        async with unavailable_as_port_error():
            rows = await self._pool.fetch(
                f"SELECT {_SERVED_COLUMNS} FROM events"
                " WHERE aggregate_id = $1 AND ((topic = $2 AND type = 'WebhookReceived') OR topic = $3)"
                ' ORDER BY sequence, topic, partition, "offset"',
                execution_id,
                self._topics.webhooks,
                self._topics.execution_events,
            )
        return [_event_record(row) for row in rows]

    async def workflow_versions(self, workflow_id: str, page: VersionPageRequest) -> list[VersionRecord] | None:
        """Up to `page.limit + 1` versions after `page.after`, oldest first; None when the workflow is unknown."""
        async with unavailable_as_port_error(), self._pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT version, occurred_at, actor, change FROM workflow_versions"
                " WHERE workflow_id = $1 AND version > $2 ORDER BY version LIMIT $3",
                workflow_id,
                page.after or 0,
                page.limit + 1,
            )
            if not rows and not await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM workflow_versions WHERE workflow_id = $1)", workflow_id
            ):
                return None
        return [VersionRecord(**dict(row)) for row in rows]

    async def workflow_version(self, workflow_id: str, version: int) -> dict[str, Any] | None:
        """The document recorded at that version (deleted workflows included), or None."""
        async with unavailable_as_port_error():
            document: dict[str, Any] | None = await self._pool.fetchval(
                "SELECT document FROM workflow_versions WHERE workflow_id = $1 AND version = $2", workflow_id, version
            )
        return document

    async def audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Up to `query.limit + 1` entries, newest first, after `query.after`."""
        filters = Filters()
        if query.actor_kind is not None:
            filters.conditions.append(f"actor_kind = {filters.bind(query.actor_kind)}")
        if query.actor_id is not None:
            filters.conditions.append(f"actor_id = {filters.bind(query.actor_id)}")
        if query.action is not None:
            filters.conditions.append(f"action = {filters.bind(query.action)}")
        if query.outcome is not None:
            filters.conditions.append(f"outcome = {filters.bind(query.outcome)}")
        if query.since is not None:
            filters.conditions.append(f"occurred_at >= {filters.bind(query.since)}")
        if query.until is not None:
            filters.conditions.append(f"occurred_at <= {filters.bind(query.until)}")
        if query.after is not None:
            after = query.after
            filters.conditions.append(
                f"(occurred_at, event_id) < ({filters.bind(after.occurred_at)}, {filters.bind(after.event_id)})"
            )
        sql = (
            "SELECT event_id, occurred_at, actor_kind, actor_id, action, aggregate_id, outcome, reason FROM audit"
            f" {filters.where()} ORDER BY occurred_at DESC, event_id DESC LIMIT {filters.bind(query.limit + 1)}"
        )
        async with unavailable_as_port_error():
            rows = await self._pool.fetch(sql, *filters.arguments)
        return [
            AuditEntry(
                event_id=row["event_id"],
                occurred_at=row["occurred_at"],
                actor={"kind": row["actor_kind"], "id": row["actor_id"]},
                action=row["action"],
                aggregate_id=row["aggregate_id"],
                outcome=row["outcome"],
                reason=row["reason"],
            )
            for row in rows
        ]

    async def chain_links(self) -> AsyncGenerator[ChainLink, None]:
        """Every event of `workflow-events` and `execution-events` in (aggregate, sequence) order, from one
        snapshot, streamed (memory does not grow with the log): its bytes, and the columns the history serves
        from, which the verifier checks against the bytes."""
        async with (
            unavailable_as_port_error(),
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            cursor = connection.cursor(
                f"SELECT aggregate_id, previous_hash, raw, {_SERVED_COLUMNS} FROM events"
                " WHERE topic = ANY($1::text[])"
                ' ORDER BY aggregate_id, sequence, topic, partition, "offset"',
                [self._topics.workflow_events, self._topics.execution_events],
                prefetch=CHAIN_PREFETCH,
            )
            async for row in cursor:
                yield ChainLink(
                    aggregate_id=row["aggregate_id"],
                    previous_hash=row["previous_hash"],
                    raw=bytes(row["raw"]),
                    served=_event_record(row),
                )


# What `GET /api/v1/executions/{id}/events` serves of a stored event; the chain check reads the same columns.
_SERVED_COLUMNS = "id, type, sequence, occurred_at, actor, correlation_id, causation_id, payload"


def _event_record(row: asyncpg.Record) -> EventRecord:
    return EventRecord(
        id=row["id"],
        type=row["type"],
        sequence=row["sequence"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        payload=row["payload"],
    )
