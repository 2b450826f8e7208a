"""Workflow writes over HTTP: validation, the command sent, outcomes, read-back, failure answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow, UpdateWorkflow
from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import CommandRejected, FieldError
from flowmatic_gateway.adapters.in_memory import InMemoryBus, InMemoryOutcomes, InMemoryQuery, InMemoryWebhookDirectory
from flowmatic_gateway.adapters.secret_box import FernetSecretBox
from flowmatic_gateway.domain.preconditions import MalformedPreconditionError, expected_version
from flowmatic_gateway.entrypoints.dependencies import GatewayDeps
from flowmatic_gateway.ports import ForwardedResponse, QueryUnavailableError
from flowmatic_gateway.settings import Settings

Problem = Callable[[httpx.Response, int], dict[str, Any]]
SPEC: dict[str, Any] = {
    "name": "orders",
    "nodes": [{"id": "trigger", "type": "webhook", "parameters": {"secret": "s3cr3t"}}, {"id": "pass", "type": "noop"}],
    "connections": [{"from": "trigger", "to": "pass"}],
}


def sent(bus: InMemoryBus) -> Envelope:
    assert len(bus.sent) == 1, bus.sent
    return bus.sent[0]


async def test_create_sends_the_command_and_answers_the_read_model(
    api: httpx.AsyncClient,
    bus: InMemoryBus,
    query: InMemoryQuery,
    directory: InMemoryWebhookDirectory,
    deps: GatewayDeps,
) -> None:
    resp = await api.post("/api/v1/workflows", json=SPEC)
    assert resp.status_code == 201, resp.text
    envelope = sent(bus)
    command = envelope.payload_as(CreateWorkflow)
    wid = envelope.aggregate_id
    assert wid.startswith("wf_") and envelope.correlation_id.startswith("cor_")
    assert resp.headers["location"] == f"https://flowmatic.test/api/v1/workflows/{wid}"
    assert resp.json()["id"] == wid and resp.json()["version"] == 1
    # the secret left the spec and travels encrypted only
    assert "s3cr3t" not in envelope.model_dump_json()
    assert command.spec.nodes[0].parameters == {}
    change = command.secrets["trigger"]
    assert change.action == "set" and change.ciphertext is not None
    assert isinstance(deps.secrets, FernetSecretBox) and deps.secrets.decrypt(change.ciphertext) == "s3cr3t"
    # read-your-writes: both read sides were synced before answering
    assert query.syncs == 1 and directory.syncs == 1


async def test_update_carries_if_match_and_keeps_an_omitted_secret(api: httpx.AsyncClient, bus: InMemoryBus) -> None:
    spec = {**SPEC, "nodes": [{"id": "trigger", "type": "webhook"}, {"id": "pass", "type": "noop"}]}
    resp = await api.put("/api/v1/workflows/wf_1", json=spec, headers={"If-Match": '"4"'})
    assert resp.status_code == 200, resp.text
    command = sent(bus).payload_as(UpdateWorkflow)
    assert sent(bus).aggregate_id == "wf_1"
    assert command.expected_version == 4 and command.secrets["trigger"].action == "keep"


async def test_delete_is_204(api: httpx.AsyncClient, bus: InMemoryBus) -> None:
    resp = await api.delete("/api/v1/workflows/wf_9", headers={"If-Match": 'W/"2"'})
    assert resp.status_code == 204 and resp.content == b""
    assert sent(bus).payload_as(DeleteWorkflow).expected_version == 2


async def test_malformed_if_match_is_400(api: httpx.AsyncClient, bus: InMemoryBus, problem: Problem) -> None:
    problem(await api.put("/api/v1/workflows/wf_1", json=SPEC, headers={"If-Match": "v2"}), 400)
    problem(await api.delete("/api/v1/workflows/wf_1", headers={"If-Match": '"two"'}), 400)
    assert bus.sent == []


def test_if_match_forms() -> None:
    assert expected_version(None) is None and expected_version("*") is None
    assert expected_version('"3"') == expected_version('W/"3"') == expected_version("3") == 3
    for bad in ['"3', "three", '"1", "2"', "", "-1"]:
        with pytest.raises(MalformedPreconditionError):
            expected_version(bad)


async def test_rejection_is_answered_as_the_orchestrator_worded_it(
    api: httpx.AsyncClient, bus: InMemoryBus, outcomes: InMemoryOutcomes, problem: Problem
) -> None:
    def reject(envelope: Envelope) -> None:
        outcomes.deliver(
            envelope.correlation_id,
            CommandRejected(
                command_id=envelope.id,
                command_type=envelope.type,
                aggregate_id=envelope.aggregate_id,
                status=412,
                title="Precondition Failed",
                detail="the workflow is at version 2",
                errors=[FieldError(path="version", message="stale")],
            ),
        )

    bus.on_send = reject
    body = problem(await api.put("/api/v1/workflows/wf_1", json=SPEC, headers={"If-Match": "1"}), 412)
    assert body["title"] == "Precondition Failed" and body["detail"] == "the workflow is at version 2"
    assert body["errors"] == [{"path": "version", "message": "stale"}]


async def test_invalid_workflow_is_422_with_errors_and_sends_nothing(
    api: httpx.AsyncClient, bus: InMemoryBus, problem: Problem
) -> None:
    spec = {"name": "x", "nodes": [{"id": "a", "type": "teleport"}]}
    body = problem(await api.post("/api/v1/workflows", json=spec), 422)
    assert {e["path"] for e in body["errors"]} == {"nodes[0].type", "nodes"}
    assert bus.sent == []


async def test_broker_unavailable_is_503(api: httpx.AsyncClient, bus: InMemoryBus, problem: Problem) -> None:
    bus.unavailable = True
    problem(await api.post("/api/v1/workflows", json=SPEC), 503)


async def test_no_outcome_in_time_is_503_recorded_not_applied(
    api: httpx.AsyncClient, bus: InMemoryBus, settings: Settings, outcomes: InMemoryOutcomes, problem: Problem
) -> None:
    bus.on_send = None
    settings.command_timeout_seconds = 0.05
    body = problem(await api.post("/api/v1/workflows", json=SPEC), 503)
    assert "recorded" in body["detail"]
    assert outcomes.waiting == {}  # nothing left behind


async def test_read_side_down_after_accept_is_503(
    api: httpx.AsyncClient, query: InMemoryQuery, problem: Problem
) -> None:
    query.unavailable = True
    problem(await api.post("/api/v1/workflows", json=SPEC), 503)


async def test_query_dying_between_sync_and_read_back_is_503_not_500(
    api: httpx.AsyncClient, query: InMemoryQuery, problem: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in the crash test: the barrier passed, then the query service was killed before the read-back."""

    async def dies(path: str, query_string: str = "") -> ForwardedResponse:
        raise QueryUnavailableError("connection refused")

    monkeypatch.setattr(query, "get", dies)
    body = problem(await api.post("/api/v1/workflows", json=SPEC), 503)
    assert "connection refused" in body["detail"]


# ---- bodies ---------------------------------------------------------------------------------------------------


async def test_malformed_json_is_400(api: httpx.AsyncClient, problem: Problem) -> None:
    problem(
        await api.post("/api/v1/workflows", content=b'{"name": ', headers={"content-type": "application/json"}), 400
    )
    problem(await api.post("/api/v1/workflows", content=b""), 400)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_json_nested_deeper_than_100_is_400(api: httpx.AsyncClient, problem: Problem) -> None:
    body = problem(await api.post("/api/v1/workflows", content=b'{"name": ' + nested(100) + b"}"), 400)
    assert "100" in body["detail"]
    problem(await api.post("/api/v1/workflows", content=nested(5000)), 400)
    # 100 levels is allowed: past parsing, the document is merely invalid
    problem(await api.post("/api/v1/workflows", content=b'{"name": ' + nested(99) + b"}"), 422)


async def test_body_over_8_mib_is_413(api: httpx.AsyncClient, problem: Problem) -> None:
    problem(await api.post("/api/v1/workflows", content=b" " * (8 * 1024 * 1024 + 1)), 413)


async def test_body_over_8_mib_is_413_while_streaming(api: httpx.AsyncClient, problem: Problem) -> None:
    produced = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal produced
        for _ in range(64):
            produced += 1
            yield b" " * (1024 * 1024)

    problem(await api.post("/api/v1/workflows", content=chunks()), 413)
    assert produced < 64  # stopped reading early instead of buffering everything


# ---- forwarded reads ------------------------------------------------------------------------------------------


async def test_reads_are_forwarded_with_path_and_query(api: httpx.AsyncClient, query: InMemoryQuery) -> None:
    query.responses["/api/v1/workflows"] = (200, {"data": [], "nextCursor": None})
    resp = await api.get("/api/v1/workflows", params={"name": "a b", "limit": 2})
    assert resp.status_code == 200 and resp.json() == {"data": [], "nextCursor": None}
    assert query.requests == [("/api/v1/workflows", "name=a+b&limit=2")]
    resp = await api.get("/api/v1/executions/ex_1/events")
    assert resp.status_code == 404 and resp.headers["content-type"] == "application/problem+json"
    assert query.requests[-1] == ("/api/v1/executions/ex_1/events", "")


async def test_query_unreachable_is_503(api: httpx.AsyncClient, query: InMemoryQuery, problem: Problem) -> None:
    query.unavailable = True
    problem(await api.get("/api/v1/executions"), 503)


async def test_unexpected_errors_are_500_problems_without_a_trace(
    api: httpx.AsyncClient, query: InMemoryQuery, problem: Problem
) -> None:
    async def explode(path: str, query: str = "") -> ForwardedResponse:
        raise ZeroDivisionError("secret internals")

    query.get = explode  # type: ignore[method-assign]  # a fault injected into the fake
    body = problem(await api.get("/api/v1/workflows"), 500)
    assert "secret internals" not in str(body)
