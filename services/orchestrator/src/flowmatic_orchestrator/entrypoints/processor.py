"""The command processor: consume commands, decide, and write events, snapshots, outcomes and the consumed
offsets in one Kafka transaction per batch.

Failure policy: if a transaction cannot be committed (fenced by a newer instance with the same transactional
id, broker gone, ...), the processor aborts it when it still can and raises `ProcessorFailedError`; the process
then exits non-zero and its supervisor restarts it, which resumes from the committed offsets and restores state
from the snapshots. Nothing half-written is ever visible to `read_committed` readers, and in-memory state is
only changed after a commit, so there is nothing to repair in place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from flowmatic_contracts.topics import Topics
from flowmatic_orchestrator.adapters.state_store import InMemoryWorkflowStates
from flowmatic_orchestrator.domain import DecisionContext, WorkflowState
from flowmatic_orchestrator.entrypoints.batch import BatchResult, InboundRecord, process_batch

log = logging.getLogger(__name__)


class ProcessorFailedError(RuntimeError):
    """The processor cannot go on safely; restart the process (it resumes from committed offsets)."""


class SnapshotReader(Protocol):
    """Reads the latest workflow states of some partitions from the compacted state topic."""

    async def read(self, partitions: Iterable[int]) -> dict[int, dict[str, WorkflowState]]: ...


class CommandProcessor:
    """Owns the aggregates of the partitions assigned to it; the single writer of their events.

    A lock is held from the start of a rebalance (partitions revoked) to its end (new partitions' states
    loaded), and around each batch, so a batch never runs against a half-loaded assignment and a revocation
    waits for the transaction in flight to commit before another instance takes the partition over.
    """

    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        snapshots: SnapshotReader,
        topics: Topics,
        group_id: str,
        context: Callable[[], DecisionContext],
        max_batch_records: int = 500,
        poll_timeout_ms: int = 100,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._snapshots = snapshots
        self._topics = topics
        self._group_id = group_id
        self._context = context
        self._max_batch_records = max_batch_records
        self._poll_timeout_ms = poll_timeout_ms
        self._states = InMemoryWorkflowStates()
        # the next offset to process per owned partition; a record below it was already processed
        self._next_offsets: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()
        self._rebalancing = False
        self._failure: BaseException | None = None
        self._stopping = asyncio.Event()
        self._joined = False

    @property
    def topics_consumed(self) -> list[str]:
        return [self._topics.commands]

    @property
    def joined(self) -> bool:
        """Whether the first assignment (possibly empty) has been received and its state loaded."""
        return self._joined

    @property
    def failed(self) -> bool:
        """Whether the processor has given up (it is then about to exit)."""
        return self._failure is not None

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self._next_offsets)

    @property
    def states(self) -> InMemoryWorkflowStates:
        return self._states

    def rebalance_listener(self) -> ConsumerRebalanceListener:
        return _Listener(self)

    def stop(self) -> None:
        """Finish the batch in flight, then return from `run`."""
        self._stopping.set()

    async def run(self) -> None:
        """Process batches until `stop()`; raises `ProcessorFailedError` when it cannot go on."""
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(timeout_ms=self._poll_timeout_ms, max_records=self._max_batch_records)
            async with self._lock:
                if self._failure is not None:
                    raise ProcessorFailedError("restoring state after a rebalance failed") from self._failure
                records = self._unprocessed(batch)
                if records:
                    await self._process(records)

    def _unprocessed(self, batch: dict[TopicPartition, list[Any]]) -> list[InboundRecord]:
        """The batch's records of partitions this instance owns that it has not processed yet.

        A batch fetched before a rebalance can hold records of a partition that has since moved away, or come
        back with its position reset to the committed offset; both are filtered out here.
        """
        records: list[InboundRecord] = []
        for tp, consumed in batch.items():
            next_offset = self._next_offsets.get(tp)
            if next_offset is None:
                continue
            records.extend(
                InboundRecord(tp.topic, tp.partition, r.offset, r.key, r.value)
                for r in consumed
                if r.offset >= next_offset
            )
        return records

    async def _process(self, records: list[InboundRecord]) -> None:
        result = process_batch(records, self._states.get, self._topics, self._context)
        try:
            await self._write(result)
        except Exception as exc:
            log.exception("the transaction for %d commands failed; exiting so a restart resumes", len(records))
            self._failure = exc
            raise ProcessorFailedError("a batch transaction failed") from exc
        # Only now, with the transaction committed, does the instance believe its outcome.
        for partition, states in result.states.items():
            for state in states.values():
                self._states.put(partition, state)
        for (topic, partition), offset in result.next_offsets.items():
            self._next_offsets[TopicPartition(topic, partition)] = offset

    async def _write(self, result: BatchResult) -> None:
        async with self._producer.transaction():
            deliveries = [
                await self._producer.send(record.topic, key=record.key, value=record.value) for record in result.records
            ]
            offsets = {
                TopicPartition(topic, partition): offset for (topic, partition), offset in result.next_offsets.items()
            }
            await self._producer.send_offsets_to_transaction(offsets, self._group_id)
            await asyncio.gather(*deliveries)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        if not self._rebalancing:
            # Waits for the batch in flight; released when the new assignment's state is loaded.
            await self._lock.acquire()
            self._rebalancing = True
        for tp in revoked:
            self._next_offsets.pop(tp, None)
        for partition in {tp.partition for tp in revoked}:
            self._states.drop(partition)

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        try:
            partitions = {tp.partition for tp in assigned} - self._states.partitions()
            for partition, states in (await self._snapshots.read(partitions)).items():
                self._states.load(partition, states)
            for tp in assigned:
                self._next_offsets[tp] = await self._consumer.position(tp)
            self._joined = True
            log.info("assigned %s; %d workflows in memory", sorted(str(tp) for tp in assigned), self._states.count())
        except Exception as exc:
            # aiokafka logs and swallows listener errors; remember it so the loop fails instead of going on.
            log.exception("loading state for partitions %s failed", assigned)
            self._failure = exc
        finally:
            if self._rebalancing:
                self._rebalancing = False
                self._lock.release()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Adapts aiokafka's rebalance callbacks to the processor."""

    def __init__(self, processor: CommandProcessor) -> None:
        self._processor = processor

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._processor._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._processor._on_assigned(set(assigned))
