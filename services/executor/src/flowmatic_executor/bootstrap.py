"""The composition root: Kafka clients, the HTTP client, the step worker and the health server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Generator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from flowmatic_executor.adapters.dns import Resolver, SystemResolver
from flowmatic_executor.adapters.http_request import HttpRequestConnector, HttpRequestPolicy
from flowmatic_executor.entrypoints.health import create_app
from flowmatic_executor.entrypoints.steps import StepRunner
from flowmatic_executor.entrypoints.worker import StepWorker
from flowmatic_executor.settings import Settings

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def open_worker(settings: Settings, stack: AsyncExitStack, resolver: Resolver | None = None) -> StepWorker:
    """Open the HTTP client and both Kafka clients (closed by `stack`) and wire the worker; `run()` starts it."""
    client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
    stack.push_async_callback(client.aclose)
    http = HttpRequestConnector(
        client,
        resolver or SystemResolver(),
        HttpRequestPolicy(
            allow_private_networks=settings.http_allow_private_networks,
            max_response_bytes=settings.max_response_bytes,
        ),
    )
    runner = StepRunner(http, utc_now, settings.default_timeout_seconds)

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        transactional_id=settings.transactional_id,
        enable_idempotence=True,
        acks="all",
        retry_backoff_ms=settings.retry_backoff_ms,
    )
    await producer.start()
    stack.push_async_callback(producer.stop)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.group_id,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    worker = StepWorker(
        consumer=consumer,
        producer=producer,
        runner=runner,
        results_topic=settings.topics.step_results,
        group_id=settings.group_id,
        max_batch_records=settings.max_batch_records,
        poll_timeout_ms=settings.poll_timeout_ms,
        max_concurrency=settings.max_concurrency,
    )
    consumer.subscribe([settings.topics.step_requests], listener=worker.rebalance_listener())
    stack.push_async_callback(consumer.stop)
    await consumer.start()
    return worker


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `main` owns SIGTERM/SIGINT so the exit stack always unwinds."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def main(settings: Settings) -> None:
    """Run the executor until SIGTERM/SIGINT, or until the worker or the server stops on its own.

    The health server starts first, so `/healthz` answers (and `/readyz` says 503) while the Kafka clients
    connect and the worker joins its group.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    async with AsyncExitStack() as stack:
        workers: list[StepWorker] = []
        config = uvicorn.Config(
            create_app(lambda: bool(workers) and workers[0].joined),
            host=settings.host,
            port=settings.port,
            log_config=None,
            lifespan="off",
        )
        server = _Server(config)
        stopping = asyncio.Event()
        signalled = asyncio.Event()

        def stop() -> None:
            stopping.set()
            server.should_exit = True
            for worker in workers:
                worker.stop()

        def on_signal() -> None:
            signalled.set()
            stop()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
            stack.callback(loop.remove_signal_handler, sig)

        async def work() -> None:
            worker = await open_worker(settings, stack)
            workers.append(worker)
            if not stopping.is_set():
                await worker.run()

        working = asyncio.create_task(work(), name="worker")
        serving = asyncio.create_task(server.serve(), name="http")
        await asyncio.wait({working, serving}, return_when=asyncio.FIRST_COMPLETED)
        stop()
        if not workers:
            working.cancel()  # still connecting: nothing in flight to finish
        results = await asyncio.gather(working, serving, return_exceptions=True)
        for task, result in zip((working, serving), results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise RuntimeError(f"{task.get_name()} stopped") from result
        if not signalled.is_set():
            raise RuntimeError("the executor stopped unexpectedly")
        log.info("executor stopped after %d steps", sum(w.steps_completed for w in workers))
