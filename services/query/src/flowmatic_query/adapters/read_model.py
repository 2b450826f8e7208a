"""The read side of the projections: the queries behind the GET endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from flowmatic_query.adapters.filters import Filters
from flowmatic_query.domain.executions import ExecutionRecord, StepRecord
from flowmatic_query.domain.listing import ExecutionFilter, PageRequest, WorkflowFilter, escape_like
from flowmatic_query.ports import ReadModelUnavailableError

# What "the database is unavailable" looks like, as opposed to a bug in a query.
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
    OSError,
    TimeoutError,
)


@asynccontextmanager
async def unavailable_as_port_error() -> AsyncIterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        raise ReadModelUnavailableError(f"the database is unavailable: {type(exc).__name__}") from exc


class PostgresReadModel:
    """The `ReadModel` on PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get_workflow(self, workflow_id: str) -> dict[str, Any] | None:
        """The stored document of a live workflow, or None when unknown or deleted."""
        async with unavailable_as_port_error():
            document: dict[str, Any] | None = await self._pool.fetchval(
                "SELECT document FROM workflows WHERE id = $1 AND NOT deleted", workflow_id
            )
        return document

    async def list_workflows(self, where: WorkflowFilter, page: PageRequest) -> list[dict[str, Any]]:
        """Up to `page.limit + 1` documents, newest first (ids sort by creation time), after `page.after`."""
        filters = Filters("NOT deleted")
        if where.active is not None:
            filters.conditions.append(f"active = {filters.bind(where.active)}")
        if where.name is not None:
            filters.conditions.append(f"name ILIKE '%' || {filters.bind(escape_like(where.name))} || '%' ESCAPE '\\'")
        if page.after is not None:
            filters.conditions.append(f"id < {filters.bind(page.after)}")
        sql = f"SELECT document FROM workflows {filters.where()} ORDER BY id DESC LIMIT {filters.bind(page.limit + 1)}"
        async with unavailable_as_port_error():
            rows = await self._pool.fetch(sql, *filters.arguments)
        return [row["document"] for row in rows]

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """The execution and its steps, read in one snapshot so they never show two different moments."""
        async with (
            unavailable_as_port_error(),
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            row = await connection.fetchrow(
                f"SELECT {_SUMMARY_COLUMNS}, input, output FROM executions WHERE id = $1", execution_id
            )
            if row is None:
                return None
            steps = await connection.fetch(
                "SELECT node_id, type, status, attempt, started_at, finished_at, output, error"
                " FROM steps WHERE execution_id = $1 ORDER BY position",
                execution_id,
            )
        return ExecutionRecord(
            **_summary_fields(row),
            input=row["input"],
            output=row["output"],
            steps=tuple(StepRecord(**dict(step)) for step in steps),
        )

    async def list_executions(self, where: ExecutionFilter, page: PageRequest) -> list[ExecutionRecord]:
        """Up to `page.limit + 1` summaries, newest first (ids sort by creation time), after `page.after`."""
        filters = Filters()
        if where.workflow_id is not None:
            filters.conditions.append(f"workflow_id = {filters.bind(where.workflow_id)}")
        if where.status is not None:
            filters.conditions.append(f"status = {filters.bind(where.status)}")
        if where.since is not None:
            filters.conditions.append(f"started_at >= {filters.bind(where.since)}")
        if where.until is not None:
            filters.conditions.append(f"started_at <= {filters.bind(where.until)}")
        if page.after is not None:
            filters.conditions.append(f"id < {filters.bind(page.after)}")
        sql = (
            f"SELECT {_SUMMARY_COLUMNS} FROM executions {filters.where()}"
            f" ORDER BY id DESC LIMIT {filters.bind(page.limit + 1)}"
        )
        async with unavailable_as_port_error():
            rows = await self._pool.fetch(sql, *filters.arguments)
        return [ExecutionRecord(**_summary_fields(row)) for row in rows]

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        async with unavailable_as_port_error():
            await self._pool.fetchval("SELECT 1")


# What a summary shows; input and output are left out of list queries, they can be large.
_SUMMARY_COLUMNS = (
    "id, workflow_id, workflow_version, status, mode, trigger_id, replay_of, error, started_at, finished_at"
)


def _summary_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {name: row[name] for name in _SUMMARY_COLUMNS.split(", ")}
