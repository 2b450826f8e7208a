"""The processor: consume commands, webhook deliveries and step results, decide, and write events, step
requests, snapshots, outcomes and the consumed offsets in one Kafka transaction per batch; and fire the durable
timers (delays, retry backoffs) of the executions it owns, each round in a transaction of its own.

Failure policy: if a transaction cannot be committed (fenced by a newer instance with the same transactional
id, broker gone, ...), the processor aborts it when it still can and raises `ProcessorFailedError`; the process
then exits non-zero and its supervisor restarts it, which restores state from the snapshots and resumes from
the checkpoint written with them. Nothing half-written is ever visible to `read_committed` readers, and in-memory
state is only changed after a commit, so there is nothing to repair in place.

Resuming: every batch transaction also writes, to partition p of the execution-state topic, a checkpoint of the
next offset of each input topic's partition p. A new owner reads the state partitions to their end (which waits
for every transaction on them to be resolved), so the checkpoint it finds is exactly the position its restored
state corresponds to; the group's committed offsets (also written, for tooling and as the fallback) can be read
before the previous owner's commit markers land. Records below the checkpoint are skipped, never re-applied.

Timers: the `notBefore` of a waiting step (a `delay`, a retry's backoff) is in the execution's snapshot; the
in-memory heap is rebuilt from the executions on every assignment, so a timer survives any restart or handover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from flowmatic_contracts.topics import Topics
from flowmatic_orchestrator.adapters.execution_snapshots import (
    CHECKPOINT_KEY,
    Checkpoint,
    RunningExecution,
    encode_checkpoint,
)
from flowmatic_orchestrator.adapters.expressions import resolver_at
from flowmatic_orchestrator.adapters.state_store import InMemoryExecutions, InMemoryWorkflowStates
from flowmatic_orchestrator.domain import DecisionContext, WorkflowState
from flowmatic_orchestrator.domain.execution import due_timers
from flowmatic_orchestrator.entrypoints.batch import InboundRecord, process_batch
from flowmatic_orchestrator.entrypoints.executions import ExecutionChanges, ResolverAt
from flowmatic_orchestrator.entrypoints.records import OutboundRecord
from flowmatic_orchestrator.entrypoints.timers import Timer, TimerHeap

log = logging.getLogger(__name__)


class ProcessorFailedError(RuntimeError):
    """The processor cannot go on safely; restart the process (it resumes from its checkpoints)."""


T_co = TypeVar("T_co", covariant=True)

# The longest the timer task sleeps without looking again, so a stepped clock cannot delay a timer for long.
TIMER_RECHECK_SECONDS = 1.0


class SnapshotReader(Protocol[T_co]):
    """Reads the latest aggregate states of some partitions from a compacted state topic, by key."""

    async def read(self, partitions: Iterable[int]) -> Mapping[int, Mapping[str, T_co]]: ...


class CommandProcessor:
    """Owns the aggregates (workflows, running executions) of the partitions assigned to it; the single writer
    of their events.

    It consumes commands, webhooks and step results in one group with range assignment, so partition p of every
    input topic (and of both state topics, which share the keys) belongs to one instance at a time.

    A lock is held from the start of a rebalance (partitions revoked) to its end (new partitions' states
    loaded), around each batch, and around each round of due timers, so nothing runs against a half-loaded
    assignment, transactions never interleave on the one producer, and a revocation waits for the transaction
    in flight to commit before another instance takes the partition over.
    """

    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        snapshots: SnapshotReader[WorkflowState],
        execution_snapshots: SnapshotReader[RunningExecution | Checkpoint],
        topics: Topics,
        group_id: str,
        context: Callable[[], DecisionContext],
        resolver: ResolverAt = resolver_at,
        max_batch_records: int = 500,
        poll_timeout_ms: int = 100,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._snapshots = snapshots
        self._execution_snapshots = execution_snapshots
        self._resolver = resolver
        self._topics = topics
        self._group_id = group_id
        self._context = context
        self._max_batch_records = max_batch_records
        self._poll_timeout_ms = poll_timeout_ms
        self._states = InMemoryWorkflowStates()
        self._executions = InMemoryExecutions()
        self._timers = TimerHeap()
        self._timers_changed = asyncio.Event()
        # the next offset to process per owned partition; a record below it was already processed
        self._next_offsets: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()
        self._rebalancing = False
        self._failure: BaseException | None = None
        self._stopping = asyncio.Event()
        self._joined = False

    @property
    def topics_consumed(self) -> list[str]:
        return [self._topics.commands, self._topics.webhooks, self._topics.step_results]

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

    @property
    def executions(self) -> InMemoryExecutions:
        """The running executions this instance owns."""
        return self._executions

    @property
    def pending_timers(self) -> int:
        return len(self._timers)

    def rebalance_listener(self) -> ConsumerRebalanceListener:
        return _Listener(self)

    def stop(self) -> None:
        """Finish the batch in flight, then return from `run`."""
        self._stopping.set()

    async def run(self) -> None:
        """Process batches until `stop()`; raises `ProcessorFailedError` when it cannot go on."""
        timers = asyncio.create_task(self._run_timers(), name="timers")
        try:
            while not self._stopping.is_set():
                batch = await self._consumer.getmany(
                    timeout_ms=self._poll_timeout_ms, max_records=self._max_batch_records
                )
                async with self._lock:
                    if self._failure is not None:
                        raise ProcessorFailedError("the processor cannot go on") from self._failure
                    records = self._unprocessed(batch)
                    if records:
                        await self._process(records)
        finally:
            # The timer task finishes the round in flight (never cut off inside its transaction) and returns.
            self._stopping.set()
            self._timers_changed.set()
            await timers

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
        result = process_batch(
            records,
            self._states.get,
            self._topics,
            self._context,
            executions=self._executions,
            resolver=self._resolver,
        )
        offsets = {TopicPartition(topic, p): offset for (topic, p), offset in result.next_offsets.items()}
        checkpoints = self._checkpoints(offsets)
        await self._commit(result.records + checkpoints, offsets, f"a batch of {len(records)} messages")
        # Only now, with the transaction committed, does the instance believe its outcome.
        for partition, states in result.states.items():
            for state in states.values():
                self._states.put(partition, state)
        self._keep(result.executions)
        self._next_offsets.update(offsets)

    def _checkpoints(self, offsets: dict[TopicPartition, int]) -> list[OutboundRecord]:
        """One checkpoint per partition number the batch consumed from: every input topic's next offset there."""
        positions = {**self._next_offsets, **offsets}
        return [
            OutboundRecord(
                self._topics.execution_state,
                CHECKPOINT_KEY.encode(),
                encode_checkpoint(
                    Checkpoint(offsets={tp.topic: o for tp, o in positions.items() if tp.partition == partition})
                ),
                partition=partition,
            )
            for partition in sorted({tp.partition for tp in offsets})
        ]

    async def _commit(self, records: list[OutboundRecord], offsets: dict[TopicPartition, int], what: str) -> None:
        """Write `records` (and the consumed `offsets`, if any) in one transaction, or fail the processor."""
        try:
            async with self._producer.transaction():
                deliveries = [
                    await self._producer.send(r.topic, key=r.key, value=r.value, partition=r.partition) for r in records
                ]
                if offsets:
                    await self._producer.send_offsets_to_transaction(offsets, self._group_id)
                await asyncio.gather(*deliveries)
        except Exception as exc:
            log.exception("the transaction for %s failed; exiting so a restart resumes", what)
            self._failure = exc
            raise ProcessorFailedError(f"the transaction for {what} failed") from exc

    def _keep(self, executions: dict[int, dict[str, RunningExecution]]) -> None:
        """Adopt committed execution states, and index the timers of those still waiting."""
        for partition, changed in executions.items():
            for execution in changed.values():
                self._executions.put(partition, execution)
                self._schedule(partition, execution)

    def _schedule(self, partition: int, execution: RunningExecution) -> None:
        timers = due_timers(execution.state)
        for due, node_id in timers:
            self._timers.push(Timer(due, partition, execution.execution_id, node_id))
        if timers:
            self._timers_changed.set()

    # ---- timers ----------------------------------------------------------------------------------------------

    async def _run_timers(self) -> None:
        """Sleep until the earliest timer is due, then fire every due one; a failure stops the processor."""
        try:
            while not self._stopping.is_set():
                self._timers_changed.clear()
                next_due = self._timers.next_due()
                wait = TIMER_RECHECK_SECONDS
                if next_due is not None:
                    wait = min(wait, (next_due - self._context().now).total_seconds())
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._timers_changed.wait(), timeout=wait)
                    continue
                async with self._lock:
                    if self._failure is not None or self._stopping.is_set():
                        return
                    await self._fire_due_timers()
        except ProcessorFailedError:
            return  # already recorded in self._failure; the consuming loop raises it
        except Exception as exc:
            log.exception("the timer task failed")
            self._failure = exc

    async def _fire_due_timers(self) -> None:
        """Decide every due timer of an execution this instance still owns, in one transaction (no offsets:
        nothing was consumed). Timers of revoked partitions or finished executions are dropped here."""
        due = [
            t
            for t in self._timers.pop_due(self._context().now)
            if self._executions.get(t.partition, t.execution_id) is not None
        ]
        if not due:
            return
        changes = ExecutionChanges(self._executions, self._topics, self._context, self._resolver)
        for timer in due:
            changes.timer(timer.partition, timer.execution_id, timer.node_id)
        records = changes.records + changes.snapshot_records()
        if records:
            await self._commit(records, {}, f"{len(due)} due timers")
        self._keep(changes.changed)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        if not self._rebalancing:
            # Waits for the batch in flight; released when the new assignment's state is loaded.
            await self._lock.acquire()
            self._rebalancing = True
        for tp in revoked:
            self._next_offsets.pop(tp, None)
        for partition in {tp.partition for tp in revoked}:
            self._states.drop(partition)
            self._executions.drop(partition)

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        try:
            partitions = {tp.partition for tp in assigned}
            workflows, executions = await asyncio.gather(
                self._snapshots.read(partitions - self._states.partitions()),
                self._execution_snapshots.read(partitions - self._executions.partitions()),
            )
            for partition, states in workflows.items():
                self._states.load(partition, states)
            checkpoints: dict[int, Checkpoint] = {}
            for partition, records in executions.items():
                running = {k: v for k, v in records.items() if isinstance(v, RunningExecution)}
                checkpoint = records.get(CHECKPOINT_KEY)
                if isinstance(checkpoint, Checkpoint):
                    checkpoints[partition] = checkpoint
                self._executions.load(partition, running)
                for execution in running.values():
                    self._schedule(partition, execution)
            for tp in assigned:
                self._next_offsets[tp] = await self._start_offset(tp, checkpoints.get(tp.partition))
            self._joined = True
            log.info(
                "assigned %s; %d workflows and %d running executions in memory, %d timers",
                sorted(str(tp) for tp in assigned),
                self._states.count(),
                self._executions.count(),
                len(self._timers),
            )
        except Exception as exc:
            # aiokafka logs and swallows listener errors; remember it so the loop fails instead of going on.
            log.exception("loading state for partitions %s failed", assigned)
            self._failure = exc
        finally:
            if self._rebalancing:
                self._rebalancing = False
                self._lock.release()

    async def _start_offset(self, tp: TopicPartition, checkpoint: Checkpoint | None) -> int:
        """Where processing of an assigned partition resumes: the checkpoint; without one (nothing processed
        yet), the group's committed offset, else 0 (the consumer starts at the log's beginning, and every
        record it delivers is then new).

        Not `consumer.position()`: a fetch that raced the rebalance may already have handed records of this
        partition to the loop (waiting for the lock), and their offsets would then count as processed.
        """
        if checkpoint is not None and tp.topic in checkpoint.offsets:
            return checkpoint.offsets[tp.topic]
        committed = await self._consumer.committed(tp)
        return 0 if committed is None else int(committed)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Adapts aiokafka's rebalance callbacks to the processor."""

    def __init__(self, processor: CommandProcessor) -> None:
        self._processor = processor

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._processor._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._processor._on_assigned(set(assigned))
