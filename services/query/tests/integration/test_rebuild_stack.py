"""`flowmatic projections rebuild` against a running stack: every GET answers byte for byte as before, and keeps
answering while the rebuild runs. Also the history, versions and audit routes through the gateway."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowmatic_devstack.harness import RunningStack

pytestmark = pytest.mark.integration

FLOWMATIC = Path(sys.executable).with_name("flowmatic")
MANUAL_SET: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "manual"},
        {"id": "shape", "type": "set", "parameters": {"fields": {"n": "{{n}}", "tag": "x"}}},
    ],
    "connections": [{"from": "start", "to": "shape"}],
}
WEBHOOK_NOOP: dict[str, Any] = {
    "nodes": [{"id": "trigger", "type": "webhook"}, {"id": "pass", "type": "noop"}],
    "connections": [{"from": "trigger", "to": "pass"}],
}


async def _finished(api: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        executions: list[dict[str, Any]] = (await api.get("/api/v1/executions")).json()["data"]
        if len(executions) == count and all(e["status"] != "RUNNING" for e in executions):
            return executions
        assert time.monotonic() < deadline, executions
        await asyncio.sleep(0.2)


async def _answers(api: httpx.AsyncClient, paths: list[str]) -> dict[str, tuple[int, bytes]]:
    answers = {}
    for path in paths:
        response = await api.get(path)
        answers[path] = (response.status_code, response.content)
    return answers


async def test_rebuild_through_the_cli_answers_every_get_exactly_as_before(stack: RunningStack) -> None:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as api:
        manual = (await api.post("/api/v1/workflows", json={"name": "manual", **MANUAL_SET})).json()
        hooked = (await api.post("/api/v1/workflows", json={"name": "hooked", **WEBHOOK_NOOP})).json()
        doomed = (await api.post("/api/v1/workflows", json={"name": "doomed", **WEBHOOK_NOOP})).json()
        updated = await api.put(f"/api/v1/workflows/{manual['id']}", json={"name": "manual v2", **MANUAL_SET})
        assert updated.status_code == 200, updated.text
        stale = await api.put(
            f"/api/v1/workflows/{manual['id']}", json={"name": "x", **MANUAL_SET}, headers={"If-Match": '"1"'}
        )
        assert stale.status_code == 412
        assert (await api.delete(f"/api/v1/workflows/{doomed['id']}")).status_code == 204
        for n in range(3):
            started = await api.post(f"/api/v1/workflows/{manual['id']}/execute", json={"n": n})
            assert started.status_code == 202, started.text
        async with httpx.AsyncClient(timeout=30) as sender:
            hook = await sender.post(hooked["webhooks"][0]["url"], json={"order": 7})
        assert hook.status_code == 200, hook.text
        executions = await _finished(api, 4)

        # What the history routes show, through the gateway.
        versions = (await api.get(f"/api/v1/workflows/{doomed['id']}/versions")).json()["data"]
        assert [(v["version"], v["change"]) for v in versions] == [(1, "created"), (2, "deleted")]
        assert all(v["actor"] == {"kind": "apiKey", "id": "admin"} for v in versions)
        as_created = (await api.get(f"/api/v1/workflows/{doomed['id']}/versions/1")).json()
        assert as_created == doomed
        webhook_run = next(e for e in executions if e["mode"] == "webhook")
        events = (await api.get(f"/api/v1/executions/{webhook_run['id']}/events")).json()["data"]
        assert events[0]["type"] == "WebhookReceived" and events[1]["type"] == "ExecutionStarted"
        assert events[-1]["type"] == "ExecutionSucceeded"
        audit = (await api.get("/api/v1/audit")).json()["data"]
        actions = sorted((e["action"], e["outcome"]) for e in audit)
        assert actions == sorted(
            [
                ("workflow.create", "accepted"),
                ("workflow.create", "accepted"),
                ("workflow.create", "accepted"),
                ("workflow.update", "accepted"),
                ("workflow.update", "rejected"),
                ("workflow.delete", "accepted"),
                ("execution.start", "accepted"),
                ("execution.start", "accepted"),
                ("execution.start", "accepted"),
                ("webhook.deliver", "accepted"),
            ]
        )
        assert all(e["actor"]["kind"] in ("apiKey", "webhook") for e in audit)

        paths = [
            "/api/v1/workflows",
            "/api/v1/workflows?limit=1",
            f"/api/v1/workflows/{manual['id']}",
            f"/api/v1/workflows/{hooked['id']}",
            f"/api/v1/workflows/{doomed['id']}",
            f"/api/v1/workflows/{manual['id']}/versions",
            f"/api/v1/workflows/{manual['id']}/versions/1",
            f"/api/v1/workflows/{doomed['id']}/versions",
            f"/api/v1/workflows/{doomed['id']}/versions/2",
            "/api/v1/executions",
            "/api/v1/executions?limit=2",
            "/api/v1/audit",
            "/api/v1/audit?limit=3",
            "/api/v1/audit?outcome=rejected",
            "/api/v1/audit/verify",
        ]
        for execution in executions:
            paths += [f"/api/v1/executions/{execution['id']}", f"/api/v1/executions/{execution['id']}/events"]
        before = await _answers(api, paths)

        stop = asyncio.Event()
        during: list[dict[str, tuple[int, bytes]]] = []

        async def poll() -> None:
            while not stop.is_set():
                during.append(await _answers(api, paths))

        poller = asyncio.create_task(poll())
        environment = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
            "DATABASE_URL": stack.database_url,
            "FLOWMATIC_TOPIC_PREFIX": stack.topics.prefix,
        }
        rebuild = await asyncio.create_subprocess_exec(
            str(FLOWMATIC),
            "projections",
            "rebuild",
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(rebuild.communicate(), timeout=120)
        stop.set()
        await poller
        assert rebuild.returncode == 0, err.decode()
        assert b"swapped in atomically" in out, out
        assert b"records" in err  # the progress bar (lines, as stderr is not a terminal)

        assert during, "no GET ran while the rebuild did"
        for answers in during:
            assert answers == before
        assert await _answers(api, paths) == before

        # The projector carries on from the rebuilt tables.
        later = await api.post("/api/v1/workflows", json={"name": "after the rebuild", **WEBHOOK_NOOP})
        assert later.status_code == 201, later.text
        assert (await api.get(f"/api/v1/workflows/{later.json()['id']}")).status_code == 200
