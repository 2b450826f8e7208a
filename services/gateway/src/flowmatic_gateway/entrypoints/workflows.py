"""POST/PUT/DELETE /api/v1/workflows: validate, command the orchestrator, wait, answer what the reads show."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from flowmatic_contracts import ids
from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow, UpdateWorkflow
from flowmatic_contracts.envelope import Actor, Payload, new_envelope
from flowmatic_contracts.events import CommandRejected
from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_gateway.domain.auth import WORKFLOWS_WRITE, Principal
from flowmatic_gateway.domain.preconditions import MalformedPreconditionError, expected_version
from flowmatic_gateway.domain.validation import ValidWorkflow, WorkflowInvalidError, secret_changes, validate_workflow
from flowmatic_gateway.entrypoints.bodies import read_json
from flowmatic_gateway.entrypoints.dependencies import AppSettings, CurrentPrincipal, Deps, GatewayDeps, require_scope
from flowmatic_gateway.entrypoints.dispatch import catch_up_reads, dispatch, rejection
from flowmatic_gateway.entrypoints.problems import ProblemError
from flowmatic_gateway.settings import Settings

router = APIRouter(tags=["workflows"], dependencies=[Depends(require_scope(WORKFLOWS_WRITE))])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": WorkflowSpec.model_json_schema(by_alias=True)}},
    }
}
IfMatch = Annotated[str | None, Header(alias="If-Match")]


def _version(if_match: str | None) -> int | None:
    try:
        return expected_version(if_match)
    except MalformedPreconditionError as error:
        raise ProblemError(400, detail=str(error)) from None


async def _valid_body(request: Request, deps: GatewayDeps) -> ValidWorkflow:
    document = await read_json(request)
    try:
        return validate_workflow(document, deps.catalog)
    except WorkflowInvalidError as error:
        raise ProblemError(422, "Invalid workflow", "the workflow is not valid", errors=error.errors) from None


async def _apply(
    deps: GatewayDeps, settings: Settings, principal: Principal, workflow_id: str, payload: Payload
) -> None:
    envelope = new_envelope(
        payload,
        aggregate_id=workflow_id,
        actor=Actor(kind="apiKey", id=principal.key_id),
        correlation_id=ids.new_id(ids.CORRELATION),
    )
    outcome = await dispatch(deps, envelope, settings.command_timeout_seconds)
    if isinstance(outcome, CommandRejected):
        raise rejection(outcome)
    await catch_up_reads(deps, settings.command_timeout_seconds)


async def _read_back(deps: GatewayDeps, workflow_id: str, status: int, headers: dict[str, str]) -> Response:
    found = await deps.query.get(f"/api/v1/workflows/{quote(workflow_id, safe='')}")
    if found.status != 200:
        return Response(found.body, status_code=found.status, media_type=found.content_type)
    return Response(found.body, status_code=status, media_type=found.content_type, headers=headers)


@router.post("/api/v1/workflows", status_code=201, openapi_extra=_BODY_DOC, summary="Create a workflow")
async def create_workflow(request: Request, deps: Deps, settings: AppSettings, principal: CurrentPrincipal) -> Response:
    valid = await _valid_body(request, deps)
    workflow_id = ids.new_id(ids.WORKFLOW)
    command = CreateWorkflow(spec=valid.spec, secrets=secret_changes(valid, deps.secrets.encrypt, creating=True))
    await _apply(deps, settings, principal, workflow_id, command)
    location = f"{settings.public_base}/api/v1/workflows/{workflow_id}"
    return await _read_back(deps, workflow_id, 201, {"Location": location})


@router.put("/api/v1/workflows/{workflow_id}", openapi_extra=_BODY_DOC, summary="Replace a workflow")
async def replace_workflow(
    workflow_id: str,
    request: Request,
    deps: Deps,
    settings: AppSettings,
    principal: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Response:
    version = _version(if_match)
    valid = await _valid_body(request, deps)
    command = UpdateWorkflow(
        spec=valid.spec,
        secrets=secret_changes(valid, deps.secrets.encrypt, creating=False),
        expected_version=version,
    )
    await _apply(deps, settings, principal, workflow_id, command)
    return await _read_back(deps, workflow_id, 200, {})


@router.delete("/api/v1/workflows/{workflow_id}", status_code=204, summary="Delete a workflow")
async def delete_workflow(
    workflow_id: str, deps: Deps, settings: AppSettings, principal: CurrentPrincipal, if_match: IfMatch = None
) -> Response:
    command = DeleteWorkflow(expected_version=_version(if_match))
    await _apply(deps, settings, principal, workflow_id, command)
    return Response(status_code=204)
