"""The workflow aggregate: `decide` turns a command into events and an outcome, `evolve` folds an event in."""

from __future__ import annotations

from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow, UpdateWorkflow
from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import WorkflowCreated, WorkflowDeleted, WorkflowUpdated
from flowmatic_orchestrator.domain.chain import LinkedEvent, link
from flowmatic_orchestrator.domain.decision import (
    Decision,
    DecisionContext,
    UnsupportedCommandError,
    accept,
    caused_by,
    reject,
)
from flowmatic_orchestrator.domain.state import WorkflowState
from flowmatic_orchestrator.domain.webhooks import plan_webhooks

WORKFLOW_COMMANDS = frozenset({"CreateWorkflow", "UpdateWorkflow", "DeleteWorkflow"})


def decide(state: WorkflowState | None, command: Envelope, context: DecisionContext) -> Decision:
    """Decide a workflow command against the workflow's current state (None when it never existed).

    Raises `UnsupportedCommandError` for any other message type.
    """
    payload = command.payload
    if isinstance(payload, CreateWorkflow):
        return _create(state, command, payload, context)
    if isinstance(payload, UpdateWorkflow):
        return _update(state, command, payload, context)
    if isinstance(payload, DeleteWorkflow):
        return _delete(state, command, payload, context)
    raise UnsupportedCommandError(f"{command.type} is not a workflow command")


def evolve(state: WorkflowState | None, event: Envelope) -> WorkflowState:
    """The workflow's state after `event`. Raises ValueError for an event that does not follow `state`."""
    payload = event.payload
    expected = 1 if state is None else state.version + 1
    if event.sequence != expected:
        raise ValueError(f"event {event.id} has sequence {event.sequence}, expected {expected}")
    if isinstance(payload, WorkflowCreated):
        if state is not None:
            raise ValueError(f"workflow {event.aggregate_id} created twice")
        return WorkflowState(
            workflow_id=event.aggregate_id,
            version=event.sequence,
            spec=payload.spec,
            webhooks=payload.webhooks,
            encrypted_secrets=payload.encrypted_secrets,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    if state is None:
        raise ValueError(f"{event.type} for workflow {event.aggregate_id}, which does not exist")
    if isinstance(payload, WorkflowUpdated):
        return state.model_copy(
            update={
                "version": event.sequence,
                "spec": payload.spec,
                "webhooks": payload.webhooks,
                "encrypted_secrets": payload.encrypted_secrets,
                "updated_at": event.occurred_at,
            }
        )
    if isinstance(payload, WorkflowDeleted):
        return state.model_copy(update={"version": event.sequence, "deleted": True, "updated_at": event.occurred_at})
    raise ValueError(f"{event.type} is not a workflow event")


def append(state: WorkflowState | None, event: Envelope) -> tuple[WorkflowState, LinkedEvent]:
    """Chain `event` to the workflow's previous event, encode it, and fold it in: the state after it (which
    remembers the new event's hash) and the linked event whose `raw` bytes are what is written."""
    linked = link(event, state.last_event_hash if state is not None else None)
    return evolve(state, linked.envelope).model_copy(update={"last_event_hash": linked.hash}), linked


def _create(state: WorkflowState | None, command: Envelope, payload: CreateWorkflow, ctx: DecisionContext) -> Decision:
    if state is not None:
        # A deleted workflow still counts: its id, and its history, are never reused.
        return reject(command, 409, "Conflict", f"workflow {command.aggregate_id} already exists", ctx)
    plan = plan_webhooks(payload.spec, payload.secrets, None, ctx.new_webhook_id)
    if plan.errors:
        return reject(command, 422, "Unprocessable Content", "the workflow is invalid", ctx, plan.errors)
    event = WorkflowCreated(spec=payload.spec, webhooks=plan.webhooks, encrypted_secrets=plan.encrypted_secrets)
    return accept(command, [caused_by(command, event, ctx, sequence=1)], 1, ctx)


def _update(state: WorkflowState | None, command: Envelope, payload: UpdateWorkflow, ctx: DecisionContext) -> Decision:
    if state is None or state.deleted:
        return _not_found(command, ctx)
    if payload.expected_version is not None and payload.expected_version != state.version:
        return _stale(command, payload.expected_version, state, ctx)
    plan = plan_webhooks(payload.spec, payload.secrets, state, ctx.new_webhook_id)
    if plan.errors:
        return reject(command, 422, "Unprocessable Content", "the workflow is invalid", ctx, plan.errors)
    version = state.version + 1
    event = WorkflowUpdated(spec=payload.spec, webhooks=plan.webhooks, encrypted_secrets=plan.encrypted_secrets)
    return accept(command, [caused_by(command, event, ctx, sequence=version)], version, ctx)


def _delete(state: WorkflowState | None, command: Envelope, payload: DeleteWorkflow, ctx: DecisionContext) -> Decision:
    if state is None or state.deleted:
        return _not_found(command, ctx)
    if payload.expected_version is not None and payload.expected_version != state.version:
        return _stale(command, payload.expected_version, state, ctx)
    version = state.version + 1
    event = WorkflowDeleted(webhook_ids=[w.webhook_id for w in state.webhooks])
    return accept(command, [caused_by(command, event, ctx, sequence=version)], version, ctx)


def _not_found(command: Envelope, ctx: DecisionContext) -> Decision:
    return reject(command, 404, "Not Found", f"workflow {command.aggregate_id} does not exist", ctx)


def _stale(command: Envelope, expected: int, state: WorkflowState, ctx: DecisionContext) -> Decision:
    detail = f"workflow {command.aggregate_id} is at version {state.version}, not {expected}"
    return reject(command, 412, "Precondition Failed", detail, ctx)
