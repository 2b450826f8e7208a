"""The projector loop: read the event topics from the stored positions and commit each batch to PostgreSQL.

No consumer group: every partition of every event topic is assigned, and the positions live in the database
beside the rows (see `adapters/projections.py`), so they can never disagree.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer

from flowmatic_query.adapters.kafka import discover_partitions, new_log_reader, to_topic_partition
from flowmatic_query.domain.partitions import LogRecord, Partition
from flowmatic_query.entrypoints.progress import ProjectionProgress
from flowmatic_query.ports import ProjectionStore

log = logging.getLogger(__name__)


class Projector:
    """Projects `topics` into the store, batch by batch, and publishes the committed positions to `progress`."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: Sequence[str],
        store: ProjectionStore,
        progress: ProjectionProgress,
        batch_size: int = 500,
        poll_timeout_ms: int = 100,
        retry_seconds: float = 1.0,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topics = list(topics)
        self._store = store
        self._progress = progress
        self._batch_size = batch_size
        self._poll_timeout_ms = poll_timeout_ms
        self._retry_seconds = retry_seconds

    async def run(self) -> None:
        """Project until cancelled."""
        consumer = new_log_reader(self._bootstrap_servers, "flowmatic-query-projector")
        await consumer.start()
        try:
            committed = await self._start_position(consumer)
            await self._progress.load(committed)
            log.info("projecting %d partitions of %s", len(committed), ", ".join(self._topics))
            while True:
                committed = await self._project_once(consumer, committed)
        finally:
            await self._progress.stopped()
            await consumer.stop()

    async def _start_position(self, consumer: AIOKafkaConsumer) -> dict[Partition, int]:
        """`_position`, retried while the broker or the database is not there yet."""
        while True:
            try:
                return await self._position(consumer)
            except Exception:
                log.exception("cannot load the projection positions yet; retrying")
                await asyncio.sleep(self._retry_seconds)

    async def _position(self, consumer: AIOKafkaConsumer) -> dict[Partition, int]:
        """Assign every partition and seek each to its stored position (else the beginning)."""
        partitions = await discover_partitions(consumer, self._topics, self._retry_seconds)
        consumer.assign([to_topic_partition(p) for p in partitions])
        stored = await self._store.load_positions(self._topics)
        for partition in partitions:
            if partition in stored:
                consumer.seek(to_topic_partition(partition), stored[partition])
        fresh = [to_topic_partition(p) for p in partitions if p not in stored]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        return await _positions(consumer, partitions)

    async def _project_once(self, consumer: AIOKafkaConsumer, committed: dict[Partition, int]) -> dict[Partition, int]:
        """One batch: fetch, commit rows and positions together, then wake the sync barrier."""
        batch = await consumer.getmany(timeout_ms=self._poll_timeout_ms, max_records=self._batch_size)
        records = [
            LogRecord(topic=tp.topic, partition=tp.partition, offset=message.offset, value=message.value)
            for tp, messages in batch.items()
            for message in messages
        ]
        # Positions, not last offset + 1: they also step over transaction markers and aborted records,
        # which is what the read_committed end offsets of the sync barrier count.
        current = await _positions(consumer, list(committed))
        if not records and current == committed:
            return committed
        try:
            now_committed = await self._store.commit_batch(records, current)
        except Exception:
            log.exception(
                "projecting a batch of %d records failed; retrying from the committed positions", len(records)
            )
            await asyncio.sleep(self._retry_seconds)
            for partition, offset in committed.items():
                consumer.seek(to_topic_partition(partition), offset)
            return committed
        for partition, offset in now_committed.items():
            if offset > current[partition]:  # another projector on this database went further
                consumer.seek(to_topic_partition(partition), offset)
        await self._progress.advance(now_committed)
        return now_committed


async def _positions(consumer: AIOKafkaConsumer, partitions: Sequence[Partition]) -> dict[Partition, int]:
    return {p: int(await consumer.position(to_topic_partition(p))) for p in partitions}
