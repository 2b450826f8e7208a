"""Retention: the sweep deletes a workflow's old finished executions from the read models (never from `events`),
and lifting or raising the setting re-projects them from the log exactly as they were."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flowmatic_contracts.envelope import Envelope, new_envelope
from flowmatic_contracts.events import WorkflowCreated, WorkflowUpdated
from flowmatic_query.adapters.retention import PostgresRetention
from flowmatic_query.testing.envelopes import ACTOR, T0, created, hook, spec
from flowmatic_query.testing.executions import ExecutionHistory
from flowmatic_query.testing.harness import EventWriter, Harness

pytestmark = pytest.mark.integration


def written(workflow_id: str, version: int, days: int | None) -> Envelope:
    """Version `version` of a workflow keeping executions `days` days (None: for good)."""
    kept = spec("kept for a while").model_copy(update={"execution_retention_days": days})
    payload_type = WorkflowCreated if version == 1 else WorkflowUpdated
    payload = payload_type(spec=kept, webhooks=[hook(workflow_id)])
    at = T0 - timedelta(days=1) + timedelta(minutes=version)
    return new_envelope(payload, aggregate_id=workflow_id, actor=ACTOR, sequence=version, occurred_at=at)


async def _get(harness: Harness, *paths: str) -> dict[str, tuple[int, bytes]]:
    async with harness.client() as client:
        return {path: ((r := await client.get(path)).status_code, r.content) for path in paths}


async def test_sweep_deletes_only_what_is_old_enough_and_lifting_the_setting_restores_it(
    harness: Harness, writer: EventWriter
) -> None:
    await writer.write(written("wf_r", 1, 1), created("wf_k", "kept forever"))
    runs = [ExecutionHistory("wf_r", execution_id=f"ex_r{n}", start=T0 + timedelta(hours=n)) for n in range(2)]
    forever = ExecutionHistory("wf_k", execution_id="ex_k")
    running = ExecutionHistory("wf_r", execution_id="ex_running")
    for run in [*runs, forever]:
        await writer.write(run.webhook_received({"n": run.execution_id}), topic=writer.topics.webhooks)
        await writer.write(*run.happy_path({"n": run.execution_id}), topic=writer.topics.execution_events)
    await writer.write(running.started({}), topic=writer.topics.execution_events)
    await harness.start()
    await harness.synced()
    paths = ["/api/v1/executions", *(f"/api/v1/executions/ex_{n}" for n in ("r0", "r1", "k", "running"))]
    before = await _get(harness, *paths)
    assert all(status == 200 for status, _ in before.values())
    retention = PostgresRetention(harness.pool)

    # Finished at T0 + 8 s (ex_r0) and T0 + 1 h 8 s (ex_r1): one day later only ex_r0 is older than a day.
    assert await retention.sweep(T0 + timedelta(days=1, minutes=30)) == 1
    after = await _get(harness, *paths)
    assert after["/api/v1/executions/ex_r0"][0] == 404
    assert after["/api/v1/executions/ex_r1"] == before["/api/v1/executions/ex_r1"]
    assert after["/api/v1/executions/ex_k"] == before["/api/v1/executions/ex_k"]
    assert await harness.pool.fetchval("SELECT count(*) FROM steps WHERE execution_id = 'ex_r0'") == 0
    async with harness.client() as client:
        events = await client.get("/api/v1/executions/ex_r0/events")
    assert events.status_code == 200 and len(events.json()["data"]) == 9  # the log keeps everything

    # Years later: every finished execution of wf_r goes; the running one and wf_k's stay.
    assert await retention.sweep(T0 + timedelta(days=3650)) == 1
    later = await _get(harness, *paths)
    assert [later[f"/api/v1/executions/ex_{n}"][0] for n in ("r0", "r1", "k", "running")] == [404, 404, 200, 200]

    # Raised to 100 years: both come back, byte for byte, from the events.
    await writer.write(written("wf_r", 2, 36_500))
    await harness.synced()
    assert await _get(harness, *paths) == before

    # Lowered: nothing changes until the sweep; removed: everything back again.
    await writer.write(written("wf_r", 3, 1))
    await harness.synced()
    assert await _get(harness, *paths) == before
    assert await retention.sweep(T0 + timedelta(days=3650)) == 2
    await writer.write(written("wf_r", 4, None))
    await harness.synced()
    assert await _get(harness, *paths) == before
    assert await harness.pool.fetchval("SELECT count(*) FROM projection_errors") == 0


async def test_the_setting_is_part_of_the_workflow_document_only_when_set(
    harness: Harness, writer: EventWriter
) -> None:
    await writer.write(written("wf_r", 1, 7), created("wf_k", "plain"))
    await harness.start()
    await harness.synced()
    async with harness.client() as client:
        document = (await client.get("/api/v1/workflows/wf_r")).json()
        plain = (await client.get("/api/v1/workflows/wf_k")).json()
    assert document["executionRetentionDays"] == 7
    assert list(document)[:7] == [
        "id",
        "name",
        "description",
        "active",
        "nodes",
        "connections",
        "executionRetentionDays",
    ]
    assert "executionRetentionDays" not in plain
