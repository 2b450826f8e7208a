"""Waiting for command outcomes: every gateway reads every partition of the outcomes topic, from its end.

No consumer group: each instance must see every outcome, since the request waiting for it may be on any
instance. The listener's positions are fixed before `start` returns, so a command sent afterwards can never
have its outcome land before the listener's starting point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer

from flowmatic_contracts.envelope import decode
from flowmatic_contracts.events import CommandAccepted, CommandRejected
from flowmatic_gateway.adapters.kafka_partitions import FETCH_MAX_WAIT_MS, all_partitions
from flowmatic_gateway.ports import Outcome

log = logging.getLogger(__name__)


class KafkaOutcomeListener:
    """Resolves registered futures with the CommandAccepted/CommandRejected carrying their correlation id."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="latest",
            client_id="flowmatic-gateway-outcomes",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        await consumer.start()
        try:
            partitions = await all_partitions(consumer, self._topic)
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for partition in partitions:
                await consumer.position(partition)  # resolve the end offsets now, not lazily on first fetch
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="outcome-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
        for future in self._waiting.values():
            future.cancel()

    def register(self, correlation_id: str) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        return future

    def discard(self, correlation_id: str) -> None:
        self._waiting.pop(correlation_id, None)

    async def _run(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading outcomes failed; retrying")
                await asyncio.sleep(1)
                continue
            for records in batches.values():
                for record in records:
                    self._resolve(record.value)

    def _resolve(self, raw: bytes) -> None:
        try:
            envelope = decode(raw)
        except ValueError:
            log.warning("skipping an undecodable outcome")
            return
        payload = envelope.payload
        if not isinstance(payload, CommandAccepted | CommandRejected):
            return
        future = self._waiting.get(envelope.correlation_id)
        if future is not None and not future.done():
            future.set_result(payload)
