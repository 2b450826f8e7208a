"""POST /internal/sync answers only once what the log held at the call is projected."""

from __future__ import annotations

import asyncio

import pytest

from flowmatic_contracts import ids
from flowmatic_query.testing.envelopes import created
from flowmatic_query.testing.harness import EventWriter, Harness

pytestmark = pytest.mark.integration


async def test_sync_returns_only_after_a_just_written_event_is_visible(harness: Harness, writer: EventWriter) -> None:
    await harness.start()
    harness.store.gate.clear()  # the projector will hold the next batch just before committing it
    wid = ids.new_id(ids.WORKFLOW)
    await writer.write(created(wid, "just written"))

    async with harness.client() as client:
        sync = asyncio.create_task(client.post("/internal/sync"))
        await asyncio.wait_for(harness.store.holding.wait(), 20)
        assert not sync.done()  # the record is fetched but not committed: the barrier must still wait
        assert (await client.get(f"/api/v1/workflows/{wid}")).status_code == 404
        harness.store.gate.set()
        answer = await asyncio.wait_for(sync, 20)
        assert answer.status_code == 200, answer.text
        got = await client.get(f"/api/v1/workflows/{wid}")
    assert got.status_code == 200, got.text


async def test_sync_times_out_with_a_problem(harness: Harness, writer: EventWriter) -> None:
    await harness.start()
    harness.store.gate.clear()
    await writer.write(created(ids.new_id(ids.WORKFLOW), "held back"))
    async with harness.client() as client:
        answer = await client.post("/internal/sync", params={"timeoutMs": "300"})
        bad = await client.post("/internal/sync", params={"timeoutMs": "soon"})
    harness.store.gate.set()
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 503
    assert bad.status_code == 400


async def test_sync_on_an_idle_log_answers_at_once(harness: Harness, writer: EventWriter) -> None:
    await writer.write(created(ids.new_id(ids.WORKFLOW), "before start"))
    await harness.start()
    async with harness.client() as client:
        first = await client.post("/internal/sync", params={"timeoutMs": "10000"})
        again = await client.post("/internal/sync", params={"timeoutMs": "1000"})
    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text


async def test_sync_and_readiness_need_a_running_projector(harness: Harness) -> None:
    async with harness.client() as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.post("/internal/sync")).status_code == 503
        await harness.start()
        assert (await client.get("/readyz")).status_code == 200
        await harness.stop()
        assert (await client.get("/readyz")).status_code == 503
