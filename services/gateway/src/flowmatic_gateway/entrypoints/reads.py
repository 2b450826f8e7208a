"""Every read of the public API is served by the query service: the gateway authorizes and relays it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from flowmatic_gateway.domain.auth import AUDIT_READ, EXECUTIONS_READ, WORKFLOWS_READ
from flowmatic_gateway.entrypoints.dependencies import Deps, require_scope
from flowmatic_gateway.entrypoints.problems import ProblemError
from flowmatic_gateway.ports import QueryUnavailableError

router = APIRouter()

# The read endpoints of the spec and the scope each needs. Listed rather than caught by a wildcard, so an
# unknown path is a 404 and a wrong method a 405 from the gateway itself.
FORWARDED: tuple[tuple[str, str, str], ...] = (
    ("/api/v1/workflows", WORKFLOWS_READ, "List workflows"),
    ("/api/v1/workflows/{workflow_id}", WORKFLOWS_READ, "Get a workflow"),
    ("/api/v1/workflows/{workflow_id}/versions", WORKFLOWS_READ, "List a workflow's versions"),
    ("/api/v1/workflows/{workflow_id}/versions/{version}", WORKFLOWS_READ, "Get a workflow as of a version"),
    ("/api/v1/executions", EXECUTIONS_READ, "List executions"),
    ("/api/v1/executions/{execution_id}", EXECUTIONS_READ, "Get an execution with its steps"),
    ("/api/v1/executions/{execution_id}/events", EXECUTIONS_READ, "An execution's event history"),
    ("/api/v1/audit", AUDIT_READ, "The audit log"),
    ("/api/v1/audit/verify", AUDIT_READ, "Verify the event chains"),
)


async def forward(request: Request, deps: Deps) -> Response:
    """Relay the request's path and query string to the query service; answer its status, body and type."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    try:
        found = await deps.query.get(path, query)
    except QueryUnavailableError:
        raise ProblemError(503, "Query service unavailable", "reads are not available right now; try again") from None
    return Response(found.body, status_code=found.status, media_type=found.content_type)


for _path, _scope, _summary in FORWARDED:
    router.add_api_route(
        _path,
        forward,
        methods=["GET"],
        summary=_summary,
        dependencies=[Depends(require_scope(_scope))],
        tags=[_path.split("/")[3]],
        response_class=Response,
    )
