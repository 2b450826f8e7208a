"""`flowmatic projections rebuild`: every read model rebuilt from offset 0 into fresh tables, then swapped in.

1. A fresh schema `rebuild_<stamp>` gets the same migrations; the same projection code (`PostgresProjectionStore`)
   projects every partition of the event topics from its first offset into it, through a pool whose
   `search_path` is that schema. Progress is reported against the log-end offsets read at the start.
2. The live service keeps projecting into, and answering from, the old tables all along.
3. The swap, in ONE transaction on the live database: take the projection lock (the live projector's batches
   wait), read the live projector's offsets, project the rebuild up to at least them, then move the old tables
   out to `retired_<stamp>` and the new ones in (`adapters/schemas.py`). The new tables carry the rebuild's
   offsets, which are at or past the live ones, so the live projector carries on from them: its next batch skips
   what the rebuild already applied (`commit_batch` skips records below the stored offsets).
   Before the swap, the retention sweep runs on the new tables, so they hold what the old ones held.
4. The retired tables are dropped, unless asked to keep them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer

from flowmatic_contracts.topics import Topics
from flowmatic_query.adapters.kafka import discover_partitions, new_log_reader, to_topic_partition
from flowmatic_query.adapters.migrations import migrate
from flowmatic_query.adapters.postgres import PROJECTION_LOCK, create_pool
from flowmatic_query.adapters.projections import PostgresProjectionStore
from flowmatic_query.adapters.retention import sweep
from flowmatic_query.adapters.schemas import create_schema, drop_schema, live_schema, swap_tables
from flowmatic_query.domain.partitions import LogRecord, Partition, reached
from flowmatic_query.settings import Settings

log = logging.getLogger(__name__)

# The rebuild's batches lock this key, not the live projector's: the swap holds the live key while it catches up.
REBUILD_LOCK = 0x666C6F7772656275  # "flowrebu"

ProgressCallback = Callable[[int, int, float], None]
"""Called with (offsets done, offsets to do per the end offsets read at the start, seconds elapsed). Offsets, not
events: transaction markers take offsets too, and counting them is what lets the bar reach its end."""


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    records: int
    seconds: float
    tables: tuple[str, ...]
    retired_schema: str | None

    @property
    def rate(self) -> float:
        """Records projected per second, swap included."""
        return self.records / self.seconds if self.seconds > 0 else 0.0


class _Rebuilder:
    """One rebuild's consumer, store and counters."""

    def __init__(
        self, consumer: AIOKafkaConsumer, store: PostgresProjectionStore, batch_size: int, on_progress: ProgressCallback
    ) -> None:
        self._consumer = consumer
        self._store = store
        self._batch_size = batch_size
        self._on_progress = on_progress
        self.positions: dict[Partition, int] = {}
        self._first: dict[Partition, int] = {}
        self._ends: dict[Partition, int] = {}
        self.records = 0
        self.total = 0
        self.started = time.monotonic()

    async def start(self, topics: Sequence[str]) -> None:
        """Assign every partition from its first offset; the total is what the log holds now."""
        partitions = await discover_partitions(self._consumer, topics)
        assigned = [to_topic_partition(p) for p in partitions]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        first = await self._consumer.beginning_offsets(assigned)
        ends = await self._consumer.end_offsets(assigned)
        self.positions = {Partition(tp.topic, tp.partition): int(first[tp]) for tp in assigned}
        self._first = dict(self.positions)
        self._ends = {Partition(tp.topic, tp.partition): int(ends[tp]) for tp in assigned}
        self.total = sum(self._ends[p] - self.positions[p] for p in self.positions)
        self._report()

    async def run_to_end(self) -> None:
        """Project until every partition reaches the end offsets read at the start."""
        await self.run_until(self._ends)

    async def run_until(self, targets: dict[Partition, int]) -> None:
        while not reached(self.positions, targets):
            await self._batch()

    async def _batch(self) -> None:
        fetched = await self._consumer.getmany(timeout_ms=200, max_records=self._batch_size)
        records = [
            LogRecord(topic=tp.topic, partition=tp.partition, offset=message.offset, value=message.value)
            for tp, messages in fetched.items()
            for message in messages
        ]
        current = {p: int(await self._consumer.position(to_topic_partition(p))) for p in self.positions}
        if not records and current == self.positions:
            return
        self.positions = await self._store.commit_batch(records, current)
        self.records += len(records)
        self._report()

    def _report(self) -> None:
        done = sum(self.positions[p] - self._first[p] for p in self.positions)
        self._on_progress(done, self.total, time.monotonic() - self.started)


async def rebuild_read_models(
    settings: Settings,
    *,
    on_progress: ProgressCallback | None = None,
    batch_size: int = 2000,
    keep_retired: bool = False,
) -> RebuildReport:
    """Rebuild every read model from offset 0 and swap it in atomically (see the module docstring)."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"{time.time_ns() % 1_000_000:06d}"
    fresh, retired = f"rebuild_{stamp}", f"retired_{stamp}"
    topics = Topics(settings.topic_prefix).event_topics
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        live = await create_pool(settings.database_url, min_size=1, max_size=2)
        stack.push_async_callback(live.close)
        await migrate(live, settings.migrations_dir)
        async with live.acquire() as connection:
            await create_schema(connection, fresh)
        try:
            tables = await _build_and_swap(settings, stack, live, topics, fresh, retired, batch_size, on_progress)
        except BaseException:
            async with live.acquire() as connection:
                await drop_schema(connection, fresh)
            raise
        seconds = time.monotonic() - started
        rebuilder_records = tables[1]
        if not keep_retired:
            async with live.acquire() as connection:
                await drop_schema(connection, retired)
        return RebuildReport(
            records=rebuilder_records,
            seconds=seconds,
            tables=tuple(tables[0]),
            retired_schema=retired if keep_retired else None,
        )


async def _build_and_swap(
    settings: Settings,
    stack: AsyncExitStack,
    live: asyncpg.Pool,
    topics: Sequence[str],
    fresh: str,
    retired: str,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> tuple[list[str], int]:
    fresh_pool = await create_pool(settings.database_url, min_size=1, max_size=2, search_path=fresh)
    stack.push_async_callback(fresh_pool.close)
    await migrate(fresh_pool, settings.migrations_dir)
    consumer = new_log_reader(settings.kafka_bootstrap_servers, "flowmatic-query-rebuild")
    await consumer.start()
    stack.push_async_callback(consumer.stop)
    rebuilder = _Rebuilder(
        consumer, PostgresProjectionStore(fresh_pool, lock_key=REBUILD_LOCK), batch_size, on_progress or _quiet
    )
    await rebuilder.start(topics)
    await rebuilder.run_to_end()
    log.info("rebuilt %d records into %s; swapping", rebuilder.records, fresh)
    async with live.acquire() as connection, connection.transaction():
        # From here the live projector cannot commit: catch up with where it got to, then swap.
        await connection.execute("SELECT pg_advisory_xact_lock($1)", PROJECTION_LOCK)
        rows = await connection.fetch(
            "SELECT topic, partition, next_offset FROM projection_offsets WHERE topic = ANY($1::text[])", list(topics)
        )
        await rebuilder.run_until({Partition(row["topic"], row["partition"]): row["next_offset"] for row in rows})
        # Retention applies to the new tables as it did to the old: the rebuild restores nothing the sweep took.
        async with fresh_pool.acquire() as fresh_connection, fresh_connection.transaction():
            await sweep(fresh_connection, await connection.fetchval("SELECT now()"))
        schema = await live_schema(connection)
        tables = await swap_tables(connection, fresh=fresh, live=schema, retired=retired)
    return tables, rebuilder.records


def _quiet(done: int, total: int, elapsed: float) -> None:
    """No progress output."""
