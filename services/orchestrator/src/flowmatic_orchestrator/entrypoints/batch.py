"""One batch of consumed commands in, everything the batch's Kafka transaction must write out.

Synchronous and free of Kafka clients, so the rules about skipping bad messages and chaining decisions within a
batch are unit-tested without a broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from flowmatic_contracts.envelope import Envelope, UnknownMessageTypeError, decode, encode
from flowmatic_contracts.topics import Topics
from flowmatic_orchestrator.adapters.snapshots import encode_snapshot
from flowmatic_orchestrator.domain import Decision, DecisionContext, UnsupportedCommandError, WorkflowState
from flowmatic_orchestrator.domain import decide as decide_workflow
from flowmatic_orchestrator.domain import evolve as evolve_workflow
from flowmatic_orchestrator.domain.decision import reject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundRecord:
    """A consumed message, reduced to what processing needs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def where(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


@dataclass(frozen=True)
class OutboundRecord:
    """A message to produce inside the batch's transaction."""

    topic: str
    key: bytes
    value: bytes


@dataclass
class BatchResult:
    """What one transaction writes, and what the instance knows once it commits."""

    records: list[OutboundRecord] = field(default_factory=list)
    # partition -> workflow id -> state after the batch (only the workflows the batch changed)
    states: dict[int, dict[str, WorkflowState]] = field(default_factory=dict)
    # (topic, partition) -> the offset of the next message to consume
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


StateLookup = Callable[[int, str], WorkflowState | None]


def process_batch(
    records: Iterable[InboundRecord], current: StateLookup, topics: Topics, context: Callable[[], DecisionContext]
) -> BatchResult:
    """Decide every command of a batch in order; a later command sees the state an earlier one produced.

    A message that does not decode or is not a command this service handles is logged and skipped; its offset
    still advances, so one bad message never stalls its partition.
    """
    result = BatchResult()
    for record in records:
        result.next_offsets[(record.topic, record.partition)] = record.offset + 1
        command = _decoded(record)
        if command is None:
            continue

        def state_of(workflow_id: str, partition: int = record.partition) -> WorkflowState | None:
            changed = result.states.get(partition, {})
            return changed[workflow_id] if workflow_id in changed else current(partition, workflow_id)

        applied = _applied(state_of(command.aggregate_id), command, context(), record)
        if applied is None:
            continue
        decision, state = applied
        for event in decision.events:
            result.records.append(OutboundRecord(topics.workflow_events, _key(event.aggregate_id), encode(event)))
        if state is not None and decision.events:
            result.states.setdefault(record.partition, {})[state.workflow_id] = state
            # No tombstone for a deleted workflow: its snapshot stays so the id can never be created again.
            result.records.append(
                OutboundRecord(topics.workflow_state, _key(state.workflow_id), encode_snapshot(state))
            )
        result.records.append(OutboundRecord(topics.outcomes, _key(command.correlation_id), encode(decision.outcome)))
    return result


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
    if envelope.payload.kind != "command":
        log.warning("skipping %s at %s: not a command", envelope.type, record.where)
        return None
    return envelope


def _applied(
    state: WorkflowState | None, command: Envelope, context: DecisionContext, record: InboundRecord
) -> tuple[Decision, WorkflowState | None] | None:
    """The decision on `command` and the aggregate's state after its events; None for a command not handled."""
    try:
        decision = decide_workflow(state, command, context)
        for event in decision.events:
            state = evolve_workflow(state, event)
    except UnsupportedCommandError:
        log.warning("skipping %s %s at %s: not handled here", command.type, command.id, record.where)
        return None
    except Exception:
        # A bug in deciding one command must neither stall the partition nor leave the gateway waiting.
        log.exception("deciding %s %s at %s failed", command.type, command.id, record.where)
        return reject(command, 500, "Internal Server Error", "the command could not be processed", context), None
    return decision, state


def _key(value: str) -> bytes:
    return value.encode()
