"""The broker and the database the fixtures provide are real and configured as the platform needs."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from flowmatic_contracts.topics import Topics, topic_layouts
from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.ports import free_port
from flowmatic_devstack.pytest_plugin import TEST_PARTITIONS
from flowmatic_devstack.topic_setup import delete_topics, ensure_topics

pytestmark = pytest.mark.integration


async def read_all(bootstrap: str, topic: str, expected: int, isolation: str) -> list[bytes]:
    """Everything on `topic` from the start, once `expected` messages arrived or 15 s passed."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation,
        group_id=f"g-{uuid.uuid4().hex}",
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        for _ in range(150):
            batches = await consumer.getmany(timeout_ms=100)
            values += [record.value for records in batches.values() for record in records]
            if len(values) >= expected:
                break
    finally:
        await consumer.stop()
    return values


async def test_a_produced_message_is_consumed(kafka_bootstrap: str, topics: Topics) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topics.commands, b"hello", key=b"k")
    finally:
        await producer.stop()

    assert await read_all(kafka_bootstrap, topics.commands, 1, "read_uncommitted") == [b"hello"]


async def test_read_committed_sees_the_committed_transaction_and_not_the_aborted_one(
    kafka_bootstrap: str, topics: Topics
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{uuid.uuid4().hex}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topics.outcomes, b"committed", key=b"k")
        await producer.begin_transaction()
        await producer.send(topics.outcomes, b"aborted", key=b"k")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topics.outcomes, b"after", key=b"k")
    finally:
        await producer.stop()

    assert await read_all(kafka_bootstrap, topics.outcomes, 2, "read_committed") == [b"committed", b"after"]
    uncommitted = await read_all(kafka_bootstrap, topics.outcomes, 3, "read_uncommitted")
    assert b"aborted" in uncommitted


async def test_topics_have_their_partitions_and_retention(kafka_bootstrap: str, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        names = [layout.name for layout in topic_layouts(topics, TEST_PARTITIONS)]
        # A broker may describe a just-created topic before all its partitions have leaders: ask until settled.
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            described = await admin.describe_topics(names)
            settled = all(t["error_code"] == 0 and len(t["partitions"]) == TEST_PARTITIONS for t in described)
            if settled or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    finally:
        await admin.close()
    configs = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in responses
        for resource in response.resources
    }

    assert {topic["topic"]: len(topic["partitions"]) for topic in described} == dict.fromkeys(names, TEST_PARTITIONS)
    for event_topic in topics.event_topics:
        assert configs[event_topic]["retention.ms"] == "-1"
        assert configs[event_topic]["retention.bytes"] == "-1"
    for state_topic in (topics.workflow_state, topics.execution_state):
        assert configs[state_topic]["cleanup.policy"] == "compact"
    assert configs[topics.commands]["retention.ms"] == str(7 * 24 * 3600 * 1000)


async def test_creating_existing_topics_again_is_fine(kafka_bootstrap: str, topics: Topics) -> None:
    await ensure_topics(kafka_bootstrap, topics, TEST_PARTITIONS)


async def test_a_fresh_database_is_empty_and_usable(fresh_database: str, database_url: str) -> None:
    connection = await asyncpg.connect(fresh_database)
    try:
        version = await connection.fetchval("SHOW server_version_num")
        tables = await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        await connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
        await connection.execute("INSERT INTO t VALUES (1)")
        assert await connection.fetchval("SELECT id FROM t") == 1
    finally:
        await connection.close()

    assert int(version) >= 150000
    assert tables == 0
    assert fresh_database != database_url


async def test_an_unreachable_broker_is_a_one_line_error() -> None:
    with pytest.raises(DevstackError) as raised:
        await ensure_topics(f"127.0.0.1:{free_port()}", Topics("x."), 1)

    assert str(raised.value).startswith("cannot create topics on the broker at 127.0.0.1:")
    assert "\n" not in str(raised.value)


async def test_a_test_topic_set_is_deleted_afterwards(kafka_bootstrap: str) -> None:
    """What the `topics` and stack fixtures do at teardown, so a long session does not exhaust the broker."""
    fresh = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    names = {layout.name for layout in topic_layouts(fresh, 1)}
    await ensure_topics(kafka_bootstrap, fresh, TEST_PARTITIONS)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert names <= set(await admin.list_topics())
        await delete_topics(kafka_bootstrap, fresh)
        deadline = asyncio.get_running_loop().time() + 15
        while names & set(await admin.list_topics()):
            assert asyncio.get_running_loop().time() < deadline, "topics still listed after deletion"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
