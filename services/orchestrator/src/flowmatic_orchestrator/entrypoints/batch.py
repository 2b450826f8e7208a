"""One batch of consumed messages in, everything the batch's Kafka transaction must write out.

A batch mixes commands (workflow commands and `StartExecution`), webhook deliveries and executors' step
results, in the order consumed per partition. Synchronous and free of Kafka clients, so the rules about skipping
bad messages and chaining decisions within a batch are unit-tested without a broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from flowmatic_contracts.commands import StartExecution
from flowmatic_contracts.envelope import Envelope, UnknownMessageTypeError, decode, encode
from flowmatic_contracts.events import StepFailed, StepSucceeded, WebhookReceived, WebhookRejected
from flowmatic_contracts.topics import Topics
from flowmatic_orchestrator.adapters.execution_snapshots import RunningExecution
from flowmatic_orchestrator.adapters.expressions import resolver_at
from flowmatic_orchestrator.adapters.snapshots import encode_snapshot
from flowmatic_orchestrator.adapters.state_store import InMemoryExecutions
from flowmatic_orchestrator.domain import Decision, DecisionContext, UnsupportedCommandError, WorkflowState
from flowmatic_orchestrator.domain import decide as decide_workflow
from flowmatic_orchestrator.domain.chain import LinkedEvent
from flowmatic_orchestrator.domain.decision import reject
from flowmatic_orchestrator.domain.workflows import append as append_workflow_event
from flowmatic_orchestrator.entrypoints.executions import ExecutionChanges, ExecutionLookup, ResolverAt
from flowmatic_orchestrator.entrypoints.records import InboundRecord, OutboundRecord

log = logging.getLogger(__name__)

__all__ = ["BatchResult", "InboundRecord", "OutboundRecord", "process_batch"]


@dataclass
class BatchResult:
    """What one transaction writes, and what the instance knows once it commits."""

    records: list[OutboundRecord] = field(default_factory=list)
    # partition -> workflow id -> state after the batch (only the workflows the batch changed)
    states: dict[int, dict[str, WorkflowState]] = field(default_factory=dict)
    # partition -> execution id -> execution after the batch (only those changed; finished ones included)
    executions: dict[int, dict[str, RunningExecution]] = field(default_factory=dict)
    # (topic, partition) -> the offset of the next message to consume
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


StateLookup = Callable[[int, str], WorkflowState | None]


def process_batch(
    records: Iterable[InboundRecord],
    current: StateLookup,
    topics: Topics,
    context: Callable[[], DecisionContext],
    *,
    executions: ExecutionLookup | None = None,
    resolver: ResolverAt = resolver_at,
) -> BatchResult:
    """Decide every message of a batch in order; a later message sees the state an earlier one produced.

    A message that does not decode or is not one this service handles on its topic is logged and skipped; its
    offset still advances, so one bad message never stalls its partition.
    """
    result = BatchResult()
    changes = ExecutionChanges(executions or InMemoryExecutions(), topics, context, resolver)
    for record in records:
        result.next_offsets[(record.topic, record.partition)] = record.offset + 1
        envelope = _decoded(record)
        if envelope is None:
            continue
        payload = envelope.payload
        # Each input is accepted only from the topic it belongs on, so a misrouted message cannot act twice.
        if record.topic == topics.commands and isinstance(payload, StartExecution):
            outcome = changes.start_command(record.partition, envelope, payload)
            changes.records.append(OutboundRecord(topics.outcomes, _key(envelope.correlation_id), encode(outcome)))
        elif record.topic == topics.commands and payload.kind == "command":
            _workflow_command(result, changes, record, envelope, current, topics, context)
        elif record.topic == topics.webhooks and isinstance(payload, WebhookReceived):
            changes.webhook(record.partition, envelope, payload)
        elif record.topic == topics.step_results and isinstance(payload, StepSucceeded | StepFailed):
            changes.step_result(record.partition, envelope, payload)
        elif record.topic == topics.webhooks and isinstance(payload, WebhookRejected):
            # A refused delivery shares the webhooks topic for the audit log; it starts nothing. Not logged: a
            # flood of bad deliveries would otherwise flood the orchestrator's log too.
            continue
        else:
            log.warning("skipping %s at %s: not handled on this topic", envelope.type, record.where)
    result.records = changes.records + changes.snapshot_records()
    result.executions = changes.changed
    return result


def _workflow_command(
    result: BatchResult,
    changes: ExecutionChanges,
    record: InboundRecord,
    command: Envelope,
    current: StateLookup,
    topics: Topics,
    context: Callable[[], DecisionContext],
) -> None:
    changed = result.states.get(record.partition, {})
    wid = command.aggregate_id
    state = changed[wid] if wid in changed else current(record.partition, wid)
    applied = _applied(state, command, context(), record)
    if applied is None:
        return
    decision, new_state, linked = applied
    out = changes.records  # one ordered list of records for the whole transaction
    for event in linked:
        out.append(OutboundRecord(topics.workflow_events, _key(event.envelope.aggregate_id), event.raw))
    if new_state is not None and linked:
        result.states.setdefault(record.partition, {})[new_state.workflow_id] = new_state
        # No tombstone for a deleted workflow: its snapshot stays so the id can never be created again.
        out.append(OutboundRecord(topics.workflow_state, _key(new_state.workflow_id), encode_snapshot(new_state)))
    out.append(OutboundRecord(topics.outcomes, _key(command.correlation_id), encode(decision.outcome)))


def _decoded(record: InboundRecord) -> Envelope | None:
    if record.value is None:
        log.warning("skipping an empty message at %s", record.where)
        return None
    try:
        envelope = decode(record.value)
    except (ValueError, UnknownMessageTypeError, ValidationError) as exc:
        # orjson.JSONDecodeError and pydantic's ValidationError are both ValueErrors; named for the reader.
        log.warning("skipping an undecodable message at %s: %s", record.where, exc)
        return None
    return envelope


def _applied(
    state: WorkflowState | None, command: Envelope, context: DecisionContext, record: InboundRecord
) -> tuple[Decision, WorkflowState | None, list[LinkedEvent]] | None:
    """The decision on `command`, the aggregate's state after its events, and those events chained to the
    aggregate's previous event and encoded (the bytes to write); None for a command not handled."""
    linked: list[LinkedEvent] = []
    try:
        decision = decide_workflow(state, command, context)
        for event in decision.events:
            state, written = append_workflow_event(state, event)
            linked.append(written)
    except UnsupportedCommandError:
        log.warning("skipping %s %s at %s: not handled here", command.type, command.id, record.where)
        return None
    except Exception:
        # A bug in deciding one command must neither stall the partition nor leave the gateway waiting.
        log.exception("deciding %s %s at %s failed", command.type, command.id, record.where)
        return reject(command, 500, "Internal Server Error", "the command could not be processed", context), None, []
    return decision, state, linked


def _key(value: str) -> bytes:
    return value.encode()
