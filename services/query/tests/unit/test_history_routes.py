"""The history, audit and verify routes over in-memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from flowmatic_query.domain.audit import AuditEntry
from flowmatic_query.domain.history import EventRecord, VersionRecord
from flowmatic_query.entrypoints.http import AppDependencies, create_app
from flowmatic_query.testing.chain import chained
from flowmatic_query.testing.envelopes import T0, created, updated
from flowmatic_query.testing.fakes import FixedReadiness, InMemoryHistory, InMemoryReadModel, ScriptedSyncBarrier

ADMIN = {"kind": "apiKey", "id": "admin"}


@pytest.fixture
def history() -> InMemoryHistory:
    return InMemoryHistory()


@pytest.fixture
async def client(history: InMemoryHistory) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        AppDependencies(
            read_model=InMemoryReadModel(),
            history=history,
            sync_barrier=ScriptedSyncBarrier(),
            projector=FixedReadiness(),
            public_url="https://flow.example",
        )
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://query.test") as http:
        yield http


async def test_events_of_an_execution_in_order_and_404_for_an_unknown_one(
    client: httpx.AsyncClient, history: InMemoryHistory
) -> None:
    history.events["ex_1"] = [
        EventRecord("msg_0", "WebhookReceived", 0, T0, {"kind": "webhook", "id": "wh_1"}, "cor_0", None, {"a": 1}),
        EventRecord("msg_1", "ExecutionStarted", 1, T0, {"kind": "system", "id": "flowmatic"}, "cor_0", "msg_0", {}),
    ]
    response = await client.get("/api/v1/executions/ex_1/events")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["data"]
    assert [event["type"] for event in body["data"]] == ["WebhookReceived", "ExecutionStarted"]
    assert body["data"][0]["actor"] == {"kind": "webhook", "id": "wh_1"}
    missing = await client.get("/api/v1/executions/ex_missing/events")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_versions_page_oldest_first_and_documents_get_their_urls(
    client: httpx.AsyncClient, history: InMemoryHistory
) -> None:
    document = {
        "id": "wf_1",
        "version": 1,
        "webhooks": [{"webhookId": "wh_1", "triggerId": "t", "methods": ["POST"], "hasSecret": True}],
    }
    history.versions["wf_1"] = [
        (VersionRecord(n, T0 + timedelta(minutes=n), ADMIN, change), document)
        for n, change in ((1, "created"), (2, "updated"), (3, "deleted"))
    ]
    first = (await client.get("/api/v1/workflows/wf_1/versions", params={"limit": "2"})).json()
    assert [item["version"] for item in first["data"]] == [1, 2]
    assert first["nextCursor"]
    second = (await client.get("/api/v1/workflows/wf_1/versions", params={"cursor": first["nextCursor"]})).json()
    assert [(item["version"], item["change"]) for item in second["data"]] == [(3, "deleted")]
    assert second["nextCursor"] is None

    at_one = await client.get("/api/v1/workflows/wf_1/versions/1")
    assert at_one.status_code == 200
    assert at_one.json()["webhooks"][0] == {
        "webhookId": "wh_1",
        "triggerId": "t",
        "url": "https://flow.example/api/webhooks/wh_1",
        "methods": ["POST"],
        "hasSecret": True,
    }
    for path, status in [
        ("/api/v1/workflows/wf_missing/versions", 404),
        ("/api/v1/workflows/wf_1/versions/9", 404),
        ("/api/v1/workflows/wf_missing/versions/1", 404),
        ("/api/v1/workflows/wf_1/versions/one", 400),
        ("/api/v1/workflows/wf_1/versions/0", 400),
        ("/api/v1/workflows/wf_1/versions?cursor=%%%", 400),
        ("/api/v1/workflows/wf_1/versions?limit=x", 400),
    ]:
        response = await client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_audit_pages_newest_first_with_filters(client: httpx.AsyncClient, history: InMemoryHistory) -> None:
    history.entries = [
        AuditEntry(f"msg_{n}", T0 + timedelta(seconds=n), ADMIN, "workflow.update", "wf_1", "accepted")
        for n in range(5)
    ]
    history.entries.append(
        AuditEntry("msg_x", T0, {"kind": "webhook", "id": "wh_1"}, "webhook.deliver", "wh_1", "rejected", "401 x")
    )
    first = (await client.get("/api/v1/audit", params={"limit": "3", "actor": "apiKey:admin"})).json()
    assert [entry["occurredAt"][17:19] for entry in first["data"]] == ["04", "03", "02"]
    rest = (
        await client.get("/api/v1/audit", params={"limit": "3", "actor": "apiKey:admin", "cursor": first["nextCursor"]})
    ).json()
    assert [entry["occurredAt"][17:19] for entry in rest["data"]] == ["01", "00"]
    assert rest["nextCursor"] is None
    rejected = (await client.get("/api/v1/audit", params={"outcome": "rejected"})).json()["data"]
    assert rejected == [
        {
            "occurredAt": "2026-02-08T12:00:00.000Z",
            "actor": {"kind": "webhook", "id": "wh_1"},
            "action": "webhook.deliver",
            "aggregateId": "wh_1",
            "outcome": "rejected",
            "reason": "401 x",
        }
    ]
    for bad in ({"outcome": "x"}, {"action": "y"}, {"since": "z"}, {"actor": "alien:1"}, {"cursor": "Zm9v"}):
        response = await client.get("/api/v1/audit", params=bad)
        assert response.status_code == 400, bad


async def test_verify_answers_ok_or_names_the_break(client: httpx.AsyncClient, history: InMemoryHistory) -> None:
    history.links = chained([created("wf_1", "a"), updated("wf_1", "b", 2)])
    second = history.links[1]
    assert (await client.get("/api/v1/audit/verify")).json() == {"ok": True, "checked": 2}
    history.links[1] = replace(second, served=replace(second.served, sequence=3))
    body = (await client.get("/api/v1/audit/verify")).json()
    assert body["ok"] is False and body["checked"] == 2
    assert body["brokenAt"]["aggregateId"] == "wf_1" and body["brokenAt"]["sequence"] == 3
    assert body["brokenAt"]["eventId"] == second.event_id
    # A served column edited apart from the bytes: named, without any value.
    history.links[1] = replace(second, served=replace(second.served, payload={"forged": True}))
    body = (await client.get("/api/v1/audit/verify")).json()
    assert body == {
        "ok": False,
        "checked": 2,
        "brokenAt": {
            "aggregateId": "wf_1",
            "sequence": 2,
            "eventId": second.event_id,
            "reason": "the payload column does not match the event's stored bytes: the column, or the bytes, were"
            " changed",
        },
    }


async def test_history_routes_answer_503_when_the_database_is_down(
    client: httpx.AsyncClient, history: InMemoryHistory
) -> None:
    history.down = True
    for path in ("/api/v1/executions/ex_1/events", "/api/v1/workflows/wf_1/versions", "/api/v1/audit"):
        assert (await client.get(path)).status_code == 503, path
