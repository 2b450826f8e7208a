"""Waiting for messages by key: read every partition of a topic from its end (no consumer group), and resolve
the futures registered for the keys the messages carry.

Every gateway instance reads everything, since the request waiting may be on any instance. The positions are
fixed before `start` returns, so a message written after `start` can never slip by unseen; register a key
before causing the message it waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from flowmatic_contracts.envelope import Envelope, decode
from flowmatic_gateway.adapters.kafka_partitions import all_partitions, committed_reader

log = logging.getLogger(__name__)
T = TypeVar("T")


class KafkaTailWaiter(Generic[T]):
    """Futures by key, resolved by `match(envelope) -> (key, value) | None` over a topic's new messages."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        match: Callable[[Envelope], tuple[str, T] | None],
        *,
        client_id: str,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._match = match
        self._client_id = client_id
        self._waiting: dict[str, asyncio.Future[T]] = {}
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        consumer = committed_reader(self._bootstrap, self._client_id, start="latest")
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
        self._task = asyncio.create_task(self._run(), name=f"tail-{self._topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
        for future in self._waiting.values():
            future.cancel()

    def register(self, key: str) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return future

    def discard(self, key: str) -> None:
        self._waiting.pop(key, None)

    async def _run(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading %s failed; retrying", self._topic)
                await asyncio.sleep(1)
                continue
            for records in batches.values():
                for record in records:
                    self._resolve(record.value)

    def _resolve(self, raw: bytes) -> None:
        if not self._waiting:
            return  # nobody waits: skip decoding
        try:
            envelope = decode(raw)
        except ValueError:
            log.warning("skipping an undecodable message on %s", self._topic)
            return
        matched = self._match(envelope)
        if matched is None:
            return
        key, value = matched
        future = self._waiting.get(key)
        if future is not None and not future.done():
            future.set_result(value)
