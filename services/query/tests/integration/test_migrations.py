"""Migrations apply once, in order, even when two instances start together."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from flowmatic_query.adapters.migrations import discover, migrate
from flowmatic_query.adapters.postgres import create_pool
from flowmatic_query.settings import Settings

pytestmark = pytest.mark.integration

MIGRATIONS: Path = Settings.model_fields["migrations_dir"].default


async def test_two_instances_migrating_together_apply_each_migration_once(fresh_database: str) -> None:
    first, second = await create_pool(fresh_database), await create_pool(fresh_database)
    try:
        applied = await asyncio.gather(migrate(first, MIGRATIONS), migrate(second, MIGRATIONS))
        again = await migrate(first, MIGRATIONS)
        recorded = await first.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await first.close()
        await second.close()
    every = [m.version for m in discover(MIGRATIONS)]
    assert sorted(applied[0] + applied[1]) == every
    assert again == []
    assert [r["version"] for r in recorded] == every


async def test_a_failing_migration_leaves_nothing_behind(fresh_database: str, tmp_path: Path) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    pool = await create_pool(fresh_database)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(pool, tmp_path)
        tables = {
            r["tablename"] for r in await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        recorded = [r["version"] for r in await pool.fetch("SELECT version FROM schema_migrations")]
    finally:
        await pool.close()
    assert "good" in tables and "half" not in tables
    assert recorded == ["0001_good"]
