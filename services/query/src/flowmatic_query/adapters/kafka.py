"""Kafka clients of the query service: the projector's consumer and the end-offset reader of the sync barrier."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from flowmatic_query.domain.partitions import Partition

log = logging.getLogger(__name__)


def new_log_reader(bootstrap_servers: str, client_id: str) -> AIOKafkaConsumer:
    """A consumer with no group that reads only committed records, positioned by its owner."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )


def to_topic_partition(partition: Partition) -> TopicPartition:
    return TopicPartition(partition.topic, partition.partition)


async def discover_partitions(
    consumer: AIOKafkaConsumer, topics: Sequence[str], retry_seconds: float = 1.0
) -> list[Partition]:
    """Every partition of `topics`, waiting (with a log line) until the broker knows all of them."""
    while True:
        # The consumer's public `topics()` discards the partition layout it fetched; its client keeps it.
        cluster = await consumer._client.fetch_all_metadata()
        layout = {topic: cluster.partitions_for_topic(topic) for topic in topics}
        missing = [topic for topic, numbers in layout.items() if not numbers]
        if not missing:
            return [Partition(topic, number) for topic in topics for number in sorted(layout[topic])]
        log.warning("waiting for topics to exist: %s", ", ".join(missing))
        await asyncio.sleep(retry_seconds)


class KafkaEndOffsets:
    """Reads log ends: last stable offsets (`read_committed`) and high watermarks (`read_uncommitted`).

    Consumers of its own, so a sync request never waits behind the projector's fetches.
    """

    def __init__(self, bootstrap_servers: str) -> None:
        self._committed = new_log_reader(bootstrap_servers, "flowmatic-query-sync")
        self._written = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="flowmatic-query-sync-hw",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_uncommitted",
        )

    async def start(self) -> None:
        await self._committed.start()
        try:
            await self._written.start()
        except BaseException:
            await self._committed.stop()
            raise

    async def stop(self) -> None:
        try:
            await self._written.stop()
        finally:
            await self._committed.stop()

    async def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """The offset after the last committed record of each partition (its last stable offset)."""
        return await _ends(self._committed, partitions)

    async def written_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """Each partition's high watermark: past every acknowledged record, open transactions included."""
        return await _ends(self._written, partitions)


async def _ends(consumer: AIOKafkaConsumer, partitions: Sequence[Partition]) -> dict[Partition, int]:
    if not partitions:
        return {}
    offsets = await consumer.end_offsets([to_topic_partition(p) for p in partitions])
    return {Partition(tp.topic, tp.partition): int(offset) for tp, offset in offsets.items()}
