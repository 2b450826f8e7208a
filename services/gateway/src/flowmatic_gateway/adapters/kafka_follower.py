"""Following a topic into an in-memory projection: every partition, no consumer group, read_committed.

`sync` gives read-your-writes: it waits until the projection has read past each partition's high watermark.
Not the last stable offset: when a transaction's commit returns, the broker may not have written its commit
markers yet, so the last stable offset can still stop short of records whose commit was acknowledged (the query
service's barrier met this on 5 of 20 commits). A transaction left open longer than `SYNC_GRACE_SECONDS` (a
producer that died mid-transaction) falls back to the last stable offset as it is by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from flowmatic_contracts.envelope import Envelope, decode
from flowmatic_gateway.adapters.kafka_partitions import all_partitions, committed_reader

log = logging.getLogger(__name__)
SYNC_GRACE_SECONDS = 1.0


class KafkaTopicFollower:
    """Feeds every committed envelope of one topic to `apply`, from the beginning or from a point in time."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        apply: Callable[[Envelope], None],
        *,
        client_id: str,
        since_ms: Callable[[], int] | None = None,
        poll_timeout_ms: int = 100,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._apply = apply
        self._client_id = client_id
        self._since_ms = since_ms
        self._poll_timeout_ms = poll_timeout_ms
        self._consumer: Any = None
        self._watermarks: Any = None  # read_uncommitted, only for high watermarks
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._caught_up = False

    @property
    def caught_up(self) -> bool:
        """Whether the projection has read as far as the log's end at startup, and is still following."""
        return self._caught_up and self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start following; does not wait for the catch-up (see `catch_up`)."""
        consumer = committed_reader(self._bootstrap, self._client_id, start="earliest")
        watermarks = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_uncommitted",
            client_id=f"{self._client_id}-hw",
        )
        await consumer.start()
        try:
            await watermarks.start()
            self._partitions = await all_partitions(consumer, self._topic)
            consumer.assign(self._partitions)
            await self._seek_start(consumer)
        except BaseException:
            await consumer.stop()
            await watermarks.stop()
            raise
        self._consumer = consumer
        self._watermarks = watermarks
        self._task = asyncio.create_task(self._run(), name=f"follow-{self._topic}")

    async def _seek_start(self, consumer: Any) -> None:
        await consumer.seek_to_beginning(*self._partitions)
        if self._since_ms is None:
            return
        found = await consumer.offsets_for_times({tp: self._since_ms() for tp in self._partitions})
        for tp, offset in found.items():
            if offset is not None:
                consumer.seek(tp, offset.offset)
            else:  # nothing that recent: start at the end
                await consumer.seek_to_end(tp)

    async def catch_up(self) -> None:
        """Wait until the projection has read the log as far as its end now."""
        await self.sync()
        self._caught_up = True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
        if self._watermarks is not None:
            await self._watermarks.stop()

    async def sync(self) -> None:
        """Return once every envelope committed before this call has been applied."""
        if self._task is None or self._task.done():
            raise RuntimeError(f"not following {self._topic}")
        written = await self._watermarks.end_offsets(self._partitions)
        try:
            await asyncio.wait_for(self._reached(written), timeout=SYNC_GRACE_SECONDS)
        except TimeoutError:
            # Something is still uncommitted past the committed data: wait for what is committed by now.
            await self._reached(await self._consumer.end_offsets(self._partitions))

    async def _reached(self, targets: dict[TopicPartition, int]) -> None:
        async with self._advanced:
            await self._advanced.wait_for(lambda: all(self._positions.get(tp, 0) >= end for tp, end in targets.items()))

    async def _run(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(*self._partitions, timeout_ms=self._poll_timeout_ms)
                for records in batches.values():
                    for record in records:
                        self._decode_and_apply(record.value)
                positions = {tp: await self._consumer.position(tp) for tp in self._partitions}
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following %s failed; retrying", self._topic)
                await asyncio.sleep(1)
                continue
            async with self._advanced:
                self._positions = positions
                self._advanced.notify_all()

    def _decode_and_apply(self, raw: bytes) -> None:
        try:
            envelope = decode(raw)
        except ValueError:
            log.warning("skipping an undecodable message on %s", self._topic)
            return
        self._apply(envelope)
