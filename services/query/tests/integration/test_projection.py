"""The projector against the real broker and database: rows, restarts, poison records."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from flowmatic_contracts import ids
from flowmatic_query.adapters.projections import PostgresProjectionStore
from flowmatic_query.entrypoints.progress import ProjectionProgress
from flowmatic_query.entrypoints.projector import Projector
from flowmatic_query.entrypoints.sync_barrier import LogSyncBarrier
from flowmatic_query.testing.envelopes import SECRET_CIPHERTEXT, created, deleted, updated
from flowmatic_query.testing.harness import EventWriter, Harness

pytestmark = pytest.mark.integration


async def test_workflow_lifecycle_becomes_rows_and_answers(harness: Harness, writer: EventWriter) -> None:
    wid = ids.new_id(ids.WORKFLOW)
    await writer.write(created(wid, "orders"))
    await writer.write(updated(wid, "orders v2", 2))
    await harness.start()
    await harness.synced()

    async with harness.client() as client:
        got = await client.get(f"/api/v1/workflows/{wid}")
    assert got.status_code == 200, got.text
    document = got.json()
    assert document == {
        "id": wid,
        "name": "orders v2",
        "description": None,
        "active": True,
        "nodes": [
            {"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST"]}},
            {"id": "pass", "type": "noop", "parameters": {}, "retry": {"maxAttempts": 3, "backoffSeconds": 1.0}},
        ],
        "connections": [{"from": "trigger", "to": "pass", "output": "main"}],
        "version": 2,
        "createdAt": "2026-02-08T12:00:00.000Z",
        "updatedAt": "2026-02-08T12:02:00.000Z",
        "webhooks": [
            {
                "webhookId": f"wh_{wid}",
                "triggerId": "trigger",
                "url": f"http://flowmatic.test/api/webhooks/wh_{wid}",
                "methods": ["POST"],
                "hasSecret": False,
            }
        ],
    }

    await writer.write(deleted(wid, 3))
    await harness.synced()
    async with harness.client() as client:
        gone = await client.get(f"/api/v1/workflows/{wid}")
        listed = await client.get("/api/v1/workflows")
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert listed.json() == {"data": [], "nextCursor": None}

    versions = await harness.pool.fetch(
        "SELECT version, change, actor, document FROM workflow_versions WHERE workflow_id = $1 ORDER BY version", wid
    )
    assert [(v["version"], v["change"]) for v in versions] == [(1, "created"), (2, "updated"), (3, "deleted")]
    assert versions[0]["document"]["webhooks"][0]["hasSecret"] is True
    assert versions[2]["document"]["version"] == 3
    assert versions[0]["actor"] == {"kind": "apiKey", "id": "key_test"}
    events = await harness.pool.fetch("SELECT type, sequence, payload::text AS payload FROM events ORDER BY sequence")
    assert [(e["type"], e["sequence"]) for e in events] == [
        ("WorkflowCreated", 1),
        ("WorkflowUpdated", 2),
        ("WorkflowDeleted", 3),
    ]
    assert all(SECRET_CIPHERTEXT not in e["payload"] for e in events)


async def test_restart_mid_stream_applies_every_event_exactly_once(harness: Harness, writer: EventWriter) -> None:
    workflows = [ids.new_id(ids.WORKFLOW) for _ in range(6)]
    for wid in workflows:
        await writer.write(created(wid, f"wf-{wid}"), updated(wid, f"wf-{wid}", 2))
    harness.store.gate.clear()
    await harness.start(batch_size=3)
    # Let exactly one small batch commit, then kill the projector while it holds the next one.
    await asyncio.wait_for(harness.store.holding.wait(), 20)
    harness.store.holding.clear()
    harness.store.gate.set()
    async with asyncio.timeout(20):
        while not harness.store.holding.is_set():
            harness.store.gate.clear()
            await asyncio.sleep(0.01)
    await harness.stop()
    partial = await harness.pool.fetchval("SELECT count(*) FROM workflow_versions")
    assert 0 < partial < 12

    for wid in workflows:
        await writer.write(updated(wid, f"wf-{wid}", 3))
    harness.store.gate.set()
    await harness.start(batch_size=3)
    await harness.synced()

    rows = await harness.pool.fetch("SELECT workflow_id, version FROM workflow_versions")
    assert sorted((r["workflow_id"], r["version"]) for r in rows) == sorted(
        (wid, version) for wid in workflows for version in (1, 2, 3)
    )
    assert await harness.pool.fetchval("SELECT count(*) FROM events") == 18
    assert await harness.pool.fetchval("SELECT count(*) FROM projection_errors") == 0
    assert {r["version"] for r in await harness.pool.fetch("SELECT version FROM workflows")} == {3}


async def test_garbage_is_recorded_and_later_events_still_project(harness: Harness, writer: EventWriter) -> None:
    wid = ids.new_id(ids.WORKFLOW)
    await writer.write_raw(b"\x00not an envelope", key=wid.encode())
    await writer.write_raw(b'{"type": "NoSuchEvent"}', key=wid.encode(), topic=writer.topics.execution_events)
    await writer.write(created(wid, "after the garbage"))
    await harness.start()
    await harness.synced()

    errors = await harness.pool.fetch('SELECT topic, "offset", error, raw FROM projection_errors ORDER BY topic')
    assert sorted(bytes(e["raw"]) for e in errors) == [b"\x00not an envelope", b'{"type": "NoSuchEvent"}']
    assert all(e["error"] for e in errors)
    async with harness.client() as client:
        got = await client.get(f"/api/v1/workflows/{wid}")
    assert got.status_code == 200, got.text
    assert got.json()["name"] == "after the garbage"


async def test_positions_are_stored_with_the_rows(harness: Harness, writer: EventWriter, pool: asyncpg.Pool) -> None:
    wid = ids.new_id(ids.WORKFLOW)
    await writer.write(created(wid, "one"))
    await harness.start()
    await harness.synced()
    stored = await pool.fetch("SELECT topic, partition, next_offset FROM projection_offsets")
    # one record plus its transaction marker on the workflow's partition
    assert sum(r["next_offset"] for r in stored if r["topic"] == writer.topics.workflow_events) == 2
    assert {r["topic"] for r in stored} <= set(writer.topics.event_topics)


async def test_two_projectors_on_one_database_apply_each_event_once(
    harness: Harness, writer: EventWriter, kafka_bootstrap: str, pool: asyncpg.Pool
) -> None:
    other_progress = ProjectionProgress()
    other = Projector(
        bootstrap_servers=kafka_bootstrap,
        topics=writer.topics.event_topics,
        store=PostgresProjectionStore(pool),
        progress=other_progress,
        batch_size=2,
    )
    other_task = asyncio.create_task(other.run())
    try:
        await harness.start(batch_size=3)
        workflows = [ids.new_id(ids.WORKFLOW) for _ in range(8)]
        for wid in workflows:
            await writer.write(created(wid, "shared"), updated(wid, "shared", 2))
        await harness.synced()
        async with asyncio.timeout(20):
            await other_progress.wait_ready()
            await LogSyncBarrier(harness.end_offsets, other_progress).sync()
    finally:
        other_task.cancel()
        await asyncio.gather(other_task, return_exceptions=True)
    assert await pool.fetchval("SELECT count(*) FROM workflow_versions") == 16
    assert await pool.fetchval("SELECT count(*) FROM events") == 16
    assert await pool.fetchval("SELECT count(*) FROM projection_errors") == 0
