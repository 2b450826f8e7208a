"""Runs the real projector and app against a broker and a database, under a test's control."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from flowmatic_contracts.envelope import Envelope, encode
from flowmatic_contracts.topics import Topics
from flowmatic_query.adapters.kafka import KafkaEndOffsets
from flowmatic_query.domain.partitions import LogRecord, Partition
from flowmatic_query.entrypoints.http import AppDependencies, create_app
from flowmatic_query.entrypoints.progress import ProjectionProgress
from flowmatic_query.entrypoints.projector import Projector
from flowmatic_query.entrypoints.sync_barrier import LogSyncBarrier
from flowmatic_query.ports import History, ProjectionStore, ReadModel


class EventWriter:
    """Writes envelopes (or raw bytes) to the event topics in Kafka transactions, as the orchestrator does."""

    def __init__(self, producer: AIOKafkaProducer, topics: Topics) -> None:
        self._producer = producer
        self.topics = topics

    async def write(self, *envelopes: Envelope, topic: str | None = None) -> None:
        """One transaction with every envelope, keyed by aggregate id (workflow-events unless `topic`)."""
        async with self._producer.transaction():
            for envelope in envelopes:
                await self._producer.send_and_wait(
                    topic or self.topics.workflow_events, encode(envelope), key=envelope.aggregate_id.encode()
                )

    async def write_raw(self, value: bytes, key: bytes, topic: str | None = None) -> None:
        """One transaction with one record of arbitrary bytes."""
        async with self._producer.transaction():
            await self._producer.send_and_wait(topic or self.topics.workflow_events, value, key=key)


class GatedStore:
    """A real store whose commits of records wait for `gate`: holds the projector just before a commit."""

    def __init__(self, inner: ProjectionStore) -> None:
        self._inner = inner
        self.gate = asyncio.Event()
        self.gate.set()
        self.holding = asyncio.Event()
        self.commits = 0

    async def load_positions(self, topics: Sequence[str]) -> dict[Partition, int]:
        return await self._inner.load_positions(topics)

    async def commit_batch(
        self, records: Sequence[LogRecord], positions: Mapping[Partition, int]
    ) -> dict[Partition, int]:
        if records and not self.gate.is_set():
            self.holding.set()
            await self.gate.wait()
        committed = await self._inner.commit_batch(records, positions)
        if records:
            self.commits += 1
        return committed


@dataclass
class Harness:
    """A projector the test starts and stops (each start is a fresh process, as far as memory goes) and the app."""

    kafka_bootstrap: str
    topics: Topics
    pool: asyncpg.Pool
    read_model: ReadModel
    history: History
    end_offsets: KafkaEndOffsets
    store: GatedStore
    public_url: str = "http://flowmatic.test"
    progress: ProjectionProgress = field(default_factory=ProjectionProgress)
    task: asyncio.Task[None] | None = None

    async def start(self, batch_size: int = 500) -> None:
        """Start a projector and wait until it has loaded its positions."""
        assert self.task is None, "already started"
        self.progress = ProjectionProgress()
        projector = Projector(
            bootstrap_servers=self.kafka_bootstrap,
            topics=self.topics.event_topics,
            store=self.store,
            progress=self.progress,
            batch_size=batch_size,
        )
        self.task = asyncio.create_task(projector.run())
        ready = asyncio.create_task(self.progress.wait_ready())
        done, _ = await asyncio.wait({self.task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self.task in done:
                self.task.result()  # the projector failed: raise its error
            raise TimeoutError("the projector did not load its positions within 30 s")

    async def stop(self) -> None:
        """Cancel the projector, as a crash would stop it."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    @property
    def ready(self) -> bool:
        return self.progress.ready

    async def sync(self) -> None:
        """The sync barrier over the current projector (the `SyncBarrier` port)."""
        await LogSyncBarrier(self.end_offsets, self.progress).sync()

    def client(self) -> httpx.AsyncClient:
        """An HTTP client on the app, wired to this harness (whichever projector currently runs)."""
        app = create_app(
            AppDependencies(
                read_model=self.read_model,
                history=self.history,
                sync_barrier=self,
                projector=self,
                public_url=self.public_url,
            )
        )
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://query.test")

    async def synced(self) -> None:
        """POST /internal/sync and insist on 200."""
        async with self.client() as client:
            response = await client.post("/internal/sync")
        assert response.status_code == 200, response.text
