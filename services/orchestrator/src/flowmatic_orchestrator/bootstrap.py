"""The composition root: builds the Kafka clients, the processor and the health app from `Settings`; wires the
domain's expression resolver to the contracts' expression language and its clock to the real one."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from fastapi import FastAPI

from flowmatic_contracts import ids
from flowmatic_contracts.envelope import utc_now
from flowmatic_orchestrator.adapters.execution_snapshots import Checkpoint, RunningExecution, decode_execution_record
from flowmatic_orchestrator.adapters.expressions import resolver_at
from flowmatic_orchestrator.adapters.snapshot_reader import KafkaSnapshotReader
from flowmatic_orchestrator.adapters.snapshots import decode_snapshot
from flowmatic_orchestrator.domain import DecisionContext, WorkflowState
from flowmatic_orchestrator.entrypoints.health import create_app
from flowmatic_orchestrator.entrypoints.processor import CommandProcessor
from flowmatic_orchestrator.settings import Settings


@dataclass
class Orchestrator:
    """A started orchestrator: run `processor.run()`, serve `app`; the exit stack closes the clients."""

    processor: CommandProcessor
    app: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        self.app = create_app(self.is_ready)

    def is_ready(self) -> bool:
        """Ready once the producer is up (it started before the consumer) and the group is joined."""
        return self.processor.joined and not self.processor.failed


def decision_context() -> DecisionContext:
    """The real clock and id generators."""
    return DecisionContext(
        now=utc_now(),
        new_webhook_id=lambda: ids.new_id(ids.WEBHOOK),
        new_message_id=lambda: ids.new_id(ids.MESSAGE),
    )


async def build(settings: Settings, stack: AsyncExitStack) -> Orchestrator:
    """Start every client (closed by `stack`) and wire the processor.

    The transactional producer starts first: registering the transactional id fences a previous incarnation
    and aborts its open transaction, so the snapshots read next are final.
    """
    topics = settings.topics
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        transactional_id=settings.transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.linger_ms,
        retry_backoff_ms=settings.retry_backoff_ms,
    )
    await producer.start()
    stack.push_async_callback(producer.stop)

    snapshots: KafkaSnapshotReader[WorkflowState] = KafkaSnapshotReader(
        settings.kafka_bootstrap_servers, topics.workflow_state, decode_snapshot
    )
    await snapshots.start()
    stack.push_async_callback(snapshots.stop)
    executions: KafkaSnapshotReader[RunningExecution | Checkpoint] = KafkaSnapshotReader(
        settings.kafka_bootstrap_servers, topics.execution_state, decode_execution_record, strict=False
    )
    await executions.start()
    stack.push_async_callback(executions.stop)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.group_id,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Range assignment gives one instance the same partition number of every consumed topic, which the
        # per-partition state relies on once webhooks and step results are consumed too.
        partition_assignment_strategy=(RangePartitionAssignor,),
    )
    processor = CommandProcessor(
        consumer=consumer,
        producer=producer,
        snapshots=snapshots,
        execution_snapshots=executions,
        topics=topics,
        group_id=settings.group_id,
        context=decision_context,
        resolver=resolver_at,
        max_batch_records=settings.max_batch_records,
        poll_timeout_ms=settings.poll_timeout_ms,
    )
    consumer.subscribe(processor.topics_consumed, listener=processor.rebalance_listener())
    await consumer.start()
    stack.push_async_callback(consumer.stop)

    return Orchestrator(processor=processor)
