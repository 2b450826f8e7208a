"""The read side of the projections: the queries behind the GET endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from flowmatic_query.domain.listing import PageRequest, WorkflowFilter, escape_like
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
async def _unavailable_as_port_error() -> AsyncIterator[None]:
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
        async with _unavailable_as_port_error():
            document: dict[str, Any] | None = await self._pool.fetchval(
                "SELECT document FROM workflows WHERE id = $1 AND NOT deleted", workflow_id
            )
        return document

    async def list_workflows(self, where: WorkflowFilter, page: PageRequest) -> list[dict[str, Any]]:
        """Up to `page.limit + 1` documents, newest first (ids sort by creation time), after `page.after`."""
        conditions = ["NOT deleted"]
        arguments: list[Any] = []
        if where.active is not None:
            arguments.append(where.active)
            conditions.append(f"active = ${len(arguments)}")
        if where.name is not None:
            arguments.append(escape_like(where.name))
            conditions.append(f"name ILIKE '%' || ${len(arguments)} || '%' ESCAPE '\\'")
        if page.after is not None:
            arguments.append(page.after)
            conditions.append(f"id < ${len(arguments)}")
        arguments.append(page.limit + 1)
        sql = (
            f"SELECT document FROM workflows WHERE {' AND '.join(conditions)} ORDER BY id DESC LIMIT ${len(arguments)}"
        )
        async with _unavailable_as_port_error():
            rows = await self._pool.fetch(sql, *arguments)
        return [row["document"] for row in rows]

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        async with _unavailable_as_port_error():
            await self._pool.fetchval("SELECT 1")
