"""Numbered SQL migrations (`0001_name.sql`), applied in order, each in its own transaction, exactly once."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any fixed 64-bit number: two instances starting together take turns instead of racing on DDL.
MIGRATIONS_LOCK = 0x666C6F776D617469  # "flowmati"


@dataclass(frozen=True)
class Migration:
    """One SQL file; `version` is its file name without the extension."""

    version: str
    sql: str


def discover(directory: Path) -> list[Migration]:
    """The migrations in `directory`, in order. A misnamed or duplicate-numbered `.sql` file is an error."""
    found: dict[str, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} is not named like 0001_some_change.sql")
        number = match.group(1)
        if number in found:
            raise ValueError(f"migrations {found[number].name} and {path.name} share the number {number}")
        found[number] = path
    if not found:
        raise ValueError(f"no migrations found in {directory}")
    return [Migration(version=path.stem, sql=path.read_text(encoding="utf-8")) for _, path in sorted(found.items())]


async def apply_migrations(connection: PoolConnectionProxy, migrations: list[Migration]) -> list[str]:
    """Apply the migrations not yet recorded in `schema_migrations`; returns the versions applied now."""
    await connection.execute("SELECT pg_advisory_lock($1)", MIGRATIONS_LOCK)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")}
        applied: list[str] = []
        for migration in migrations:
            if migration.version in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", migration.version)
            log.info("applied migration %s", migration.version)
            applied.append(migration.version)
        return applied
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATIONS_LOCK)


async def migrate(pool: asyncpg.Pool, directory: Path) -> list[str]:
    """Apply every pending migration in `directory` using one connection of `pool`."""
    migrations = discover(directory)
    async with pool.acquire() as connection:
        return await apply_migrations(connection, migrations)
