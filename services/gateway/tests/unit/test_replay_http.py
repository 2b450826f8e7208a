"""POST /api/v1/executions/{id}/replay and POST /api/v1/executions/replay over in-memory ports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from flowmatic_contracts.commands import StartExecution
from flowmatic_contracts.envelope import SYSTEM, Envelope, new_envelope
from flowmatic_contracts.events import CommandAccepted, CommandRejected, WorkflowCreated, WorkflowDeleted
from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_gateway.adapters.in_memory import InMemoryBus, InMemoryOutcomes, InMemoryQuery, InMemoryWebhookDirectory
from flowmatic_gateway.domain.replay import MAX_BULK_REPLAY
from flowmatic_gateway.ports import ForwardedResponse

Problem = Callable[[httpx.Response, int], dict[str, Any]]

SPEC = WorkflowSpec.model_validate(
    {
        "name": "w",
        "nodes": [{"id": "start", "type": "manual"}, {"id": "a", "type": "set"}, {"id": "b", "type": "noop"}],
        "connections": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}],
    }
)
INPUT = {"x": 1, "_webhook": {"method": "POST"}}


class ListingQuery(InMemoryQuery):
    """Also answers `GET /api/v1/executions` page by page (by cursor), recording each query string."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, tuple[int, object]] = {}

    async def get(self, path: str, query: str = "") -> ForwardedResponse:
        if path != "/api/v1/executions":
            return await super().get(path, query)
        self.requests.append((path, query))
        cursor = parse_qs(query).get("cursor", [""])[0]
        status, body = self.pages[cursor]
        return ForwardedResponse(status, orjson.dumps(body), "application/json")


@pytest.fixture
def query() -> ListingQuery:
    return ListingQuery()


def history(execution_id: str, *, finished: bool = True) -> list[dict[str, Any]]:
    started = {
        "workflowId": "wf_1",
        "workflowVersion": 2,
        "mode": "manual",
        "triggerId": "start",
        "input": INPUT,
        "spec": SPEC.model_dump(mode="json", by_alias=True),
    }
    events: list[dict[str, Any]] = [
        {"type": "ExecutionStarted", "sequence": 1, "payload": started},
        {"type": "StepSucceeded", "sequence": 2, "payload": {"nodeId": "start", "attempt": 1, "output": INPUT}},
        {"type": "StepSucceeded", "sequence": 3, "payload": {"nodeId": "a", "attempt": 1, "output": {"a": 1}}},
    ]
    if finished:
        events.append({"type": "ExecutionSucceeded", "sequence": 4, "payload": {"output": {}}})
    return events


def record(query: InMemoryQuery, execution_id: str, *, finished: bool = True) -> None:
    query.responses[f"/api/v1/executions/{execution_id}/events"] = (
        200,
        {"data": history(execution_id, finished=finished)},
    )


@pytest.fixture
def accepting(bus: InMemoryBus, outcomes: InMemoryOutcomes) -> InMemoryBus:
    """The orchestrator's part: accept every StartExecution."""

    def accept(envelope: Envelope) -> None:
        outcomes.deliver(
            envelope.correlation_id,
            CommandAccepted(
                command_id=envelope.id, command_type=envelope.type, aggregate_id=envelope.aggregate_id, version=3
            ),
        )

    bus.on_send = accept
    return bus


def live(directory: InMemoryWebhookDirectory, spec: WorkflowSpec, version: int) -> None:
    directory.apply(
        new_envelope(WorkflowCreated(spec=spec, webhooks=[]), aggregate_id="wf_1", actor=SYSTEM, sequence=version)
    )


def started(bus: InMemoryBus) -> list[StartExecution]:
    return [envelope.payload_as(StartExecution) for envelope in bus.sent]


# ---- one ---------------------------------------------------------------------------------------------------------


async def test_a_replay_starts_a_new_execution_of_the_original(
    api: httpx.AsyncClient, accepting: InMemoryBus, query: ListingQuery
) -> None:
    record(query, "ex_orig")
    response = await api.post("/api/v1/executions/ex_orig/replay")
    assert response.status_code == 202, response.text
    [sent] = accepting.sent
    assert response.json() == {"executionId": sent.aggregate_id, "replayOf": "ex_orig", "status": "RUNNING"}
    assert sent.aggregate_id.startswith("ex_") and sent.aggregate_id != "ex_orig"
    assert response.headers["location"] == f"https://flowmatic.test/api/v1/executions/{sent.aggregate_id}"
    assert sent.actor.kind == "apiKey"
    command = sent.payload_as(StartExecution)
    assert (command.mode, command.replay_of, command.workflow_version, command.spec) == ("replay", "ex_orig", 2, SPEC)
    assert command.input == INPUT and command.trigger_id == "start" and command.reused_outputs == {}
    assert query.syncs == 2  # before reading the original, and after the start


async def test_from_node_and_latest(
    api: httpx.AsyncClient, accepting: InMemoryBus, query: ListingQuery, directory: InMemoryWebhookDirectory
) -> None:
    record(query, "ex_orig")
    changed = SPEC.model_copy(update={"name": "w v5"})
    live(directory, changed, 5)
    response = await api.post("/api/v1/executions/ex_orig/replay", json={"workflowVersion": "latest", "fromNode": "b"})
    assert response.status_code == 202, response.text
    [command] = started(accepting)
    assert command.workflow_version == 5 and command.spec == changed
    assert command.reused_outputs == {"a": {"output": {"a": 1}, "outputName": "main"}}
    assert directory.syncs >= 1  # the latest definition was read after catching up with the log


async def test_replay_refusals(
    api: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    accepting: InMemoryBus,
    query: ListingQuery,
    directory: InMemoryWebhookDirectory,
    problem: Problem,
) -> None:
    record(query, "ex_done")
    record(query, "ex_running", finished=False)
    problem(await api.post("/api/v1/executions/ex_unknown/replay"), 404)
    problem(await api.post("/api/v1/executions/ex_running/replay"), 409)
    unknown = problem(await api.post("/api/v1/executions/ex_done/replay", json={"fromNode": "ghost"}), 422)
    assert unknown["errors"][0]["path"] == "fromNode"
    problem(await api.post("/api/v1/executions/ex_done/replay", json={"fromNode": "start"}), 422)
    problem(await api.post("/api/v1/executions/ex_done/replay", json={"workflowVersion": "newest"}), 422)
    problem(await api.post("/api/v1/executions/ex_done/replay", content=b"{"), 400)
    # Deleted workflow on "latest": 409, the original version still replays.
    live(directory, SPEC, 1)
    directory.apply(new_envelope(WorkflowDeleted(webhook_ids=[]), aggregate_id="wf_1", actor=SYSTEM, sequence=2))
    deleted = problem(await api.post("/api/v1/executions/ex_done/replay", json={"workflowVersion": "latest"}), 409)
    assert "deleted" in deleted["detail"]
    token = (
        await anon.post("/api/v1/auth/token", json={"apiKey": "test-admin-key", "scopes": ["executions:read"]})
    ).json()
    denied = await anon.post(
        "/api/v1/executions/ex_done/replay", headers={"Authorization": f"Bearer {token['accessToken']}"}
    )
    problem(denied, 403)
    problem(await anon.post("/api/v1/executions/ex_done/replay"), 401)
    assert accepting.sent == []
    assert (
        await api.post("/api/v1/executions/ex_done/replay", json={"workflowVersion": "original"})
    ).status_code == 202


async def test_a_rejected_start_is_answered_with_its_status(
    api: httpx.AsyncClient, bus: InMemoryBus, outcomes: InMemoryOutcomes, query: ListingQuery, problem: Problem
) -> None:
    record(query, "ex_orig")

    def reject(envelope: Envelope) -> None:
        outcomes.deliver(
            envelope.correlation_id,
            CommandRejected(
                command_id=envelope.id,
                command_type=envelope.type,
                aggregate_id=envelope.aggregate_id,
                status=409,
                title="Conflict",
                detail="taken",
            ),
        )

    bus.on_send = reject
    problem(await api.post("/api/v1/executions/ex_orig/replay"), 409)


# ---- bulk --------------------------------------------------------------------------------------------------------


def summaries(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"id": execution_id, "workflowId": "wf_1", "status": status} for execution_id, status in pairs]


async def test_bulk_dry_run_lists_the_finished_matches_across_pages(
    api: httpx.AsyncClient, accepting: InMemoryBus, query: ListingQuery
) -> None:
    query.pages[""] = (200, {"data": summaries(("ex_1", "FAILED"), ("ex_2", "RUNNING")), "nextCursor": "c2"})
    query.pages["c2"] = (200, {"data": summaries(("ex_3", "SUCCEEDED")), "nextCursor": None})
    body = {"workflowId": "wf_1", "since": "2026-01-01T00:00:00Z", "dryRun": True}
    response = await api.post("/api/v1/executions/replay", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"count": 2, "executionIds": ["ex_1", "ex_3"]}
    assert accepting.sent == []
    first = parse_qs(query.requests[0][1])
    assert first == {"workflowId": ["wf_1"], "since": ["2026-01-01T00:00:00Z"], "limit": ["200"]}
    assert parse_qs(query.requests[1][1])["cursor"] == ["c2"]


async def test_bulk_replays_each_match(api: httpx.AsyncClient, accepting: InMemoryBus, query: ListingQuery) -> None:
    query.pages[""] = (200, {"data": summaries(("ex_1", "FAILED"), ("ex_2", "RUNNING"), ("ex_3", "FAILED"))})
    record(query, "ex_1")
    record(query, "ex_3")
    response = await api.post("/api/v1/executions/replay", json={"workflowId": "wf_1", "status": "FAILED"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["count"] == 2 and "failed" not in body
    sent = {envelope.payload_as(StartExecution).replay_of: envelope.aggregate_id for envelope in accepting.sent}
    assert set(sent) == {"ex_1", "ex_3"}
    assert body["executionIds"] == [sent["ex_1"], sent["ex_3"]]  # in the order of the originals
    assert all(command.mode == "replay" and command.input == INPUT for command in started(accepting))


async def test_bulk_refusals(
    api: httpx.AsyncClient, accepting: InMemoryBus, query: ListingQuery, problem: Problem
) -> None:
    problem(await api.post("/api/v1/executions/replay", json={}), 422)
    problem(await api.post("/api/v1/executions/replay", json={"workflowId": "wf_1", "status": "RUNNING"}), 422)
    problem(await api.post("/api/v1/executions/replay"), 400)
    query.pages[""] = (400, {"status": 400, "detail": "bad since", "errors": [{"path": "since", "message": "bad"}]})
    relayed = problem(await api.post("/api/v1/executions/replay", json={"workflowId": "wf_1", "since": "x"}), 422)
    assert relayed["errors"] == [{"path": "since", "message": "bad"}]
    too_many = summaries(*((f"ex_{i}", "FAILED") for i in range(MAX_BULK_REPLAY + 1)))
    query.pages[""] = (200, {"data": too_many})
    problem(await api.post("/api/v1/executions/replay", json={"workflowId": "wf_1", "dryRun": True}), 422)
    query.pages[""] = (200, {"data": summaries(("ex_1", "FAILED"))})
    record(query, "ex_1")
    deleted = await api.post("/api/v1/executions/replay", json={"workflowId": "wf_1", "workflowVersion": "latest"})
    problem(deleted, 409)  # no live workflow wf_1 in the routing table
    assert accepting.sent == []


async def test_bulk_reports_the_replays_that_could_not_start(
    api: httpx.AsyncClient, accepting: InMemoryBus, query: ListingQuery
) -> None:
    query.pages[""] = (200, {"data": summaries(("ex_1", "FAILED"), ("ex_gone", "FAILED"))})
    record(query, "ex_1")
    response = await api.post("/api/v1/executions/replay", json={"workflowId": "wf_1"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["count"] == 1 and body["executionIds"] == [accepting.sent[0].aggregate_id]
    assert body["failed"] == [{"executionId": "ex_gone", "status": 404, "detail": "no execution 'ex_gone'"}]


async def test_a_get_on_the_replay_path_names_the_allowed_method(api: httpx.AsyncClient, problem: Problem) -> None:
    response = await api.get("/api/v1/executions/ex_1/replay")
    problem(response, 405)
    assert response.headers["allow"] == "POST"
