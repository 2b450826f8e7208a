"""GET /api/v1/executions against PostgreSQL: filters, pages, bad parameters, and the barrier right after commits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from flowmatic_contracts import ids
from flowmatic_contracts.envelope import Envelope
from flowmatic_query.testing.envelopes import T0
from flowmatic_query.testing.executions import ExecutionHistory
from flowmatic_query.testing.harness import EventWriter, Harness

pytestmark = pytest.mark.integration


async def _all_pages(client: httpx.AsyncClient, params: dict[str, Any]) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(50):
        answer = await client.get("/api/v1/executions", params=params | ({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([e["id"] for e in body["data"]])
        cursor = body["nextCursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination never ended")


def _finished(history: ExecutionHistory, outcome: str) -> list[Envelope]:
    """ExecutionStarted and, unless RUNNING, the event that ends the execution with `outcome`."""
    events = [history.started({"n": 1})]
    if outcome == "SUCCEEDED":
        events.append(history.succeeded({"done": True}))
    elif outcome == "FAILED":
        events.append(history.failed("check", "too big"))
    elif outcome == "CANCELLED":
        events.append(history.cancelled("stopped"))
    return events


async def test_filters_pages_and_summaries(harness: Harness, writer: EventWriter) -> None:
    orders, other = ids.new_id(ids.WORKFLOW), ids.new_id(ids.WORKFLOW)
    outcomes = ["SUCCEEDED", "FAILED", "RUNNING", "FAILED", "CANCELLED", "SUCCEEDED", "SUCCEEDED"]
    # ids made in one millisecond do not sort among themselves: sort them so creation order is known
    execution_ids = sorted(ids.new_id(ids.EXECUTION) for _ in outcomes)
    histories = [
        ExecutionHistory(orders, execution_id=eid, start=T0 + timedelta(minutes=minute))
        for minute, eid in enumerate(execution_ids)
    ]
    elsewhere = ExecutionHistory(other, start=T0 + timedelta(minutes=3))
    for history, outcome in zip(histories, outcomes, strict=True):
        await writer.write(*_finished(history, outcome), topic=writer.topics.execution_events)
    await writer.write(*_finished(elsewhere, "FAILED"), topic=writer.topics.execution_events)
    await harness.start()
    await harness.synced()
    newest_first = [h.execution_id for h in reversed(histories)]

    async with harness.client() as client:
        pages = await _all_pages(client, {"workflowId": orders, "limit": 3})
        failed = (await client.get("/api/v1/executions", params={"workflowId": orders, "status": "FAILED"})).json()
        every_failed = (await client.get("/api/v1/executions", params={"status": "FAILED"})).json()
        window = await _all_pages(
            client,
            {"workflowId": orders, "since": "2026-02-08T12:02:01Z", "until": "2026-02-08T13:04:01.000+01:00"},
        )
        everything = await _all_pages(client, {"limit": 200})
        unknown = (await client.get("/api/v1/executions", params={"workflowId": "wf_nope"})).json()

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [eid for page in pages for eid in page] == newest_first
    assert [e["id"] for e in failed["data"]] == [histories[3].execution_id, histories[1].execution_id]
    assert failed["nextCursor"] is None
    assert {e["id"] for e in every_failed["data"]} == {
        histories[3].execution_id,
        histories[1].execution_id,
        elsewhere.execution_id,
    }
    # since and until are inclusive bounds of startedAt (minutes 2, 3 and 4)
    assert window == [[histories[4].execution_id, histories[3].execution_id, histories[2].execution_id]]
    assert sorted(everything[0]) == sorted([*newest_first, elsewhere.execution_id])
    assert unknown == {"data": [], "nextCursor": None}

    summary = failed["data"][0]
    assert summary == {
        "id": histories[3].execution_id,
        "workflowId": orders,
        "workflowVersion": 1,
        "status": "FAILED",
        "mode": "webhook",
        "triggerId": "trigger",
        "error": {"nodeId": "check", "message": "too big"},
        "startedAt": "2026-02-08T12:03:01.000Z",
        "finishedAt": "2026-02-08T12:03:02.000Z",
    }


@pytest.mark.parametrize(
    "params",
    [
        {"status": "running"},
        {"status": "DONE"},
        {"since": "yesterday"},
        {"until": "2026-02-08"},
        {"since": "2026-02-08T12:00:00"},
        {"since": "2026-02-30T12:00:00Z"},
        {"since": "2026-02-09T00:00:00Z", "until": "2026-02-08T00:00:00Z"},
        {"limit": "0"},
        {"cursor": "not a cursor!"},
    ],
)
async def test_bad_parameters_are_400_problems(harness: Harness, params: dict[str, str]) -> None:
    await harness.start()
    async with harness.client() as client:
        answer = await client.get("/api/v1/executions", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["path"] in params


async def test_every_execution_is_readable_right_after_its_commit(harness: Harness, writer: EventWriter) -> None:
    # Commit markers reach the partitions a moment after commit_transaction returns; the barrier must wait
    # for them (a barrier on the last stable offset alone failed this on about one commit in four).
    await harness.start()
    for _ in range(40):
        history = ExecutionHistory(ids.new_id(ids.WORKFLOW))
        await writer.write(history.started({"n": 1}), topic=writer.topics.execution_events)
        await harness.sync()  # the barrier itself, at once: building an HTTP client first can hide the race
        assert await harness.read_model.get_execution(history.execution_id) is not None
