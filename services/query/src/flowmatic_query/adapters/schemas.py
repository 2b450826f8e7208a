"""Schemas for rebuilding read models side by side, and the atomic swap of a rebuilt set of tables."""

from __future__ import annotations

import re

from flowmatic_query.adapters.postgres import Connection

_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _checked(name: str) -> str:
    """Schema names are made by this service, never by a client; anything else is a bug."""
    if not _SCHEMA_NAME.fullmatch(name):
        raise ValueError(f"not a schema name this service makes: {name!r}")
    return name


async def create_schema(connection: Connection, name: str) -> None:
    await connection.execute(f"CREATE SCHEMA {_checked(name)}")


async def drop_schema(connection: Connection, name: str) -> None:
    await connection.execute(f"DROP SCHEMA IF EXISTS {_checked(name)} CASCADE")


async def live_schema(connection: Connection) -> str:
    """The schema the service's unqualified table names resolve to (normally `public`)."""
    name: str = await connection.fetchval("SELECT current_schema()")
    return name


async def tables_of(connection: Connection, schema: str) -> list[str]:
    """The tables of `schema`, by name (the order tables are locked in: see `swap_tables`)."""
    rows = await connection.fetch(
        'SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename COLLATE "C"', schema
    )
    return [row["tablename"] for row in rows]


async def swap_tables(connection: Connection, *, fresh: str, live: str, retired: str) -> list[str]:
    """Move the live tables that `fresh` also has into a new schema `retired`, and `fresh`'s tables into `live`.

    Run inside the caller's transaction, so readers see the old tables or the new ones, never a mix. The live
    tables are locked first, all in one statement in name order (`executions` before `steps`, the order the
    execution read takes them, so a read in flight cannot deadlock with the swap; it finishes first, and
    reads that come later wait the few milliseconds the moves take). Moving a table keeps its indexes, owned
    sequences and identity, so queries prepared before the swap are re-planned onto the new tables.
    Returns the tables swapped.
    """
    incoming = await tables_of(connection, fresh)
    outgoing = [table for table in await tables_of(connection, live) if table in incoming]
    if outgoing:
        await connection.execute(
            f"LOCK TABLE {', '.join(f'{_checked(live)}.{table}' for table in outgoing)} IN ACCESS EXCLUSIVE MODE"
        )
    await create_schema(connection, retired)
    for table in outgoing:
        await connection.execute(f"ALTER TABLE {live}.{table} SET SCHEMA {_checked(retired)}")
    for table in incoming:
        await connection.execute(f"ALTER TABLE {_checked(fresh)}.{table} SET SCHEMA {live}")
    await drop_schema(connection, fresh)
    return incoming
