"""Waiting for command outcomes (by correlation id) and for synchronous webhooks' answers (by execution id)."""

from __future__ import annotations

from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import (
    CommandAccepted,
    CommandRejected,
    ExecutionCancelled,
    ExecutionFailed,
    ExecutionSucceeded,
    ResponseProduced,
)
from flowmatic_gateway.adapters.kafka_tail import KafkaTailWaiter
from flowmatic_gateway.ports import ExecutionSignal, Outcome


def _outcome(envelope: Envelope) -> tuple[str, Outcome] | None:
    payload = envelope.payload
    if isinstance(payload, CommandAccepted | CommandRejected):
        return envelope.correlation_id, payload
    return None


def _execution_signal(envelope: Envelope) -> tuple[str, ExecutionSignal] | None:
    payload = envelope.payload
    if isinstance(payload, ResponseProduced | ExecutionSucceeded | ExecutionFailed | ExecutionCancelled):
        return envelope.aggregate_id, payload
    return None


class KafkaOutcomeListener(KafkaTailWaiter[Outcome]):
    """OutcomeWaiter over the outcomes topic: CommandAccepted/CommandRejected by correlation id."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        super().__init__(bootstrap_servers, topic, _outcome, client_id="flowmatic-gateway-outcomes")


class KafkaExecutionWatcher(KafkaTailWaiter[ExecutionSignal]):
    """ExecutionWatcher over the execution-events topic: a response, or the end of the execution."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        super().__init__(bootstrap_servers, topic, _execution_signal, client_id="flowmatic-gateway-executions")
