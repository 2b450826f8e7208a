"""POST /api/v1/workflows/{id}/execute: start a manual execution of a workflow's current version."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse

from flowmatic_contracts import ids
from flowmatic_contracts.commands import StartExecution
from flowmatic_contracts.envelope import Actor, new_envelope
from flowmatic_contracts.events import CommandRejected, FieldError
from flowmatic_gateway.domain.auth import EXECUTIONS_WRITE
from flowmatic_gateway.domain.json_body import MalformedJsonError, parse_json
from flowmatic_gateway.domain.routing import WorkflowEntry
from flowmatic_gateway.domain.triggers import TriggerChoiceError, choose_trigger
from flowmatic_gateway.entrypoints.bodies import MANAGEMENT_BODY_LIMIT, read_body
from flowmatic_gateway.entrypoints.dependencies import AppSettings, CurrentPrincipal, Deps, GatewayDeps, require_scope
from flowmatic_gateway.entrypoints.dispatch import catch_up_reads, dispatch, rejection
from flowmatic_gateway.entrypoints.problems import ProblemError

router = APIRouter(tags=["executions"], dependencies=[Depends(require_scope(EXECUTIONS_WRITE))])
_BODY_DOC: dict[str, Any] = {
    "requestBody": {"required": False, "content": {"application/json": {"schema": {"description": "the input"}}}}
}


async def _workflow(deps: GatewayDeps, workflow_id: str, timeout_seconds: float) -> WorkflowEntry:
    entry = deps.webhooks.workflow(workflow_id)
    if entry is None:
        # Created a moment ago, maybe through another gateway: read the log to its end before saying 404.
        try:
            await asyncio.wait_for(deps.webhooks.sync(), timeout=timeout_seconds)
        except (TimeoutError, RuntimeError):
            raise ProblemError(503, "Workflows unavailable", "try again shortly") from None
        entry = deps.webhooks.workflow(workflow_id)
    if entry is None:
        raise ProblemError(404, detail=f"no workflow {workflow_id!r}")
    return entry


async def _input(request: Request) -> Any:
    raw = await read_body(request, MANAGEMENT_BODY_LIMIT)
    if not raw.strip():
        return {}
    try:
        return parse_json(raw)
    except MalformedJsonError as error:
        raise ProblemError(400, detail=str(error)) from None


@router.post(
    "/api/v1/workflows/{workflow_id}/execute",
    status_code=202,
    summary="Run a workflow now",
    openapi_extra=_BODY_DOC,
)
async def execute_workflow(
    workflow_id: str,
    request: Request,
    deps: Deps,
    settings: AppSettings,
    principal: CurrentPrincipal,
    trigger_id: Annotated[str | None, Query(alias="triggerId")] = None,
) -> JSONResponse:
    """202 once the orchestrator has started the execution; the optional JSON body is its input."""
    execution_input = await _input(request)
    entry = await _workflow(deps, workflow_id, settings.command_timeout_seconds)
    try:
        trigger = choose_trigger(entry.spec, trigger_id, deps.catalog.is_trigger)
    except TriggerChoiceError as error:
        raise ProblemError(422, detail=str(error), errors=[FieldError(path="triggerId", message=str(error))]) from None
    execution_id = ids.new_id(ids.EXECUTION)
    command = StartExecution(
        workflow_id=workflow_id,
        workflow_version=entry.version,
        spec=entry.spec,
        trigger_id=trigger,
        input=execution_input,
    )
    envelope = new_envelope(
        command,
        aggregate_id=execution_id,
        actor=Actor(kind="apiKey", id=principal.key_id),
        correlation_id=ids.new_id(ids.CORRELATION),
    )
    outcome = await dispatch(deps, envelope, settings.command_timeout_seconds)
    if isinstance(outcome, CommandRejected):
        raise rejection(outcome)
    await catch_up_reads(deps, settings.command_timeout_seconds)
    return JSONResponse(
        {"executionId": execution_id, "workflowId": workflow_id, "status": "RUNNING"},
        status_code=202,
        headers={"Location": f"{settings.public_base}/api/v1/executions/{execution_id}"},
    )
