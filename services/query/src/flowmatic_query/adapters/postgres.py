"""The asyncpg connection pool, with jsonb as plain Python values (orjson)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

Connection = PoolConnectionProxy

# Held for the length of each projection batch transaction (and by whatever else writes the read models: the
# retention sweep, the rebuild's swap): two projectors on one database take turns, and each skips what the other
# already applied (see `projections.commit_batch`).
PROJECTION_LOCK = 0x666C6F7770726F6A  # "flowproj"


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("jsonb", "json"):
        await connection.set_type_codec(
            type_name, encoder=_encode_json, decoder=orjson.loads, schema="pg_catalog", format="text"
        )


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, search_path: str | None = None
) -> asyncpg.Pool:
    """A pool whose connections read and write jsonb as Python values.

    `search_path` makes every unqualified table name resolve in that schema only (the rebuild projects the same
    code into a fresh schema this way)."""
    server_settings = {"search_path": search_path} if search_path is not None else None
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
        server_settings=server_settings,
    )
