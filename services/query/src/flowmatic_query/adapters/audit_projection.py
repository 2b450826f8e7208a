"""Where a command outcome or a webhook delivery becomes an `audit` row (called from `projections.apply_record`).

A StartExecution outcome names its command's mode, so its action is known from the outcome alone. An accepted one
written before outcomes carried the mode does not say whether the execution is a replay; `ExecutionStarted` does.
The two are on different topics, so either may be projected first: such an outcome looks at the execution's row,
and `ExecutionStarted` (mode replay) renames the action of an accepted outcome already there. Both orders give the
same row. Rejected outcomes are never renamed: the execution holding their id says nothing about them.
"""

from __future__ import annotations

from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import ExecutionStarted
from flowmatic_query.adapters.batch_writes import BatchWrites
from flowmatic_query.domain.audit import EXECUTION_REPLAY, EXECUTION_START, audit_entry


async def project_audit(batch: BatchWrites, envelope: Envelope) -> None:
    """Insert the envelope's audit entry, if it makes one; mark replays when their ExecutionStarted arrives.

    The insert may wait for the end of the batch (`BatchWrites`): whether a mode-less StartExecution outcome is a
    replay's is then looked up once the batch's ExecutionStarted events are applied, which is the same answer,
    because the two orders already agree (see above)."""
    payload = envelope.payload
    if isinstance(payload, ExecutionStarted):
        if payload.mode == "replay":
            await batch.connection.execute(
                "UPDATE audit SET action = $2 WHERE aggregate_id = $1 AND action = $3 AND outcome = 'accepted'",
                envelope.aggregate_id,
                EXECUTION_REPLAY,
                EXECUTION_START,
            )
        return
    entry = audit_entry(envelope)
    if entry is None:
        return
    # The same message id twice is the same fact (a producer retry): keep the first. A mode-less accepted
    # StartExecution outcome is a replay's when its execution's row says so (looked up in the same statement).
    await batch.insert(
        _INSERT_AUDIT,
        (
            entry.event_id,
            entry.occurred_at,
            entry.actor["kind"],
            entry.actor["id"],
            entry.action,
            entry.aggregate_id,
            entry.outcome,
            entry.reason,
            entry.may_be_replay,
            EXECUTION_REPLAY,
        ),
    )


_INSERT_AUDIT = (
    "INSERT INTO audit (event_id, occurred_at, actor_kind, actor_id, action, aggregate_id, outcome, reason)"
    " VALUES ($1, $2, $3, $4, CASE WHEN $9::boolean AND EXISTS"
    " (SELECT 1 FROM executions WHERE id = $6 AND mode = 'replay') THEN $10::text ELSE $5::text END,"
    " $6, $7, $8) ON CONFLICT (event_id) DO NOTHING"
)
