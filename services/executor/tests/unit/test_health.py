"""`/healthz` always answers; `/readyz` answers 503 problem+json until the worker has joined its group."""

from __future__ import annotations

import httpx

from flowmatic_executor.entrypoints.health import create_app


async def test_health_and_readiness() -> None:
    ready = False
    app = create_app(lambda: ready)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://executor") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.headers["content-type"] == "application/problem+json"
        assert not_ready.json()["status"] == 503
        ready = True
        assert (await client.get("/readyz")).json() == {"status": "ready"}
