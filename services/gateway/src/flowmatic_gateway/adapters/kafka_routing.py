"""The webhook routing table, followed from every partition of the workflow-events topic.

No consumer group and no committed offsets: the table lives in memory and is rebuilt from offset 0 at each
start. `sync` gives read-your-writes: it reads the log-end offsets (the last stable offsets, since the
consumer is read_committed) and returns once the table has read past them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from flowmatic_contracts.envelope import decode
from flowmatic_gateway.adapters.kafka_partitions import FETCH_MAX_WAIT_MS, all_partitions
from flowmatic_gateway.domain.routing import RoutingTable, WebhookRoute

log = logging.getLogger(__name__)


class KafkaWebhookDirectory:
    """Implements WebhookDirectory over a RoutingTable fed by a background consumer."""

    def __init__(self, bootstrap_servers: str, topic: str, poll_timeout_ms: int = 100) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._poll_timeout_ms = poll_timeout_ms
        self._table = RoutingTable()
        self._consumer: Any = None
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._caught_up = False

    @property
    def caught_up(self) -> bool:
        return self._caught_up and self._task is not None and not self._task.done()

    def lookup(self, webhook_id: str) -> WebhookRoute | None:
        return self._table.lookup(webhook_id)

    async def start(self) -> None:
        """Start following the topic from its beginning; does not wait for the catch-up (see `catch_up`)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            client_id="flowmatic-gateway-routing",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        await consumer.start()
        try:
            self._partitions = await all_partitions(consumer, self._topic)
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="webhook-routing")

    async def catch_up(self) -> None:
        """Wait until the table has read the log as far as its end now; the gateway is ready after this."""
        await self.sync()
        self._caught_up = True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def sync(self) -> None:
        """Return once every event committed before this call is in the table."""
        targets = await self._consumer.end_offsets(self._partitions)
        async with self._advanced:
            await self._advanced.wait_for(
                lambda: (
                    all(self._positions.get(tp, 0) >= end for tp, end in targets.items())
                    or (self._task is not None and self._task.done())
                )
            )
        if self._task is not None and self._task.done():
            raise RuntimeError("the webhook routing consumer has stopped")

    async def _run(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(*self._partitions, timeout_ms=self._poll_timeout_ms)
                for records in batches.values():
                    for record in records:
                        self._apply(record.value)
                positions = {tp: await self._consumer.position(tp) for tp in self._partitions}
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following workflow events failed; retrying")
                await asyncio.sleep(1)
                continue
            async with self._advanced:
                self._positions = positions
                self._advanced.notify_all()

    def _apply(self, raw: bytes) -> None:
        try:
            envelope = decode(raw)
        except ValueError:
            log.warning("skipping an undecodable workflow event")
            return
        self._table.apply(envelope)
