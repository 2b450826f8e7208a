"""Restores aggregate states from a compacted state topic, one partition number at a time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)

T = TypeVar("T")


class SnapshotRestoreError(RuntimeError):
    """The state topic could not be read to its end in time, or holds a snapshot that does not parse."""


class KafkaSnapshotReader(Generic[T]):
    """Reads partitions of a state topic from the beginning to their end, committed records only.

    The end is the high watermark, not the last stable offset: a transaction that the previous owner of the
    partition committed a moment ago may not have its commit marker written yet, and stopping at the last
    stable offset would then miss its snapshots. Reading `read_committed` up to the high watermark waits for
    every open transaction to be resolved instead.

    `decode` parses a snapshot's bytes (raising ValueError for bytes it cannot). With `strict`, such a snapshot
    stops the restore (workflows: guessing could let a deleted workflow's id be reused); without, it is logged
    and skipped (executions: one unreadable execution must not hold every other one on its partition back).
    A tombstone (no value) forgets the key.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        decode: Callable[[bytes], T],
        *,
        strict: bool = True,
        timeout_seconds: float = 120.0,
    ) -> None:
        self._topic = topic
        self._decode = decode
        self._strict = strict
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

    async def read(self, partitions: Iterable[int]) -> dict[int, dict[str, T]]:
        """The latest snapshot of every aggregate on the given partitions of the state topic, by key."""
        tps = [TopicPartition(self._topic, p) for p in sorted(set(partitions))]
        restored: dict[int, dict[str, T]] = {tp.partition: {} for tp in tps}
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
                    f"{self._topic} partitions {sorted(tp.partition for tp in pending)} not read in time"
                )
            batch = await self._reader.getmany(*pending, timeout_ms=200)
            for tp, records in batch.items():
                for record in records:
                    self._apply(restored[tp.partition], record.key, record.value, tp, record.offset)
            pending = {tp for tp in pending if await self._reader.position(tp) < ends[tp]}
        log.info(
            "restored %d states from %s partitions %s",
            sum(len(s) for s in restored.values()),
            self._topic,
            sorted(restored),
        )
        return restored

    def _apply(
        self, states: dict[str, T], key: bytes | None, value: bytes | None, tp: TopicPartition, offset: int
    ) -> None:
        where = f"{tp.topic}/{tp.partition}@{offset}"
        if key is None:
            if self._strict:
                raise SnapshotRestoreError(f"snapshot without a key at {where}")
            log.error("skipping a snapshot without a key at %s", where)
            return
        if value is None:  # a tombstone: the aggregate is finished, forget it
            states.pop(key.decode(), None)
            return
        try:
            states[key.decode()] = self._decode(value)
        except ValueError as exc:
            # Only this service writes snapshots: one that does not parse is a bug.
            if self._strict:
                raise SnapshotRestoreError(f"unreadable snapshot at {where}: {exc}") from exc
            log.error("skipping an unreadable snapshot at %s: %s", where, exc)
            states.pop(key.decode(), None)
