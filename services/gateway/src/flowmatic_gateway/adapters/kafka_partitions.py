"""Finding a topic's partitions for consumers that assign themselves every partition (no consumer group)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


async def all_partitions(consumer: Any, topic: str, timeout_seconds: float = 30.0) -> list[TopicPartition]:
    """Every partition of `topic`; waits (bounded) for the topic to appear in the cluster's metadata."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        # aiokafka has no public call for one topic's metadata without subscribing; the client's full
        # metadata fetch is what `consumer.topics()` uses too, and it also returns the partitions.
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} does not exist")
        await asyncio.sleep(0.2)


# A read_committed fetch parked on the broker is not woken when a transaction commits (the data was appended
# earlier, only the stable offset moved), so it waits out fetch_max_wait_ms (default 500 ms). Waiters on outcomes
# and on the routing table's sync feel that wait directly; a short one keeps writes answered in milliseconds.
FETCH_MAX_WAIT_MS = 20


def committed_reader(bootstrap_servers: str, client_id: str, start: str) -> Any:
    """A consumer of committed records with no group, which assigns itself partitions; `start` is where a
    partition with no position begins ("earliest" or "latest")."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset=start,
        client_id=client_id,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
