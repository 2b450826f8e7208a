"""`/healthz` (the process answers) and `/readyz` (it has joined its consumer group) over HTTP."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse


def create_app(is_ready: Callable[[], bool]) -> FastAPI:
    """The executor's health endpoints; it serves nothing else over HTTP."""
    app = FastAPI(title="Flowmatic executor", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if is_ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": "the executor has not joined its consumer group yet",
            },
            status_code=503,
            media_type="application/problem+json",
        )

    return app
