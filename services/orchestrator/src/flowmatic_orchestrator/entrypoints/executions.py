"""Execution inputs (a start, a step result, a due timer) in; events, step requests, snapshots and outcomes out.

Synchronous and free of Kafka clients, like `batch`: the domain decides, this module numbers and wraps the
events in envelopes (sequence continuing from the execution's state, causation the input message, correlation
and actor kept from it) and keeps the changed executions until the transaction that writes them commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flowmatic_contracts.commands import StartExecution
from flowmatic_contracts.envelope import Actor, Envelope, Payload, encode, new_envelope
from flowmatic_contracts.events import (
    ExecutionError,
    ExecutionFailed,
    ExecutionStarted,
    StepFailed,
    StepScheduled,
    StepSucceeded,
    WebhookReceived,
)
from flowmatic_contracts.topics import Topics
from flowmatic_orchestrator.adapters.execution_snapshots import RunningExecution, encode_execution
from flowmatic_orchestrator.domain import DecisionContext
from flowmatic_orchestrator.domain.chain import link
from flowmatic_orchestrator.domain.decision import accept, reject
from flowmatic_orchestrator.domain.execution import (
    Decision,
    ExecutionState,
    Resolver,
    decide_start,
    decide_step_result,
    decide_timer,
    evolve,
)
from flowmatic_orchestrator.entrypoints.records import OutboundRecord

log = logging.getLogger(__name__)

ResolverAt = Callable[[datetime], Resolver]


class ExecutionLookup(Protocol):
    """The executions known before a batch (the in-memory store)."""

    def get(self, partition: int, execution_id: str) -> RunningExecution | None: ...

    def exists(self, partition: int, execution_id: str) -> bool: ...


@dataclass(frozen=True)
class Cause:
    """What caused a decision: the input message's id (None for a timer without a recorded cause), its
    correlation id and its actor."""

    message_id: str | None
    correlation_id: str
    actor: Actor

    @staticmethod
    def of(envelope: Envelope) -> Cause:
        return Cause(envelope.id, envelope.correlation_id, envelope.actor)


class ExecutionChanges:
    """The executions one transaction changes, the records it writes for them, in order.

    A later input in the same batch sees the state an earlier one produced. Snapshots are written once per
    changed execution, at the end (`snapshot_records`), since compaction keeps only the last one anyway.
    """

    def __init__(
        self, current: ExecutionLookup, topics: Topics, context: Callable[[], DecisionContext], resolver: ResolverAt
    ) -> None:
        self._current = current
        self._topics = topics
        self._context = context
        self._resolver = resolver
        self.records: list[OutboundRecord] = []
        # partition -> execution id -> execution after this transaction (finished ones included)
        self.changed: dict[int, dict[str, RunningExecution]] = {}

    def get(self, partition: int, execution_id: str) -> RunningExecution | None:
        changed = self.changed.get(partition, {})
        return changed[execution_id] if execution_id in changed else self._current.get(partition, execution_id)

    def exists(self, partition: int, execution_id: str) -> bool:
        return execution_id in self.changed.get(partition, {}) or self._current.exists(partition, execution_id)

    # ---- inputs --------------------------------------------------------------------------------------------

    def webhook(self, partition: int, envelope: Envelope, delivery: WebhookReceived) -> None:
        """A webhook delivery starts the execution the gateway assigned its id to; a repeat changes nothing."""
        if self.exists(partition, envelope.aggregate_id):
            log.warning("ignoring a repeated delivery %s for execution %s", envelope.id, envelope.aggregate_id)
            return
        started = ExecutionStarted(
            workflow_id=delivery.workflow_id,
            workflow_version=delivery.workflow_version,
            mode="webhook",
            trigger_id=delivery.trigger_id,
            input=delivery.payload,
            spec=delivery.spec,
        )
        self._start(partition, envelope, started)

    def start_command(self, partition: int, envelope: Envelope, command: StartExecution) -> Envelope:
        """`StartExecution`: start it and accept (version = the execution's sequence), or 409 for a taken id.
        Returns the outcome for the command's correlation id."""
        context = self._context()
        if self.exists(partition, envelope.aggregate_id):
            detail = f"execution {envelope.aggregate_id} already exists"
            return reject(envelope, 409, "Conflict", detail, context, mode=command.mode).outcome
        started = ExecutionStarted(
            workflow_id=command.workflow_id,
            workflow_version=command.workflow_version,
            mode=command.mode,
            trigger_id=command.trigger_id,
            input=command.input,
            spec=command.spec,
            replay_of=command.replay_of,
            reused_outputs=command.reused_outputs,
        )
        execution = self._start(partition, envelope, started)
        if execution is None:
            detail = "the execution could not be started"
            return reject(envelope, 500, "Internal Server Error", detail, context, mode=command.mode).outcome
        return accept(envelope, [], execution.state.sequence, context, mode=command.mode).outcome

    def step_result(self, partition: int, envelope: Envelope, result: StepSucceeded | StepFailed) -> None:
        """An executor's report on one attempt; stale and repeated reports change nothing (the domain says)."""
        previous = self.get(partition, envelope.aggregate_id)
        if previous is None:
            log.info("ignoring %s for execution %s: not running here", envelope.type, envelope.aggregate_id)
            return
        context = self._context()
        self._decide(
            partition,
            previous,
            Cause.of(envelope),
            context,
            lambda: decide_step_result(previous.state, result, context.now, self._resolver(context.now)),
        )

    def timer(self, partition: int, execution_id: str, node_id: str) -> None:
        """A step's `notBefore` has passed (a stale timer changes nothing). Caused by the step's StepScheduled."""
        previous = self.get(partition, execution_id)
        if previous is None:
            return
        context = self._context()
        cause = Cause(previous.scheduled_by.get(node_id), previous.correlation_id, previous.actor)
        self._decide(
            partition,
            previous,
            cause,
            context,
            lambda: decide_timer(previous.state, node_id, context.now, self._resolver(context.now)),
        )

    # ---- output --------------------------------------------------------------------------------------------

    def snapshot_records(self) -> list[OutboundRecord]:
        """The latest state of every changed execution; a finished one's is a tombstone, so restores skip it."""
        return [
            OutboundRecord(
                self._topics.execution_state,
                _key(execution_id),
                None if execution.state.finished else encode_execution(execution),
            )
            for executions in self.changed.values()
            for execution_id, execution in executions.items()
        ]

    # ---- internals -----------------------------------------------------------------------------------------

    def _start(self, partition: int, envelope: Envelope, started: ExecutionStarted) -> RunningExecution | None:
        context = self._context()
        try:
            decision = decide_start(envelope.aggregate_id, started, context.now, self._resolver(context.now))
        except Exception:
            # A bug in deciding one start must not stall the partition; nothing is written for it.
            log.exception("starting execution %s from %s failed", envelope.aggregate_id, envelope.id)
            return None
        return self._record(partition, None, envelope.aggregate_id, decision, Cause.of(envelope), context)

    def _decide(
        self,
        partition: int,
        previous: RunningExecution,
        cause: Cause,
        context: DecisionContext,
        decide: Callable[[], Decision],
    ) -> None:
        try:
            decision = decide()
        except Exception as exc:
            # A bug in deciding must neither stall the partition nor leave the execution running forever.
            log.exception("deciding for execution %s failed; failing the execution", previous.execution_id)
            failed = ExecutionFailed(error=ExecutionError(node_id=None, message=f"internal error: {exc}"))
            decision = Decision([failed], [])
        if decision.events or decision.requests:
            self._record(partition, previous, previous.execution_id, decision, cause, context)

    def _record(
        self,
        partition: int,
        previous: RunningExecution | None,
        execution_id: str,
        decision: Decision,
        cause: Cause,
        context: DecisionContext,
    ) -> RunningExecution:
        """Envelope the decision's events and requests, and keep the execution's new state."""
        state: ExecutionState | None = previous.state if previous else None
        scheduled_by = dict(previous.scheduled_by) if previous else {}
        key = _key(execution_id)
        for event in decision.events:
            previous_hash = state.last_event_hash if state is not None else None
            state = evolve(state, execution_id, event)
            # Linked to the previous event's bytes before it is encoded; the bytes hashed are the bytes written.
            linked = link(self._envelope(event, execution_id, cause, context, sequence=state.sequence), previous_hash)
            state = state.model_copy(update={"last_event_hash": linked.hash})
            if isinstance(event, StepScheduled):
                scheduled_by[event.node_id] = linked.envelope.id
            self.records.append(OutboundRecord(self._topics.execution_events, key, linked.raw))
        assert state is not None, "a decision that records anything starts from or creates a state"
        for request in decision.requests:
            # The executor's result is caused by this request; the request by the StepScheduled behind it.
            request_cause = Cause(
                scheduled_by.get(request.node_id, cause.message_id), cause.correlation_id, cause.actor
            )
            envelope = self._envelope(request, execution_id, request_cause, context, sequence=0)
            self.records.append(OutboundRecord(self._topics.step_requests, key, encode(envelope)))
        waiting = {
            node_id: event_id
            for node_id, event_id in scheduled_by.items()
            if node_id in state.steps and state.steps[node_id].status in ("SCHEDULED", "RUNNING")
        }
        execution = RunningExecution(
            state=state,
            correlation_id=previous.correlation_id if previous else cause.correlation_id,
            actor=previous.actor if previous else cause.actor,
            scheduled_by=waiting,
        )
        self.changed.setdefault(partition, {})[execution_id] = execution
        return execution

    @staticmethod
    def _envelope(
        payload: Payload, execution_id: str, cause: Cause, context: DecisionContext, *, sequence: int
    ) -> Envelope:
        return new_envelope(
            payload,
            aggregate_id=execution_id,
            actor=cause.actor,
            correlation_id=cause.correlation_id,
            causation_id=cause.message_id,
            sequence=sequence,
            occurred_at=context.now,
            message_id=context.new_message_id(),
        )


def _key(value: str) -> bytes:
    return value.encode()
