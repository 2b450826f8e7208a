"""While the broker is down nothing is acknowledged: writes and webhooks answer 503 problem+json, never 2xx;
reads keep answering from PostgreSQL; once the broker is back, writes are accepted again and nothing that was
acknowledged before the outage is lost. Uses a broker of its own, since it stops it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowmatic_devstack.harness import create_database, default_cache_dir, drop_database, start_stack, temporary_folder
from flowmatic_devstack.kafka import ensure_kafka_libs, prepare_broker
from flowmatic_devstack.ports import free_port
from flowmatic_devstack.supervisor import Supervisor

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "nodes": [{"id": "trigger", "type": "webhook"}, {"id": "pass", "type": "noop"}],
    "connections": [{"from": "trigger", "to": "pass"}],
}


async def until_accepted(api: httpx.AsyncClient, within: float) -> httpx.Response:
    """Retry a create until the stack accepts writes again."""
    deadline = time.monotonic() + within
    while True:
        resp = await api.post("/api/v1/workflows", json={"name": "after", **SPEC})
        if resp.status_code == 201:
            return resp
        assert resp.status_code == 503, resp.text
        assert time.monotonic() < deadline, "writes were not accepted again after the broker came back"
        await asyncio.sleep(0.5)


async def test_broker_outage_is_503_never_2xx(database_url: str, tmp_path: Path) -> None:
    libs = ensure_kafka_libs(default_cache_dir())
    broker = Supervisor()
    database = await create_database(database_url)
    with temporary_folder("flowmatic-outage-kafka-") as folder:
        port = free_port()
        await broker.start(await prepare_broker(libs, folder, folder / "kafka.log", port, free_port()))
        # a short command timeout so each refusal comes quickly (the default is 30 s)
        stack = await start_stack(
            f"127.0.0.1:{port}", database, tmp_path / "stack", extra_env={"FLOWMATIC_COMMAND_TIMEOUT_SECONDS": "5"}
        )
        try:
            headers = {"Authorization": f"Bearer {stack.admin_key}"}
            async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=90) as api:
                before = (await api.post("/api/v1/workflows", json={"name": "before", **SPEC})).json()
                hook = f"/api/webhooks/{before['webhooks'][0]['webhookId']}"
                assert (await api.post(hook, json={"n": 1})).status_code == 200

                broker.kill("kafka")
                created = await api.post("/api/v1/workflows", json={"name": "during", **SPEC})
                delivered = await api.post(hook, json={"n": 2})
                for resp in (created, delivered):
                    assert resp.status_code == 503, resp.text
                    assert resp.headers["content-type"].startswith("application/problem+json")
                read = await api.get(f"/api/v1/workflows/{before['id']}")
                assert read.status_code == 200 and read.json()["name"] == "before"

                await broker.restart("kafka")
                after = await until_accepted(api, within=120)
                assert (await api.get(f"/api/v1/workflows/{after.json()['id']}")).status_code == 200
                assert (await api.get(f"/api/v1/workflows/{before['id']}")).json()["version"] == 1
                names = {w["name"] for w in (await api.get("/api/v1/workflows")).json()["data"]}
                assert {"before", "after"} <= names
        finally:
            await stack.stop()
            await broker.stop_all()
            await drop_database(database_url, database)
