"""Rebuilding every read model from offset 0 into fresh tables while the live projector and the app keep going."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from flowmatic_contracts.envelope import Actor, new_envelope
from flowmatic_contracts.events import CommandAccepted
from flowmatic_contracts.topics import Topics
from flowmatic_query.entrypoints.rebuild import rebuild_read_models
from flowmatic_query.settings import Settings
from flowmatic_query.testing.envelopes import T0, created, deleted, updated
from flowmatic_query.testing.executions import ExecutionHistory
from flowmatic_query.testing.harness import EventWriter, Harness

pytestmark = pytest.mark.integration

PATHS = (
    "/api/v1/workflows",
    "/api/v1/workflows/wf_0",
    "/api/v1/workflows/wf_1",
    "/api/v1/workflows/wf_1/versions",
    "/api/v1/workflows/wf_1/versions/3",
    "/api/v1/executions",
    "/api/v1/executions/ex_0",
    "/api/v1/executions/ex_0/events",
    "/api/v1/audit",
)


async def _seed(writer: EventWriter) -> None:
    await writer.write(
        created("wf_0", "kept"), created("wf_1", "gone"), updated("wf_1", "gone2", 2), deleted("wf_1", 3)
    )
    for n in range(3):
        run = ExecutionHistory("wf_0", execution_id=f"ex_{n}", start=T0 + timedelta(minutes=n))
        await writer.write(run.webhook_received({"n": n}), topic=writer.topics.webhooks)
        await writer.write(*run.happy_path({"n": n}), topic=writer.topics.execution_events)
        outcome = CommandAccepted(command_id="c", command_type="StartExecution", aggregate_id=f"ex_{n}", version=1)
        await writer.write(
            new_envelope(outcome, aggregate_id=f"ex_{n}", actor=Actor(kind="apiKey", id="admin"), occurred_at=T0),
            topic=writer.topics.outcomes,
        )


async def _answers(harness: Harness) -> dict[str, tuple[int, bytes]]:
    async with harness.client() as client:
        return {path: ((r := await client.get(path)).status_code, r.content) for path in PATHS}


def _settings(kafka_bootstrap: str, database: str, topics: Topics) -> Settings:
    return Settings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database, topic_prefix=topics.prefix)


async def test_a_rebuild_answers_exactly_as_before_and_gets_keep_answering_throughout(
    harness: Harness, writer: EventWriter, kafka_bootstrap: str, fresh_database: str, topics: Topics
) -> None:
    await _seed(writer)
    await harness.start()
    await harness.synced()
    before = await _answers(harness)
    assert all(status in (200, 404) for status, _ in before.values())
    old_table = await harness.pool.fetchval("SELECT 'workflows'::regclass::oid")

    stop = asyncio.Event()
    seen: list[dict[str, tuple[int, bytes]]] = []

    async def poll() -> None:
        while not stop.is_set():
            seen.append(await _answers(harness))

    poller = asyncio.create_task(poll())
    progress: list[tuple[int, int]] = []
    report = await rebuild_read_models(
        _settings(kafka_bootstrap, fresh_database, topics),
        on_progress=lambda done, total, _: progress.append((done, total)),
        batch_size=5,
    )
    stop.set()
    await poller

    assert report.records >= 3 * 10 + 4
    assert progress[0] == (0, progress[-1][1])
    # Offsets, markers included: the bar reaches its end, and the total is at least the events.
    assert progress[-1][0] >= progress[-1][1] >= report.records
    assert "workflows" in report.tables and "audit" in report.tables
    assert seen and all(answers == before for answers in seen)
    assert await harness.pool.fetchval("SELECT 'workflows'::regclass::oid") != old_table
    assert await _answers(harness) == before
    schemas = await harness.pool.fetch(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%' OR nspname LIKE 'retired_%'"
    )
    assert schemas == []

    # The live projector carries on in the new tables, applying each later event once.
    await writer.write(created("wf_2", "after"))
    await harness.synced()
    async with harness.client() as client:
        assert (await client.get("/api/v1/workflows/wf_2")).status_code == 200
    assert await harness.pool.fetchval("SELECT count(*) FROM projection_errors") == 0


async def test_events_written_during_a_rebuild_are_applied_once(
    harness: Harness, writer: EventWriter, kafka_bootstrap: str, fresh_database: str, topics: Topics
) -> None:
    await _seed(writer)
    await harness.start()
    await harness.synced()
    written: list[str] = []

    async def write_more() -> None:
        for n in range(40):
            workflow_id = f"wf_live_{n:03d}"
            await writer.write(created(workflow_id, workflow_id))
            written.append(workflow_id)

    writing = asyncio.create_task(write_more())
    await rebuild_read_models(_settings(kafka_bootstrap, fresh_database, topics), batch_size=3, keep_retired=True)
    await writing
    await harness.synced()
    ids = {row["id"] for row in await harness.pool.fetch("SELECT id FROM workflows WHERE id LIKE 'wf_live_%'")}
    assert ids == set(written)
    assert await harness.pool.fetchval("SELECT count(*) FROM projection_errors") == 0
    assert (
        await harness.pool.fetchval("SELECT count(*) FROM workflow_versions WHERE workflow_id LIKE 'wf_live_%'") == 40
    )
    retired = await harness.pool.fetchval("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'retired_%'")
    assert retired is not None
    # The retired copy is the live projection as it was at the swap: a subset of what is live now.
    old_count = await harness.pool.fetchval(f"SELECT count(*) FROM {retired}.workflows")
    assert 0 < old_count <= await harness.pool.fetchval("SELECT count(*) FROM workflows")
    assert isinstance(harness.pool, asyncpg.Pool)
