"""Restores workflow states from the compacted workflow-state topic, one partition number at a time."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from flowmatic_orchestrator.adapters.snapshots import decode_snapshot
from flowmatic_orchestrator.domain.state import WorkflowState

log = logging.getLogger(__name__)


class SnapshotRestoreError(RuntimeError):
    """The state topic could not be read to its end in time, or holds a snapshot that does not parse."""


class KafkaSnapshotReader:
    """Reads partitions of the state topic from the beginning to their end, committed records only.

    The end is the high watermark, not the last stable offset: a transaction that the previous owner of the
    partition committed a moment ago may not have its commit marker written yet, and stopping at the last
    stable offset would then miss its snapshots. Reading `read_committed` up to the high watermark waits for
    every open transaction to be resolved instead.
    """

    def __init__(self, bootstrap_servers: str, topic: str, *, timeout_seconds: float = 120.0) -> None:
        self._topic = topic
        self._timeout = timeout_seconds
        common: dict[str, Any] = {"bootstrap_servers": bootstrap_servers, "enable_auto_commit": False}
        self._reader = AIOKafkaConsumer(isolation_level="read_committed", auto_offset_reset="earliest", **common)
        self._probe = AIOKafkaConsumer(isolation_level="read_uncommitted", **common)

    async def start(self) -> None:
        await self._reader.start()
        await self._probe.start()

    async def stop(self) -> None:
        await self._reader.stop()
        await self._probe.stop()

    async def read(self, partitions: Iterable[int]) -> dict[int, dict[str, WorkflowState]]:
        """The latest snapshot of every workflow on the given partitions of the state topic."""
        tps = [TopicPartition(self._topic, p) for p in sorted(set(partitions))]
        restored: dict[int, dict[str, WorkflowState]] = {tp.partition: {} for tp in tps}
        if not tps:
            return restored
        ends: dict[TopicPartition, int] = await self._probe.end_offsets(tps)
        self._reader.assign(tps)
        await self._reader.seek_to_beginning(*tps)
        deadline = time.monotonic() + self._timeout
        pending = {tp for tp in tps if await self._reader.position(tp) < ends[tp]}
        while pending:
            if time.monotonic() > deadline:
                raise SnapshotRestoreError(
                    f"state partitions {sorted(tp.partition for tp in pending)} not read in time"
                )
            batch = await self._reader.getmany(*pending, timeout_ms=200)
            for tp, records in batch.items():
                for record in records:
                    self._apply(restored[tp.partition], record.key, record.value, tp, record.offset)
            pending = {tp for tp in pending if await self._reader.position(tp) < ends[tp]}
        log.info(
            "restored %d workflow states from %s partitions %s",
            sum(len(s) for s in restored.values()),
            self._topic,
            sorted(restored),
        )
        return restored

    @staticmethod
    def _apply(
        states: dict[str, WorkflowState], key: bytes | None, value: bytes | None, tp: TopicPartition, offset: int
    ) -> None:
        if key is None:
            raise SnapshotRestoreError(f"snapshot without a key at {tp.topic}/{tp.partition}@{offset}")
        if value is None:  # a tombstone: nothing writes one today, but compaction semantics say "forget it"
            states.pop(key.decode(), None)
            return
        try:
            state = decode_snapshot(value)
        except ValueError as exc:
            # Only this service writes snapshots: one that does not parse is a bug, and guessing would let a
            # deleted workflow's id be reused. Fail loudly instead.
            raise SnapshotRestoreError(f"unreadable snapshot at {tp.topic}/{tp.partition}@{offset}: {exc}") from exc
        states[state.workflow_id] = state
