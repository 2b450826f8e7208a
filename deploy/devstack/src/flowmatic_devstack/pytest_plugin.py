"""pytest fixtures for the real infrastructure: a Kafka broker, PostgreSQL, fresh topics and databases.

`KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL` point the fixtures at existing infrastructure; otherwise the
devstack starts a broker and a PostgreSQL cluster once per test session (see `flowmatic_devstack.infra`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from flowmatic_contracts.topics import Topics, topic_layouts

TEST_PARTITIONS = 2


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap servers of a real broker for this test session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not configured:
        pytest.fail("KAFKA_BOOTSTRAP_SERVERS is not set and the devstack cannot start a broker yet")
    yield configured


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The DSN of a real PostgreSQL server (its maintenance database) for this test session."""
    configured = os.environ.get("DATABASE_URL")
    if not configured:
        pytest.fail("DATABASE_URL is not set and the devstack cannot start PostgreSQL yet")
    yield configured


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """A new, empty database on the session's server; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = database_url.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def topics(kafka_bootstrap: str) -> AsyncIterator[Topics]:
    """Every platform topic under a prefix unique to this test, so tests never see each other's messages."""
    fresh = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(layout.name, layout.partitions, 1, topic_configs=layout.configs)
                for layout in topic_layouts(fresh, TEST_PARTITIONS)
            ]
        )
    finally:
        await admin.close()
    yield fresh
