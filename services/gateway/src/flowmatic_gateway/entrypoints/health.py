"""/healthz (the process is alive) and /readyz (it can take writes and route webhooks)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from flowmatic_gateway.entrypoints.dependencies import Deps
from flowmatic_gateway.entrypoints.problems import problem_response

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="Readiness: broker connected, webhook routes caught up")
async def readyz(deps: Deps) -> Response:
    checks = {"broker": await deps.readiness.ready(), "webhookRoutes": deps.webhooks.caught_up}
    if all(checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    return problem_response(
        503, "Not ready", "the gateway is still starting or lost its broker", extra={"checks": checks}
    )
