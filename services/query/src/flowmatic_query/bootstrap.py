"""The composition root: opens every resource in one AsyncExitStack and runs the projector and the HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Generator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import asyncpg
import uvicorn

from flowmatic_contracts.topics import Topics
from flowmatic_query.adapters.history import PostgresHistory
from flowmatic_query.adapters.kafka import KafkaEndOffsets
from flowmatic_query.adapters.migrations import migrate
from flowmatic_query.adapters.postgres import create_pool
from flowmatic_query.adapters.projections import PostgresProjectionStore
from flowmatic_query.adapters.read_model import PostgresReadModel
from flowmatic_query.adapters.retention import PostgresRetention
from flowmatic_query.entrypoints.http import AppDependencies, create_app
from flowmatic_query.entrypoints.progress import ProjectionProgress
from flowmatic_query.entrypoints.projector import Projector
from flowmatic_query.entrypoints.retention import run_retention
from flowmatic_query.entrypoints.sync_barrier import LogSyncBarrier
from flowmatic_query.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryService:
    """The wired service: the app to serve and the projector to run beside it."""

    dependencies: AppDependencies
    projector: Projector
    retention: PostgresRetention


async def open_service(settings: Settings, stack: AsyncExitStack) -> QueryService:
    """Open the pool (and migrate), the end-offset reader, and wire the projector and the app's dependencies.

    Every resource is closed by `stack`. The projector is built, not started: run `projector.run()`.
    """
    pool: asyncpg.Pool = await create_pool(settings.database_url)
    stack.push_async_callback(pool.close)
    applied = await migrate(pool, settings.migrations_dir)
    if applied:
        log.info("database migrated: %s", ", ".join(applied))

    end_offsets = KafkaEndOffsets(settings.kafka_bootstrap_servers)
    await end_offsets.start()
    stack.push_async_callback(end_offsets.stop)

    topics = Topics(settings.topic_prefix)
    progress = ProjectionProgress()
    projector = Projector(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=topics.event_topics,
        store=PostgresProjectionStore(pool),
        progress=progress,
    )
    dependencies = AppDependencies(
        read_model=PostgresReadModel(pool),
        history=PostgresHistory(pool, topics),
        sync_barrier=LogSyncBarrier(end_offsets, progress),
        projector=progress,
        public_url=settings.public_url,
        sync_timeout_seconds=settings.sync_timeout_seconds,
    )
    return QueryService(dependencies=dependencies, projector=projector, retention=PostgresRetention(pool))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `main` owns SIGTERM/SIGINT so the exit stack always unwinds."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def main(settings: Settings) -> None:
    """Run the query service until SIGTERM/SIGINT, or until the projector or the server stops on its own."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    async with AsyncExitStack() as stack:
        service = await open_service(settings, stack)
        config = uvicorn.Config(
            create_app(service.dependencies), host="127.0.0.1", port=settings.port, log_config=None, lifespan="off"
        )
        server = _Server(config)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, setattr, server, "should_exit", True)
            stack.callback(loop.remove_signal_handler, sig)

        projector = asyncio.create_task(service.projector.run(), name="projector")
        serving = asyncio.create_task(server.serve(), name="http")
        retention = asyncio.create_task(
            run_retention(service.retention.sweep, settings.retention_sweep_seconds), name="retention"
        )
        done, _ = await asyncio.wait({projector, serving}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        projector.cancel()
        retention.cancel()
        await asyncio.gather(retention, return_exceptions=True)
        results = await asyncio.gather(projector, serving, return_exceptions=True)
        for task, result in zip((projector, serving), results, strict=True):
            if task in done and isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise RuntimeError(f"{task.get_name()} stopped") from result
        if projector in done:
            raise RuntimeError("the projector stopped unexpectedly")
