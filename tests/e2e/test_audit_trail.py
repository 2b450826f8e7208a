"""The audit trail through the public API of a running stack: histories, versions, the audit log, and tamper
evidence — an edited, a dropped and an inserted event in the query service's copy of the log are each found and
named by GET /api/v1/audit/verify, and restoring the copy makes it whole again."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from flowmatic_devstack.harness import RunningStack
from flowmatic_devstack.testing import api_client, wait_finished

pytestmark = pytest.mark.integration

NODES = [{"id": "trigger", "type": "webhook"}, {"id": "shape", "type": "set", "parameters": {"fields": {"n": "{{n}}"}}}]
CONNECTIONS = [{"from": "trigger", "to": "shape"}]


async def verify(api: httpx.AsyncClient) -> dict[str, Any]:
    resp = await api.get("/api/v1/audit/verify")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_history_versions_audit_and_tamper_evidence(stack: RunningStack) -> None:
    async with api_client(stack) as api:
        created = (
            await api.post("/api/v1/workflows", json={"name": "audited", "nodes": NODES, "connections": CONNECTIONS})
        ).json()
        wid = created["id"]
        await api.put(
            f"/api/v1/workflows/{wid}", json={"name": "audited v2", "nodes": NODES, "connections": CONNECTIONS}
        )
        rejected = await api.put(
            f"/api/v1/workflows/{wid}",
            json={"name": "x", "nodes": NODES, "connections": CONNECTIONS},
            headers={"If-Match": '"1"'},
        )
        assert rejected.status_code == 412
        hook = created["webhooks"][0]["url"]
        execution_id = (await api.post(hook, json={"n": 7})).json()["executionId"]
        execution = await wait_finished(api, execution_id)
        assert execution["status"] == "SUCCEEDED"

        history = (await api.get(f"/api/v1/executions/{execution_id}/events")).json()["data"]
        assert [e["type"] for e in history][:2] == ["WebhookReceived", "ExecutionStarted"]
        assert history[-1]["type"] == "ExecutionSucceeded"
        assert [e["sequence"] for e in history[1:]] == list(range(1, len(history)))

        versions = (await api.get(f"/api/v1/workflows/{wid}/versions")).json()["data"]
        assert [(v["version"], v["change"]) for v in versions] == [(1, "created"), (2, "updated")]
        assert versions[0]["actor"] == {"kind": "apiKey", "id": "admin"}
        first = (await api.get(f"/api/v1/workflows/{wid}/versions/1")).json()
        assert first["name"] == "audited" and first["version"] == 1

        audit = (await api.get("/api/v1/audit", params={"limit": 200})).json()["data"]
        mine = [(a["action"], a["outcome"]) for a in audit if a["aggregateId"] in (wid, execution_id)]
        assert ("workflow.create", "accepted") in mine and ("workflow.update", "accepted") in mine
        assert ("workflow.update", "rejected") in mine and ("webhook.deliver", "accepted") in mine

        intact = await verify(api)
        assert intact == {"ok": True, "checked": 2 + len(history) - 1}  # two workflow events, the execution's own

    # Tamper with the query service's copy of the log, one way at a time, and put it back each time.
    db = await asyncpg.connect(stack.database_url)
    try:
        row = await db.fetchrow(
            'SELECT topic, partition, "offset", raw FROM events WHERE aggregate_id = $1 AND sequence = 1', wid
        )
        assert row is not None
        edited = bytes(row["raw"]).replace(b'"audited"', b'"forged!"')
        assert edited != row["raw"]
        await db.execute(
            'UPDATE events SET raw = $4 WHERE topic = $1 AND partition = $2 AND "offset" = $3',
            row["topic"],
            row["partition"],
            row["offset"],
            edited,
        )
        async with api_client(stack) as api:
            broken = await verify(api)
        assert broken["ok"] is False and broken["brokenAt"]["aggregateId"] == wid
        await db.execute(
            'UPDATE events SET raw = $4 WHERE topic = $1 AND partition = $2 AND "offset" = $3',
            row["topic"],
            row["partition"],
            row["offset"],
            row["raw"],
        )

        dropped = await db.fetchrow(
            "DELETE FROM events WHERE aggregate_id = $1 AND sequence = 2 RETURNING *", execution_id
        )
        assert dropped is not None
        async with api_client(stack) as api:
            broken = await verify(api)
        assert broken["ok"] is False and broken["brokenAt"]["aggregateId"] == execution_id
        assert broken["brokenAt"]["sequence"] == 3
        columns = list(dropped.keys())
        placeholders = ", ".join(f"${i + 1}" for i in range(len(columns)))
        quoted = ", ".join(f'"{c}"' for c in columns)
        await db.execute(f"INSERT INTO events ({quoted}) VALUES ({placeholders})", *dropped.values())

        inserted = dict(dropped)
        inserted["offset"] = 10_000_000  # a record that was never in the log
        inserted["id"] = "msg_inserted"
        await db.execute(f"INSERT INTO events ({quoted}) VALUES ({placeholders})", *inserted.values())
        async with api_client(stack) as api:
            broken = await verify(api)
        assert broken["ok"] is False and broken["brokenAt"]["aggregateId"] == execution_id
        assert "twice" in broken["brokenAt"]["reason"]
        await db.execute('DELETE FROM events WHERE id = $1 AND "offset" = 10000000', "msg_inserted")

        async with api_client(stack) as api:
            assert (await verify(api))["ok"] is True
    finally:
        await db.close()
