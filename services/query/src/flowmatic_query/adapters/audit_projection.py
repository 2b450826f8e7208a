"""Where a command outcome or a webhook delivery becomes an `audit` row (called from `projections.apply_record`).

A StartExecution outcome does not say whether the execution is a replay; `ExecutionStarted` does. The two are on
different topics, so either may be projected first: the outcome looks at the execution's row, and
`ExecutionStarted` (mode replay) renames the action of an outcome already there. Both orders give the same row.
"""

from __future__ import annotations

from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import ExecutionStarted
from flowmatic_query.adapters.postgres import Connection
from flowmatic_query.domain.audit import EXECUTION_REPLAY, EXECUTION_START, audit_entry


async def project_audit(connection: Connection, envelope: Envelope) -> None:
    """Insert the envelope's audit entry, if it makes one; mark replays when their ExecutionStarted arrives."""
    payload = envelope.payload
    if isinstance(payload, ExecutionStarted):
        if payload.mode == "replay":
            await connection.execute(
                "UPDATE audit SET action = $2 WHERE aggregate_id = $1 AND action = $3",
                envelope.aggregate_id,
                EXECUTION_REPLAY,
                EXECUTION_START,
            )
        return
    entry = audit_entry(envelope)
    if entry is None:
        return
    action = entry.action
    if action == EXECUTION_START:
        mode = await connection.fetchval("SELECT mode FROM executions WHERE id = $1", entry.aggregate_id)
        if mode == "replay":
            action = EXECUTION_REPLAY
    # The same message id twice is the same fact (a producer retry): keep the first.
    await connection.execute(
        "INSERT INTO audit (event_id, occurred_at, actor_kind, actor_id, action, aggregate_id, outcome, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
        entry.event_id,
        entry.occurred_at,
        entry.actor["kind"],
        entry.actor["id"],
        action,
        entry.aggregate_id,
        entry.outcome,
        entry.reason,
    )
