"""The HTTP routes over in-memory fakes of the ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from flowmatic_query.domain.executions import ExecutionRecord, StepRecord
from flowmatic_query.entrypoints.http import AppDependencies, create_app
from flowmatic_query.entrypoints.sync_barrier import ProjectorNotReadyError
from flowmatic_query.testing.fakes import FixedReadiness, InMemoryHistory, InMemoryReadModel, ScriptedSyncBarrier


def _document(workflow_id: str, name: str, *, active: bool = True) -> dict[str, object]:
    return {
        "id": workflow_id,
        "name": name,
        "description": None,
        "active": active,
        "nodes": [{"id": "trigger", "type": "webhook", "parameters": {}}],
        "connections": [],
        "version": 1,
        "createdAt": "2026-02-08T12:00:00.000Z",
        "updatedAt": "2026-02-08T12:00:00.000Z",
        "webhooks": [
            {"webhookId": f"wh_{workflow_id}", "triggerId": "trigger", "methods": ["POST"], "hasSecret": False}
        ],
    }


@dataclass
class App:
    client: httpx.AsyncClient
    read_model: InMemoryReadModel
    history: InMemoryHistory
    barrier: ScriptedSyncBarrier
    readiness: FixedReadiness


@pytest.fixture
async def app() -> AsyncIterator[App]:
    read_model, barrier, readiness = InMemoryReadModel(), ScriptedSyncBarrier(), FixedReadiness()
    history = InMemoryHistory()
    asgi = create_app(
        AppDependencies(
            read_model=read_model,
            history=history,
            sync_barrier=barrier,
            projector=readiness,
            public_url="https://flow.example",
        )
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://query.test") as client:
        yield App(client, read_model, history, barrier, readiness)


def _assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and "detail" in body


async def test_get_serves_the_document_with_webhook_urls(app: App) -> None:
    app.read_model.documents["wf_1"] = _document("wf_1", "one")
    answer = await app.client.get("/api/v1/workflows/wf_1")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["webhooks"][0]["url"] == "https://flow.example/api/webhooks/wh_wf_1"


async def test_unknown_and_deleted_workflows_are_404_problems(app: App) -> None:
    app.read_model.documents["wf_1"] = _document("wf_1", "one")
    app.read_model.deleted.add("wf_1")
    _assert_problem(await app.client.get("/api/v1/workflows/wf_1"), 404)
    _assert_problem(await app.client.get("/api/v1/workflows/nope"), 404)
    _assert_problem(await app.client.get("/no/such/route"), 404)


async def test_list_pages_and_filters(app: App) -> None:
    for i in range(5):
        app.read_model.documents[f"wf_{i}"] = _document(f"wf_{i}", f"Name {i}", active=i % 2 == 0)
    first = (await app.client.get("/api/v1/workflows", params={"limit": "2"})).json()
    assert [w["id"] for w in first["data"]] == ["wf_4", "wf_3"]
    second = (await app.client.get("/api/v1/workflows", params={"limit": "2", "cursor": first["nextCursor"]})).json()
    assert [w["id"] for w in second["data"]] == ["wf_2", "wf_1"]
    third = (await app.client.get("/api/v1/workflows", params={"limit": "2", "cursor": second["nextCursor"]})).json()
    assert third == {
        "data": [_document("wf_0", "Name 0") | {"webhooks": [third["data"][0]["webhooks"][0]]}],
        "nextCursor": None,
    }
    inactive = (await app.client.get("/api/v1/workflows", params={"active": "false"})).json()
    assert [w["id"] for w in inactive["data"]] == ["wf_3", "wf_1"]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "x"}, {"cursor": "%%%"}, {"active": "maybe"}])
async def test_bad_list_parameters_are_400(app: App, params: dict[str, str]) -> None:
    answer = await app.client.get("/api/v1/workflows", params=params)
    _assert_problem(answer, 400)
    assert answer.json()["errors"][0]["path"] in params


async def test_database_outage_is_503(app: App) -> None:
    app.read_model.down = True
    _assert_problem(await app.client.get("/api/v1/workflows/wf_1"), 503)
    _assert_problem(await app.client.get("/api/v1/workflows"), 503)
    _assert_problem(await app.client.get("/readyz"), 503)
    assert (await app.client.get("/healthz")).status_code == 200


async def test_readiness(app: App) -> None:
    assert (await app.client.get("/readyz")).status_code == 200
    app.readiness.ready = False
    _assert_problem(await app.client.get("/readyz"), 503)


async def test_sync_answers(app: App) -> None:
    assert (await app.client.post("/internal/sync")).status_code == 200
    app.barrier.hang = True
    _assert_problem(await app.client.post("/internal/sync", params={"timeoutMs": "20"}), 503)
    app.barrier.hang = False
    app.barrier.error = ProjectorNotReadyError("not running")
    _assert_problem(await app.client.post("/internal/sync"), 503)
    app.barrier.error = ConnectionError("broker down")
    _assert_problem(await app.client.post("/internal/sync"), 503)
    _assert_problem(await app.client.post("/internal/sync", params={"timeoutMs": "0"}), 400)
    _assert_problem(await app.client.post("/internal/sync", params={"timeoutMs": "1.5"}), 400)


def _execution(execution_id: str, *, workflow_id: str = "wf_1", status: str = "SUCCEEDED") -> ExecutionRecord:
    started = datetime(2026, 2, 8, 12, 0, tzinfo=UTC)
    return ExecutionRecord(
        id=execution_id,
        workflow_id=workflow_id,
        workflow_version=1,
        status=status,
        mode="webhook",
        trigger_id="trigger",
        replay_of=None,
        error=None,
        started_at=started,
        finished_at=None,
        input={"text": "a\u0000b"},
        output={"done": True},
        steps=(StepRecord("trigger", "webhook", "SUCCEEDED", 1, started, started, {"text": "a\u0000b"}, None),),
    )


async def test_get_execution_serves_it_with_steps(app: App) -> None:
    app.read_model.executions["ex_1"] = _execution("ex_1")
    answer = await app.client.get("/api/v1/executions/ex_1")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["input"] == {"text": "a\u0000b"} and body["steps"][0]["nodeId"] == "trigger"
    assert b'"a\\u0000b"' in answer.content
    _assert_problem(await app.client.get("/api/v1/executions/ex_nope"), 404)


async def test_execution_list_pages_filters_and_leaves_out_bulky_fields(app: App) -> None:
    for i in range(5):
        app.read_model.executions[f"ex_{i}"] = _execution(f"ex_{i}", status="FAILED" if i % 2 else "SUCCEEDED")
    app.read_model.executions["ex_9"] = _execution("ex_9", workflow_id="wf_2")
    first = (await app.client.get("/api/v1/executions", params={"workflowId": "wf_1", "limit": "2"})).json()
    assert [e["id"] for e in first["data"]] == ["ex_4", "ex_3"]
    assert all({"input", "output", "steps"}.isdisjoint(e) for e in first["data"])
    rest = await app.client.get("/api/v1/executions", params={"workflowId": "wf_1", "cursor": first["nextCursor"]})
    assert [e["id"] for e in rest.json()["data"]] == ["ex_2", "ex_1", "ex_0"] and rest.json()["nextCursor"] is None
    failed = (await app.client.get("/api/v1/executions", params={"status": "FAILED"})).json()
    assert [e["id"] for e in failed["data"]] == ["ex_3", "ex_1"]


@pytest.mark.parametrize(
    "params",
    [{"status": "done"}, {"since": "now"}, {"until": "2026-02-08T12:00:00"}, {"limit": "-1"}, {"cursor": "@@"}],
)
async def test_bad_execution_list_parameters_are_400(app: App, params: dict[str, str]) -> None:
    answer = await app.client.get("/api/v1/executions", params=params)
    _assert_problem(answer, 400)
    assert answer.json()["errors"][0]["path"] in params


async def test_execution_reads_answer_503_when_the_database_is_down(app: App) -> None:
    app.read_model.down = True
    _assert_problem(await app.client.get("/api/v1/executions/ex_1"), 503)
    _assert_problem(await app.client.get("/api/v1/executions"), 503)
