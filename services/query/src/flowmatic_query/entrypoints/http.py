"""The HTTP app: the GET endpoints the gateway forwards, the sync barrier, and health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowmatic_query.domain.audit import audit_next_cursor, parse_audit_query, render_audit_entry
from flowmatic_query.domain.chain import ChainVerifier
from flowmatic_query.domain.executions import ExecutionRecord, render_execution, render_execution_summary
from flowmatic_query.domain.history import (
    parse_version,
    parse_version_page,
    render_event,
    render_version,
    version_cursor,
)
from flowmatic_query.domain.listing import (
    InvalidQueryError,
    cut_page,
    parse_execution_filter,
    parse_page_request,
    parse_workflow_filter,
)
from flowmatic_query.domain.workflows import with_webhook_urls
from flowmatic_query.entrypoints.problems import json_response, problem
from flowmatic_query.entrypoints.sync_barrier import ProjectorNotReadyError
from flowmatic_query.ports import History, Readiness, ReadModel, ReadModelUnavailableError, SyncBarrier

log = logging.getLogger(__name__)

MAX_SYNC_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class AppDependencies:
    """Everything the routes use, injected by the composition root (or by tests, as fakes)."""

    read_model: ReadModel
    history: History
    sync_barrier: SyncBarrier
    projector: Readiness
    public_url: str
    sync_timeout_seconds: float = 10.0


def _dependencies(request: Request) -> AppDependencies:
    deps: AppDependencies = request.app.state.dependencies
    return deps


Deps = Annotated[AppDependencies, Depends(_dependencies)]


def create_app(dependencies: AppDependencies) -> FastAPI:
    """The query service's ASGI app over the given ports."""
    app = FastAPI(title="Flowmatic query", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.dependencies = dependencies
    _install_error_handlers(app)
    _add_workflow_routes(app)
    _add_execution_routes(app)
    _add_history_routes(app)
    _add_audit_routes(app)
    _add_operational_routes(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(_: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        return problem(status, str(getattr(exc, "detail", "")) or "request failed")

    async def validation_error(_: Request, exc: Exception) -> Response:
        return problem(400, "the request is malformed")

    async def invalid_query(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidQueryError)
        return problem(400, exc.message, errors=[{"path": exc.parameter, "message": exc.message}])

    async def unavailable(_: Request, exc: Exception) -> Response:
        log.warning("read model unavailable: %s", exc)
        return problem(503, "the database is unavailable, try again")

    async def unexpected(_: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return problem(500, "an unexpected error occurred")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(InvalidQueryError, invalid_query)
    app.add_exception_handler(ReadModelUnavailableError, unavailable)
    app.add_exception_handler(Exception, unexpected)


def _add_workflow_routes(app: FastAPI) -> None:
    @app.get("/api/v1/workflows")
    async def list_workflows(request: Request, deps: Deps) -> Response:
        query = request.query_params
        where = parse_workflow_filter(query.get("active"), query.get("name"))
        page_request = parse_page_request(query.get("limit"), query.get("cursor"))
        rows = await deps.read_model.list_workflows(where, page_request)
        page = cut_page(rows, page_request.limit, _document_id)
        data = [with_webhook_urls(document, deps.public_url) for document in page.items]
        return json_response({"data": data, "nextCursor": page.next_cursor})

    @app.get("/api/v1/workflows/{workflow_id}")
    async def get_workflow(workflow_id: str, deps: Deps) -> Response:
        document = await deps.read_model.get_workflow(workflow_id)
        if document is None:
            return problem(404, f"workflow {workflow_id} does not exist")
        return json_response(with_webhook_urls(document, deps.public_url))


def _add_execution_routes(app: FastAPI) -> None:
    @app.get("/api/v1/executions")
    async def list_executions(request: Request, deps: Deps) -> Response:
        query = request.query_params
        where = parse_execution_filter(
            query.get("workflowId"), query.get("status"), query.get("since"), query.get("until")
        )
        page_request = parse_page_request(query.get("limit"), query.get("cursor"))
        rows = await deps.read_model.list_executions(where, page_request)
        page = cut_page(rows, page_request.limit, _record_id)
        return json_response(
            {"data": [render_execution_summary(record) for record in page.items], "nextCursor": page.next_cursor}
        )

    @app.get("/api/v1/executions/{execution_id}")
    async def get_execution(execution_id: str, deps: Deps) -> Response:
        record = await deps.read_model.get_execution(execution_id)
        if record is None:
            return problem(404, f"execution {execution_id} does not exist")
        return json_response(render_execution(record))


def _add_history_routes(app: FastAPI) -> None:
    @app.get("/api/v1/executions/{execution_id}/events")
    async def execution_events(execution_id: str, deps: Deps) -> Response:
        records = await deps.history.execution_events(execution_id)
        if not records:
            return problem(404, f"execution {execution_id} does not exist")
        return json_response({"data": [render_event(record) for record in records]})

    @app.get("/api/v1/workflows/{workflow_id}/versions")
    async def workflow_versions(workflow_id: str, request: Request, deps: Deps) -> Response:
        page = parse_version_page(request.query_params.get("limit"), request.query_params.get("cursor"))
        records = await deps.history.workflow_versions(workflow_id, page)
        if records is None:
            return problem(404, f"workflow {workflow_id} does not exist")
        data = [render_version(record) for record in records[: page.limit]]
        return json_response({"data": data, "nextCursor": version_cursor(records, page.limit)})

    @app.get("/api/v1/workflows/{workflow_id}/versions/{version}")
    async def workflow_version(workflow_id: str, version: str, deps: Deps) -> Response:
        number = parse_version(version)
        document = await deps.history.workflow_version(workflow_id, number)
        if document is None:
            return problem(404, f"workflow {workflow_id} has no version {number}")
        return json_response(with_webhook_urls(document, deps.public_url))


def _add_audit_routes(app: FastAPI) -> None:
    @app.get("/api/v1/audit")
    async def audit(request: Request, deps: Deps) -> Response:
        query = parse_audit_query(dict(request.query_params))
        entries = await deps.history.audit(query)
        data = [render_audit_entry(entry) for entry in entries[: query.limit]]
        return json_response({"data": data, "nextCursor": audit_next_cursor(entries, query.limit)})

    @app.get("/api/v1/audit/verify")
    async def verify(deps: Deps) -> Response:
        verifier = ChainVerifier()
        async with contextlib.aclosing(deps.history.chain_links()) as links:
            async for link in links:
                if verifier.feed(link) is not None:
                    break
        return json_response(verifier.result().as_document())


def _add_operational_routes(app: FastAPI) -> None:
    @app.post("/internal/sync")
    async def sync(request: Request, deps: Deps) -> Response:
        timeout = _parse_timeout(request.query_params.get("timeoutMs"), deps.sync_timeout_seconds)
        try:
            async with asyncio.timeout(timeout):
                await deps.sync_barrier.sync()
        except TimeoutError:
            return problem(503, f"the projection did not catch up within {timeout:g} s")
        except ProjectorNotReadyError:
            return problem(503, "the projector is not running")
        except Exception as exc:
            log.warning("sync barrier could not read the log end: %s", exc)
            return problem(503, "the event log is unavailable")
        return json_response({"synced": True})

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz")
    async def readyz(deps: Deps) -> Response:
        if not deps.projector.ready:
            return problem(503, "the projector is not running", title="Not Ready")
        try:
            await deps.read_model.ping()
        except ReadModelUnavailableError:
            return problem(503, "the database does not answer", title="Not Ready")
        return json_response({"status": "ready"})


def _document_id(document: dict[str, Any]) -> str:
    workflow_id: str = document["id"]
    return workflow_id


def _record_id(record: ExecutionRecord) -> str:
    return record.id


def _parse_timeout(raw: str | None, default_seconds: float) -> float:
    """`timeoutMs` in seconds: a positive integer, capped at a minute; absent gives the default."""
    if raw is None:
        return default_seconds
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidQueryError("timeoutMs", "timeoutMs must be a positive integer")
    return min(int(raw), MAX_SYNC_TIMEOUT_MS) / 1000
