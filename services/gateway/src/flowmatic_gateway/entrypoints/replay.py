"""POST /api/v1/executions/{id}/replay and POST /api/v1/executions/replay: run recorded executions again.

The original is read from the query service (its event history, which retention never removes), the replay is
planned by `domain.replay` and started with a `StartExecution(mode="replay")` like `/execute` does: wait for the
orchestrator's outcome, make the read side catch up, answer 202. The original and its history are untouched.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from flowmatic_contracts import ids
from flowmatic_contracts.envelope import Actor, new_envelope
from flowmatic_contracts.events import CommandRejected, FieldError
from flowmatic_gateway.domain.auth import EXECUTIONS_WRITE, Principal
from flowmatic_gateway.domain.json_body import MalformedJsonError, parse_json
from flowmatic_gateway.domain.replay import (
    MAX_BULK_REPLAY,
    BulkReplayRequest,
    LatestWorkflow,
    OriginalExecution,
    ReplayError,
    ReplayRequest,
    RequestModel,
    original_from_events,
    parse_request,
    plan_replay,
)
from flowmatic_gateway.entrypoints.bodies import MANAGEMENT_BODY_LIMIT, read_body
from flowmatic_gateway.entrypoints.dependencies import AppSettings, CurrentPrincipal, Deps, GatewayDeps, require_scope
from flowmatic_gateway.entrypoints.dispatch import catch_up_reads, dispatch, rejection
from flowmatic_gateway.entrypoints.problems import ProblemError
from flowmatic_gateway.settings import Settings

router = APIRouter(tags=["executions"], dependencies=[Depends(require_scope(EXECUTIONS_WRITE))])

# Replays of one bulk call started side by side (each waits for its own outcome).
BULK_CONCURRENCY = 16
# Executions asked of the query service per page while selecting a bulk replay's originals.
LIST_PAGE_SIZE = 200

_ONE_DOC: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "workflowVersion": {"enum": ["original", "latest"], "default": "original"},
                        "fromNode": {"type": "string"},
                    },
                }
            }
        },
    }
}
_BULK_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["workflowId"],
                    "properties": {
                        "workflowId": {"type": "string"},
                        "status": {"enum": ["SUCCEEDED", "FAILED", "CANCELLED"]},
                        "since": {"type": "string", "format": "date-time"},
                        "until": {"type": "string", "format": "date-time"},
                        "workflowVersion": {"enum": ["original", "latest"], "default": "original"},
                        "dryRun": {"type": "boolean", "default": False},
                    },
                }
            }
        },
    }
}


@router.post(
    "/api/v1/executions/replay",
    summary="Replay every finished execution of a workflow matching a filter",
    description=f"At most {MAX_BULK_REPLAY} executions per call (422 above). With `dryRun`, 200 and the ids of the"
    " originals that would be replayed; else 202 and the ids of the new executions.",
    openapi_extra=_BULK_DOC,
)
async def replay_many(request: Request, deps: Deps, settings: AppSettings, principal: CurrentPrincipal) -> JSONResponse:
    bulk = _parsed(BulkReplayRequest, await _body(request, required=True))
    await _sync_reads(deps, settings)
    originals = await _matching(deps, bulk)
    if bulk.dry_run:
        return JSONResponse({"count": len(originals), "executionIds": originals})
    latest = await _latest(deps, settings, bulk.workflow_id) if bulk.workflow_version == "latest" else None
    if bulk.workflow_version == "latest" and latest is None and originals:
        raise ProblemError(409, detail=f'workflow {bulk.workflow_id} has been deleted; replay on "original" instead')
    plan = ReplayRequest(workflow_version=bulk.workflow_version)
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def replay(original_id: str) -> str | dict[str, Any]:
        async with gate:
            try:
                original = await _original(deps, original_id)
                return await _start(deps, settings, principal, original, plan, latest)
            except (ProblemError, ReplayError) as error:
                # Reported per execution, so the replays already started are not hidden behind one failure.
                return {"executionId": original_id, "status": error.status, "detail": error.detail}

    results = await asyncio.gather(*(replay(original_id) for original_id in originals))
    started = [result for result in results if isinstance(result, str)]
    failed = [result for result in results if not isinstance(result, str)]
    if started:
        await catch_up_reads(deps, settings.command_timeout_seconds)
    body: dict[str, Any] = {"count": len(started), "executionIds": started}
    if failed:
        body["failed"] = failed
    return JSONResponse(body, status_code=202)


@router.post(
    "/api/v1/executions/{execution_id}/replay",
    status_code=202,
    summary="Replay an execution, optionally from a node",
    openapi_extra=_ONE_DOC,
)
async def replay_one(
    execution_id: str, request: Request, deps: Deps, settings: AppSettings, principal: CurrentPrincipal
) -> JSONResponse:
    """202 once the orchestrator has started the replay: a new execution with `mode: "replay"` and `replayOf`."""
    asked = _parsed(ReplayRequest, await _body(request, required=False))
    await _sync_reads(deps, settings)
    original = await _original(deps, execution_id)
    latest = await _latest(deps, settings, original.workflow_id) if asked.workflow_version == "latest" else None
    try:
        new_id = await _start(deps, settings, principal, original, asked, latest)
    except ReplayError as error:
        raise _problem(error) from None
    await catch_up_reads(deps, settings.command_timeout_seconds)
    return JSONResponse(
        {"executionId": new_id, "replayOf": execution_id, "status": "RUNNING"},
        status_code=202,
        headers={"Location": f"{settings.public_base}/api/v1/executions/{new_id}"},
    )


# ---- steps ------------------------------------------------------------------------------------------------------


async def _body(request: Request, *, required: bool) -> Any:
    raw = await read_body(request, MANAGEMENT_BODY_LIMIT)
    if not raw.strip():
        if required:
            raise ProblemError(400, detail="the request needs a JSON body")
        return {}
    try:
        return parse_json(raw)
    except MalformedJsonError as error:
        raise ProblemError(400, detail=str(error)) from None


def _parsed(model: type[RequestModel], body: Any) -> RequestModel:
    try:
        return parse_request(model, body)
    except ReplayError as error:
        raise _problem(error) from None


def _problem(error: ReplayError) -> ProblemError:
    return ProblemError(error.status, detail=error.detail, errors=error.errors)


async def _sync_reads(deps: GatewayDeps, settings: Settings) -> None:
    """Make the query service include everything acknowledged so far, so an execution that ended a moment ago
    is not taken for a running one (or an unknown one)."""
    try:
        await asyncio.wait_for(deps.query.sync(), timeout=settings.command_timeout_seconds)
    except TimeoutError:
        raise ProblemError(
            503, "Query service unavailable", "try again shortly", headers={"Retry-After": "1"}
        ) from None


async def _original(deps: GatewayDeps, execution_id: str) -> OriginalExecution:
    """The recorded execution, from its full event history (following `nextCursor` should it be paginated)."""
    path = f"/api/v1/executions/{quote(execution_id, safe='')}/events"
    events: list[Any] = []
    cursor: str | None = None
    while True:
        found = await deps.query.get(path, urlencode({"cursor": cursor}) if cursor else "")
        if found.status == 404:
            raise ProblemError(404, detail=f"no execution {execution_id!r}")
        if found.status != 200:
            raise ProblemError(503, "Query service unavailable", f"reading execution {execution_id} failed")
        page = orjson.loads(found.body)
        events.extend(page.get("data") or [])
        cursor = page.get("nextCursor")
        if not cursor:
            break
    try:
        return original_from_events(execution_id, events)
    except (ValueError, KeyError, TypeError):
        raise ProblemError(404, detail=f"execution {execution_id!r} has no recorded start") from None


async def _latest(deps: GatewayDeps, settings: Settings, workflow_id: str) -> LatestWorkflow | None:
    """The workflow's current definition from the routing table, after reading the log to its end (None once
    deleted)."""
    try:
        await asyncio.wait_for(deps.webhooks.sync(), timeout=settings.command_timeout_seconds)
    except (TimeoutError, RuntimeError):
        raise ProblemError(503, "Workflows unavailable", "try again shortly", headers={"Retry-After": "1"}) from None
    entry = deps.webhooks.workflow(workflow_id)
    return None if entry is None else LatestWorkflow(version=entry.version, spec=entry.spec)


async def _start(
    deps: GatewayDeps,
    settings: Settings,
    principal: Principal,
    original: OriginalExecution,
    asked: ReplayRequest,
    latest: LatestWorkflow | None,
) -> str:
    """Plan and start one replay; returns the new execution's id once the orchestrator accepted it."""
    command = plan_replay(original, asked, latest, deps.catalog.is_trigger)
    execution_id = ids.new_id(ids.EXECUTION)
    envelope = new_envelope(
        command,
        aggregate_id=execution_id,
        actor=Actor(kind="apiKey", id=principal.key_id),
        correlation_id=ids.new_id(ids.CORRELATION),
    )
    outcome = await dispatch(deps, envelope, settings.command_timeout_seconds)
    if isinstance(outcome, CommandRejected):
        raise rejection(outcome)
    return execution_id


async def _matching(deps: GatewayDeps, bulk: BulkReplayRequest) -> list[str]:
    """The ids of the finished executions the filter selects, paging through the list; 422 above the bound."""
    originals: list[str] = []
    cursor: str | None = None
    while True:
        params = {**bulk.list_filters(), "limit": str(LIST_PAGE_SIZE), **({"cursor": cursor} if cursor else {})}
        found = await deps.query.get("/api/v1/executions", urlencode(params))
        if found.status in (400, 422):
            # The query service refused a filter (a malformed `since`, ...): a field of this body, so a 422.
            refused = orjson.loads(found.body)
            errors = [FieldError(path=e["path"], message=e["message"]) for e in refused.get("errors") or []]
            raise ProblemError(422, detail=refused.get("detail"), errors=errors or None)
        if found.status != 200:
            raise ProblemError(503, "Query service unavailable", "listing executions failed")
        page = orjson.loads(found.body)
        originals.extend(item["id"] for item in page.get("data") or [] if item.get("status") != "RUNNING")
        if len(originals) > MAX_BULK_REPLAY:
            message = f"more than {MAX_BULK_REPLAY} executions match; narrow the filter (status, since, until)"
            raise ProblemError(422, detail=message, errors=[FieldError(path="", message=message)])
        cursor = page.get("nextCursor")
        if not cursor:
            return originals
