"""Refused webhook deliveries, produced to the webhooks topic in the background for the audit log."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from flowmatic_contracts.envelope import Envelope
from flowmatic_gateway.ports import BrokerUnavailableError, WebhookDeliveries

log = logging.getLogger(__name__)
# A flood of bad deliveries must not grow memory without bound: past this many unsent, new ones are dropped.
QUEUE_CAPACITY = 10_000
# Sends in flight at once: one at a time would cap the rate at one broker round trip per rejection.
BATCH_SIZE = 200


class KafkaRejectionLog:
    """RejectionLog: `record` queues the event; one task writes the queue through `writer` (acks=all)."""

    def __init__(self, writer: WebhookDeliveries, capacity: int = QUEUE_CAPACITY) -> None:
        self._writer = writer
        self._queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize=capacity)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def record(self, envelope: Envelope) -> None:
        try:
            self._queue.put_nowait(envelope)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("rejection audit queue full: %d rejected deliveries not recorded", self.dropped)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-rejections")

    async def stop(self) -> None:
        """Write what is queued (bounded by the writer's timeout), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=5)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_SIZE and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            results = await asyncio.gather(*(self._writer.send(e) for e in batch), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BrokerUnavailableError)]
            if failed:
                log.warning("%d webhook rejections could not be recorded: %s", len(failed), failed[0])
            for _ in batch:
                self._queue.task_done()
