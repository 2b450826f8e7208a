"""Fixtures for the query service against the real broker and a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from flowmatic_contracts.topics import Topics
from flowmatic_query.adapters.history import PostgresHistory
from flowmatic_query.adapters.kafka import KafkaEndOffsets
from flowmatic_query.adapters.migrations import migrate
from flowmatic_query.adapters.postgres import create_pool
from flowmatic_query.adapters.projections import PostgresProjectionStore
from flowmatic_query.adapters.read_model import PostgresReadModel
from flowmatic_query.settings import Settings
from flowmatic_query.testing.harness import EventWriter, GatedStore, Harness

MIGRATIONS: Path = Settings.model_fields["migrations_dir"].default


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh, migrated database."""
    database = await create_pool(fresh_database)
    await migrate(database, MIGRATIONS)
    yield database
    await database.close()


@pytest.fixture
async def writer(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[EventWriter]:
    """A transactional producer onto this test's topics."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        transactional_id=f"query-test-{uuid.uuid4().hex}",
        enable_idempotence=True,
        acks="all",
    )
    await producer.start()
    yield EventWriter(producer, topics)
    await producer.stop()


@pytest.fixture
async def harness(kafka_bootstrap: str, topics: Topics, pool: asyncpg.Pool) -> AsyncIterator[Harness]:
    """The projector (not started) and the app over this test's topics and database."""
    end_offsets = KafkaEndOffsets(kafka_bootstrap)
    await end_offsets.start()
    made = Harness(
        kafka_bootstrap=kafka_bootstrap,
        topics=topics,
        pool=pool,
        read_model=PostgresReadModel(pool),
        history=PostgresHistory(pool, topics),
        end_offsets=end_offsets,
        store=GatedStore(PostgresProjectionStore(pool)),
    )
    yield made
    await made.stop()
    await end_offsets.stop()
