"""What deciding a command yields: the events to append and the outcome the waiting gateway receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flowmatic_contracts.envelope import Envelope, Payload, new_envelope
from flowmatic_contracts.events import CommandAccepted, CommandRejected, FieldError


class UnsupportedCommandError(ValueError):
    """A message on the commands topic that this orchestrator does not handle (logged and skipped)."""


@dataclass(frozen=True)
class DecisionContext:
    """Everything impure a decision needs, injected so `decide` stays a pure function."""

    now: datetime
    new_webhook_id: Callable[[], str]
    new_message_id: Callable[[], str]


@dataclass(frozen=True)
class Decision:
    """The events to append (in order) and the outcome for the command's correlation id."""

    outcome: Envelope
    events: tuple[Envelope, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return isinstance(self.outcome.payload, CommandAccepted)


def caused_by(command: Envelope, payload: Payload, context: DecisionContext, *, sequence: int = 0) -> Envelope:
    """An envelope caused by `command`: same aggregate, correlation and actor; causation is the command."""
    return new_envelope(
        payload,
        aggregate_id=command.aggregate_id,
        actor=command.actor,
        correlation_id=command.correlation_id,
        causation_id=command.id,
        sequence=sequence,
        occurred_at=context.now,
        message_id=context.new_message_id(),
    )


def accept(
    command: Envelope, events: list[Envelope], version: int, context: DecisionContext, mode: str | None = None
) -> Decision:
    """Accept a command: the events, and a `CommandAccepted` carrying the aggregate's version after them
    (and, for StartExecution, the command's `mode`)."""
    outcome = CommandAccepted(
        command_id=command.id,
        command_type=command.type,
        aggregate_id=command.aggregate_id,
        version=version,
        mode=mode,
    )
    return Decision(outcome=caused_by(command, outcome, context), events=tuple(events))


def reject(
    command: Envelope,
    status: int,
    title: str,
    detail: str,
    context: DecisionContext,
    errors: list[FieldError] | None = None,
    mode: str | None = None,
) -> Decision:
    """Refuse a command: no events, a `CommandRejected` whose status the gateway answers with (and, for
    StartExecution, the command's `mode`, so the audit log can tell a refused replay from a refused start)."""
    outcome = CommandRejected(
        command_id=command.id,
        command_type=command.type,
        aggregate_id=command.aggregate_id,
        status=status,
        title=title,
        detail=detail,
        errors=errors or [],
        mode=mode,
    )
    return Decision(outcome=caused_by(command, outcome, context))
