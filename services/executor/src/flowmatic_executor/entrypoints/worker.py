"""The executor loop: consume StepRequested, run the steps, and write their results together with the consumed
offsets in one Kafka transaction per batch.

A batch's steps run concurrently (bounded by `max_concurrency`). Results and offsets commit atomically, so a
crash before the commit re-runs the batch on restart: connector side effects are at-least-once, which is why
`http_request` sends `Idempotency-Key: executionId:nodeId:attempt`, and the orchestrator ignores a duplicate
result for a (node, attempt) it has already settled.

Failure policy (as the orchestrator's): a transaction that cannot commit, or a rebalance whose new partitions
cannot be taken over, ends the loop with `WorkerFailedError`; the process exits non-zero and its supervisor restarts it from the committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from pydantic import ValidationError

from flowmatic_contracts.envelope import Envelope, UnknownMessageTypeError, decode, encode
from flowmatic_contracts.events import StepRequested
from flowmatic_executor.domain.outcomes import Failed, StepOutcome
from flowmatic_executor.entrypoints.steps import StepRunner, result_envelope

log = logging.getLogger(__name__)


class WorkerFailedError(RuntimeError):
    """The worker cannot go on safely; restart the process (it resumes from committed offsets)."""


@dataclass(frozen=True)
class ConsumedStep:
    """A decoded step request and where it came from."""

    partition: TopicPartition
    offset: int
    envelope: Envelope
    step: StepRequested


class StepWorker:
    """One member of the executors' consumer group.

    A lock is held around each batch and from the revocation of partitions to their reassignment, so a
    rebalance waits for the batch in flight to commit before another member takes its partitions over.
    """

    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        runner: StepRunner,
        results_topic: str,
        group_id: str,
        max_batch_records: int = 100,
        poll_timeout_ms: int = 100,
        max_concurrency: int = 64,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._runner = runner
        self._results_topic = results_topic
        self._group_id = group_id
        self._max_batch_records = max_batch_records
        self._poll_timeout_ms = poll_timeout_ms
        self._slots = asyncio.Semaphore(max_concurrency)
        # the next offset to process per owned partition; a record below it was already processed
        self._next_offsets: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()
        self._rebalancing = False
        self._failure: BaseException | None = None
        self._stopping = asyncio.Event()
        self._joined = False
        self.steps_completed = 0

    @property
    def joined(self) -> bool:
        """Whether the first assignment (possibly empty) has been received."""
        return self._joined

    @property
    def owned(self) -> frozenset[int]:
        """The step-request partitions this member currently owns."""
        return frozenset(tp.partition for tp in self._next_offsets)

    def rebalance_listener(self) -> ConsumerRebalanceListener:
        return _Listener(self)

    def stop(self) -> None:
        """Finish the batch in flight, then return from `run`."""
        self._stopping.set()

    async def run(self) -> None:
        """Process batches until `stop()`; raises `WorkerFailedError` when a transaction fails."""
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(timeout_ms=self._poll_timeout_ms, max_records=self._max_batch_records)
            async with self._lock:
                if self._failure is not None:
                    raise WorkerFailedError("taking over partitions after a rebalance failed") from self._failure
                await self._process(batch)

    async def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        next_offsets: dict[TopicPartition, int] = {}
        steps: list[ConsumedStep] = []
        for tp, records in batch.items():
            owned_from = self._next_offsets.get(tp)
            if owned_from is None:
                continue  # fetched before a rebalance took the partition away
            for record in records:
                if record.offset < owned_from:
                    continue
                next_offsets[tp] = record.offset + 1
                consumed = _decoded(tp, record.offset, record.value)
                if consumed is not None:
                    steps.append(consumed)
        if not next_offsets:
            return
        outcomes = await asyncio.gather(*(self._run_step(consumed) for consumed in steps))
        results = [
            result_envelope(consumed.envelope, consumed.step, outcome)
            for consumed, outcome in zip(steps, outcomes, strict=True)
        ]
        try:
            async with self._producer.transaction():
                deliveries = [
                    await self._producer.send(
                        self._results_topic, key=result.aggregate_id.encode(), value=encode(result)
                    )
                    for result in results
                ]
                await self._producer.send_offsets_to_transaction(next_offsets, self._group_id)
                await asyncio.gather(*deliveries)
        except Exception as exc:
            log.exception("the transaction for %d step results failed; exiting so a restart resumes", len(results))
            raise WorkerFailedError("a batch transaction failed") from exc
        self._next_offsets.update(next_offsets)
        self.steps_completed += len(results)

    async def _run_step(self, consumed: ConsumedStep) -> StepOutcome:
        step = consumed.step
        async with self._slots:
            try:
                outcome = await self._runner.run(step)
            except Exception:
                # A bug in one connector must neither stall the partition nor leave the execution hanging.
                log.exception("running %s of %s failed", step.node_id, step.execution_id)
                return Failed(f"the executor failed to run {step.node_type!r}: internal error", retryable=False)
        log.debug("%s %s#%d → %s", step.execution_id, step.node_id, step.attempt, type(outcome).__name__)
        return outcome

    async def _on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        if not self._rebalancing:
            await self._lock.acquire()  # waits for the batch in flight; released once reassigned
            self._rebalancing = True
        for tp in revoked:
            self._next_offsets.pop(tp, None)

    async def _on_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        try:
            for tp in assigned:
                self._next_offsets[tp] = await self._consumer.position(tp)
            self._joined = True
            log.info("assigned %s", sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))
        except Exception as exc:
            # aiokafka logs and swallows listener errors; remember it so the loop fails instead of going on
            # without partitions it was given (their requests would be silently skipped).
            log.exception("taking over partitions %s failed", assigned)
            self._failure = exc
        finally:
            if self._rebalancing:
                self._rebalancing = False
                self._lock.release()


def _decoded(tp: TopicPartition, offset: int, value: bytes | None) -> ConsumedStep | None:
    where = f"{tp.topic}/{tp.partition}@{offset}"
    if value is None:
        log.warning("skipping an empty message at %s", where)
        return None
    try:
        envelope = decode(value)
    except (ValueError, UnknownMessageTypeError, ValidationError) as exc:
        log.warning("skipping an undecodable message at %s: %s", where, exc)
        return None
    if not isinstance(envelope.payload, StepRequested):
        log.warning("skipping %s at %s: not a StepRequested", envelope.type, where)
        return None
    return ConsumedStep(tp, offset, envelope, envelope.payload)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Adapts aiokafka's rebalance callbacks to the worker."""

    def __init__(self, worker: StepWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._worker._on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._worker._on_assigned(list(assigned))
