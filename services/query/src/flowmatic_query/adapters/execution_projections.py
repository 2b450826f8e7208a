"""Where an execution event becomes a row: `executions` and `steps` (called from `projections.apply_record`).

WebhookReceived (topic `webhooks`) and ExecutionStarted (topic `execution-events`) describe the same execution
from two topics, so the projector may see them in either order: both are upserts that commute. WebhookReceived
only ever inserts a provisional RUNNING row (so a GET right after the webhook's answer finds it) and never
overwrites what ExecutionStarted wrote; ExecutionStarted's fields win whatever the order; `started_at` is the
earlier of the two times. Every other execution event follows ExecutionStarted in its partition, so it finds
the row; one that does not (or repeats an applied sequence) raises and is recorded in `projection_errors`.

Values (input, output, errors) are bound as Python values and stored as `json` (see migration 0002).

Round trips are what a projection costs (a rebuild issues one per statement): each event is one statement where
the data allows, its checks folded in (the sequence claim with the step or the finish it allows, the owner with
the execution row). A step event takes its node's type from the execution's `node_types`; `NodeTypes` remembers
them for the length of a batch transaction, so only the first step event of an execution in a batch reads them.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flowmatic_contracts.envelope import Envelope, WireModel
from flowmatic_contracts.events import (
    ExecutionCancelled,
    ExecutionFailed,
    ExecutionStarted,
    ExecutionSucceeded,
    ResponseProduced,
    StepFailed,
    StepScheduled,
    StepSkipped,
    StepSucceeded,
    WebhookReceived,
)
from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_query.adapters.postgres import Connection

EXECUTION_EVENTS = (
    ExecutionStarted,
    StepScheduled,
    StepSucceeded,
    StepFailed,
    StepSkipped,
    ExecutionSucceeded,
    ExecutionFailed,
    ExecutionCancelled,
    ResponseProduced,
)


class ExecutionEventRefusedError(ValueError):
    """An execution event that cannot be applied: its execution is unknown, or its sequence was applied."""


class NodeTypes:
    """Each execution's `{nodeId: type}` as the current transaction last wrote or read it.

    Only facts of this transaction: what ExecutionStarted just wrote, or what a claim just read. Whatever may
    change the row otherwise (a WebhookReceived, which may or may not have inserted it; the retention sweep or
    restore; a savepoint rolled back) makes it forget."""

    def __init__(self) -> None:
        self._known: dict[str, dict[str, str]] = {}

    def of(self, execution_id: str) -> dict[str, str] | None:
        return self._known.get(execution_id)

    def remember(self, execution_id: str, node_types: dict[str, str]) -> None:
        self._known[execution_id] = node_types

    def forget(self, execution_id: str | None = None) -> None:
        """Forget one execution's types, or (None) every execution's."""
        if execution_id is None:
            self._known.clear()
        else:
            self._known.pop(execution_id, None)


async def project_execution_event(
    connection: Connection, envelope: Envelope, node_types: NodeTypes | None = None
) -> bool:
    """Project `envelope` into executions/steps when it is an execution event; False when it is not one.

    `node_types` carries the node types known in this transaction from one event to the next (None: none)."""
    known = node_types if node_types is not None else NodeTypes()
    payload = envelope.payload
    if isinstance(payload, WebhookReceived):
        known.forget(envelope.aggregate_id)  # it inserts the row's types only if there was no row
        await _webhook_received(connection, envelope, payload)
        return True
    if isinstance(payload, ExecutionStarted):
        known.forget(envelope.aggregate_id)
        await _execution_started(connection, envelope, payload)
        known.remember(envelope.aggregate_id, _node_types(payload.spec))
        return True
    if not isinstance(payload, EXECUTION_EVENTS):
        return False
    if isinstance(payload, StepScheduled | StepSucceeded | StepFailed | StepSkipped):
        await _step_changed(connection, envelope, payload, known)
    elif isinstance(payload, ExecutionSucceeded):
        await _execution_finished(connection, envelope, "SUCCEEDED", output=payload.output, error=None)
    elif isinstance(payload, ExecutionFailed):
        await _execution_finished(connection, envelope, "FAILED", output=None, error=_jsonable(payload.error))
    elif isinstance(payload, ExecutionCancelled):
        error = {"nodeId": None, "message": payload.reason}
        await _execution_finished(connection, envelope, "CANCELLED", output=None, error=error)
    else:
        # ResponseProduced only answers a waiting webhook; its record is the `events` row.
        claimed = await connection.fetchval(f"UPDATE executions SET {_CLAIM} RETURNING true", *_claim_args(envelope))
        if not claimed:
            await _refuse(connection, envelope)
    return True


def _jsonable(model: WireModel) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def _node_types(spec: WorkflowSpec) -> dict[str, str]:
    return {node.id: node.type for node in spec.nodes}


# Which workflow an execution belongs to outlives its row (retention restores by it): written with the row.
_OWNER = (
    "WITH owner AS (INSERT INTO execution_owners (execution_id, workflow_id) VALUES ($1, $2) ON CONFLICT DO NOTHING)"
)


async def _webhook_received(connection: Connection, envelope: Envelope, payload: WebhookReceived) -> None:
    # On conflict only the start time may move (to the earlier one): ExecutionStarted's fields are kept.
    await connection.execute(
        f"{_OWNER} INSERT INTO executions (id, workflow_id, workflow_version, status, mode, trigger_id, input,"
        " started_at, node_types) VALUES ($1, $2, $3, 'RUNNING', 'webhook', $4, $5, $6, $7)"
        " ON CONFLICT (id) DO UPDATE SET started_at = LEAST(executions.started_at, EXCLUDED.started_at)",
        envelope.aggregate_id,
        payload.workflow_id,
        payload.workflow_version,
        payload.trigger_id,
        payload.payload,
        envelope.occurred_at,
        _node_types(payload.spec),
    )


async def _execution_started(connection: Connection, envelope: Envelope, payload: ExecutionStarted) -> None:
    inserted_or_claimed = await connection.fetchval(
        f"{_OWNER} INSERT INTO executions (id, workflow_id, workflow_version, status, mode, trigger_id, replay_of,"
        " input, started_at, node_types, started, last_sequence)"
        " VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7, $8, $9, true, $10)"
        " ON CONFLICT (id) DO UPDATE SET workflow_id = EXCLUDED.workflow_id,"
        " workflow_version = EXCLUDED.workflow_version, mode = EXCLUDED.mode, trigger_id = EXCLUDED.trigger_id,"
        " replay_of = EXCLUDED.replay_of, input = EXCLUDED.input, node_types = EXCLUDED.node_types,"
        " started_at = LEAST(executions.started_at, EXCLUDED.started_at), started = true,"
        " last_sequence = EXCLUDED.last_sequence"
        " WHERE NOT executions.started"
        " RETURNING true",
        envelope.aggregate_id,
        payload.workflow_id,
        payload.workflow_version,
        payload.mode,
        payload.trigger_id,
        payload.replay_of,
        payload.input,
        envelope.occurred_at,
        _node_types(payload.spec),
        envelope.sequence,
    )
    if not inserted_or_claimed:
        raise ExecutionEventRefusedError(f"execution {envelope.aggregate_id} was already started")


# Records the event's sequence as the execution's last applied one, only if it is after it: an unknown execution or
# a sequence at or below the last applied (a duplicate) claims nothing, so an event is never applied twice.
# Sequence 0 means "not numbered" and is not checked. $1 execution id, $2 sequence.
_CLAIM = "last_sequence = GREATEST(last_sequence, $2) WHERE id = $1 AND ($2 = 0 OR last_sequence < $2)"


def _claim_args(envelope: Envelope) -> tuple[str, int]:
    return envelope.aggregate_id, envelope.sequence


async def _claim_sequence(connection: Connection, envelope: Envelope) -> dict[str, str]:
    """Claim the event's sequence (see `_CLAIM`) and return the execution's node types; refuses what it cannot."""
    row = await connection.fetchrow(f"UPDATE executions SET {_CLAIM} RETURNING node_types", *_claim_args(envelope))
    if row is None:
        await _refuse(connection, envelope)
    node_types: dict[str, str] = row["node_types"]
    return node_types


async def _refuse(connection: Connection, envelope: Envelope) -> NoReturn:
    """Raise why the event claimed nothing: its execution is unknown, or its sequence was applied."""
    known = await connection.fetchval("SELECT last_sequence FROM executions WHERE id = $1", envelope.aggregate_id)
    if known is None:
        raise ExecutionEventRefusedError(f"{envelope.type} for unknown execution {envelope.aggregate_id}")
    raise ExecutionEventRefusedError(
        f"{envelope.type} #{envelope.sequence} of {envelope.aggregate_id} repeats an applied sequence (last {known})"
    )


async def _step_changed(
    connection: Connection,
    envelope: Envelope,
    payload: StepScheduled | StepSucceeded | StepFailed | StepSkipped,
    known: NodeTypes,
) -> None:
    """Claim the sequence and upsert the node's row to its latest state. A new row takes the next position and,
    unless the event names it, its type from the execution's definition; `started_at` is set once, by the first
    event. One statement when the type is known without reading the row; else the claim reads it first."""
    at = envelope.occurred_at
    node_type: str | None = None
    attempt: int
    started_at: Any = at
    finished_at: Any = None
    output: Any = None
    error: Any = None
    if isinstance(payload, StepScheduled):
        node_type = payload.node_type
        status = "SCHEDULED" if payload.not_before is not None else "RUNNING"
        attempt = payload.attempt
    elif isinstance(payload, StepSucceeded):
        status, attempt, finished_at, output = "SUCCEEDED", payload.attempt, at, payload.output
    elif isinstance(payload, StepFailed):
        status, attempt, finished_at = "FAILED", payload.attempt, at
        error = {"message": payload.error.message}
    else:
        # Skipped: never attempted, never started; finishedAt records when it was decided.
        status, attempt, started_at, finished_at = "SKIPPED", 0, None, at
    claim = f"UPDATE executions SET {_CLAIM} RETURNING true"
    if node_type is None:
        types = known.of(envelope.aggregate_id)
        if types is None:
            # The type comes from the row: claim first (reading it), then write the step on its own.
            types = await _claim_sequence(connection, envelope)
            known.remember(envelope.aggregate_id, types)
            claim = "SELECT $1::text, $2::bigint"  # already claimed (the parameters stay those of the claim)
        node_type = types.get(payload.node_id, "unknown")
    # The claim and the upsert in one statement: the step is written only if the sequence was claimed.
    written = await connection.fetchval(
        f"WITH claimed AS ({claim})"
        " INSERT INTO steps AS s (execution_id, node_id, position, type, status, attempt, started_at, finished_at,"
        " output, error)"
        " SELECT $1, $3, (SELECT coalesce(max(position), 0) + 1 FROM steps WHERE execution_id = $1),"
        " $4, $5, $6, $7, $8, $9, $10 FROM claimed"
        " ON CONFLICT (execution_id, node_id) DO UPDATE SET type = EXCLUDED.type, status = EXCLUDED.status,"
        " attempt = EXCLUDED.attempt, started_at = coalesce(s.started_at, EXCLUDED.started_at),"
        " finished_at = EXCLUDED.finished_at, output = EXCLUDED.output, error = EXCLUDED.error"
        " RETURNING true",
        *_claim_args(envelope),
        payload.node_id,
        node_type,
        status,
        attempt,
        started_at,
        finished_at,
        output,
        error,
    )
    if not written:
        await _refuse(connection, envelope)


async def _execution_finished(
    connection: Connection, envelope: Envelope, status: str, *, output: Any, error: Any
) -> None:
    finished = await connection.fetchval(
        f"UPDATE executions SET status = $3, output = $4, error = $5, finished_at = $6, {_CLAIM} RETURNING true",
        *_claim_args(envelope),
        status,
        output,
        error,
        envelope.occurred_at,
    )
    if not finished:
        await _refuse(connection, envelope)
