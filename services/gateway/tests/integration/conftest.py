"""Helpers for the gateway's tests against the real broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from flowmatic_contracts.envelope import Envelope, decode, encode


@pytest.fixture
async def transactional(kafka_bootstrap: str) -> AsyncIterator[Any]:
    """A transactional producer, as the orchestrator writes outcomes and events."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"gw-test-{uuid.uuid4().hex}", enable_idempotence=True
    )
    await producer.start()
    yield producer
    await producer.stop()


async def write_in_transaction(producer: Any, topic: str, *envelopes: Envelope, abort: bool = False) -> None:
    """Write envelopes keyed by aggregate id in one transaction; commit it, or abort it."""
    await producer.begin_transaction()
    for envelope in envelopes:
        await producer.send_and_wait(topic, encode(envelope), key=envelope.aggregate_id.encode())
    if abort:
        await producer.abort_transaction()
    else:
        await producer.commit_transaction()


async def read_until(
    bootstrap: str, topic: str, found: Callable[[list[tuple[bytes | None, Envelope]]], bool], within: float = 15.0
) -> list[tuple[bytes | None, Envelope]]:
    """Read a topic from the beginning (read_committed) until `found` holds for what was read; fail at the deadline."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen: list[tuple[bytes | None, Envelope]] = []
        deadline = time.monotonic() + within
        while not found(seen):
            if time.monotonic() > deadline:
                pytest.fail(f"not found on {topic} within {within}s; read {[e.type for _, e in seen]}")
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                seen += [(record.key, decode(record.value)) for record in records]
        return seen
    finally:
        await consumer.stop()


async def _partitions(consumer: Any, topic: str) -> set[int]:
    cluster = await consumer._client.fetch_all_metadata()
    partitions: set[int] = cluster.partitions_for_topic(topic)
    return partitions
