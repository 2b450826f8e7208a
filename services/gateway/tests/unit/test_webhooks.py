"""The routing table folded from workflow events, and deliveries to /api/webhooks/{id}."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from flowmatic_contracts.envelope import SYSTEM, Envelope, new_envelope
from flowmatic_contracts.events import (
    ExecutionError,
    ExecutionFailed,
    ExecutionSucceeded,
    ResponseProduced,
    WebhookReceived,
    WorkflowCreated,
    WorkflowDeleted,
    WorkflowUpdated,
)
from flowmatic_contracts.workflow import WebhookBinding, WorkflowSpec
from flowmatic_gateway.adapters.in_memory import (
    AlwaysReady,
    InMemoryBus,
    InMemoryExecutions,
    InMemoryQuery,
    InMemoryWebhookDirectory,
)
from flowmatic_gateway.domain.deliveries import DeliveryIndex
from flowmatic_gateway.domain.routing import RoutingTable
from flowmatic_gateway.domain.signatures import sign, signature_matches
from flowmatic_gateway.domain.webhook_payload import build_payload
from flowmatic_gateway.entrypoints.dependencies import GatewayDeps
from flowmatic_gateway.ports import ExecutionSignal, ForwardedResponse

Problem = Callable[[httpx.Response, int], dict[str, Any]]


def spec(active: bool = True, trigger_parameters: dict[str, Any] | None = None) -> WorkflowSpec:
    return WorkflowSpec.model_validate(
        {
            "name": "w",
            "active": active,
            "nodes": [{"id": "trigger", "type": "webhook", "parameters": trigger_parameters or {}}],
        }
    )


def created(
    wid: str = "wf_1",
    hook: str = "wh_1",
    methods: list[str] | None = None,
    secret: str | None = None,
    active: bool = True,
    version: int = 1,
    updated: bool = False,
) -> Envelope:
    kind = WorkflowUpdated if updated else WorkflowCreated
    payload = kind(
        spec=spec(active),
        webhooks=[
            WebhookBinding(
                webhook_id=hook, trigger_id="trigger", methods=methods or ["POST", "GET"], has_secret=secret is not None
            )
        ],
        encrypted_secrets={"trigger": secret} if secret else {},
    )
    return new_envelope(payload, aggregate_id=wid, actor=SYSTEM, sequence=version)


def deleted(wid: str = "wf_1", hooks: list[str] | None = None) -> Envelope:
    return new_envelope(WorkflowDeleted(webhook_ids=hooks or ["wh_1"]), aggregate_id=wid, actor=SYSTEM, sequence=9)


def test_routing_table_follows_create_update_delete() -> None:
    table = RoutingTable()
    table.apply(created(secret="ct"))
    route = table.lookup("wh_1")
    assert route is not None and route.workflow_id == "wf_1" and route.workflow_version == 1
    assert route.methods == ("POST", "GET") and route.encrypted_secret == "ct" and route.active
    table.apply(created(hook="wh_2", version=2, updated=True, active=False))
    assert table.lookup("wh_1") is None  # the trigger's old webhook went away with the update
    route = table.lookup("wh_2")
    assert route is not None and route.workflow_version == 2 and not route.active and route.encrypted_secret is None
    table.apply(deleted(hooks=["wh_2"]))
    assert table.lookup("wh_2") is None and len(table) == 0


def test_signatures() -> None:
    header = sign("k", b"body")
    assert signature_matches("k", b"body", header)
    assert not signature_matches("k", b"body ", header)
    assert not signature_matches("j", b"body", header)
    assert not signature_matches("k", b"body", None)
    assert not signature_matches("k", b"body", header.removeprefix("sha256="))
    assert not signature_matches("k", b"body", "sha256=é")


def test_payload_of_a_json_object_with_redacted_headers() -> None:
    payload = build_payload(
        webhook_id="wh_1",
        trigger_id="trigger",
        method="post",
        headers=[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer x"),
            ("Cookie", "c"),
            ("X-A", "1"),
            ("x-a", "2"),
        ],
        query=[("q", "1"), ("q", "2")],
        content_type="application/json; charset=utf-8",
        body=b'{"customer_id": "c1", "data": {"amount": 9.5}}',
        received_at="2026-01-01T00:00:00Z",
    )
    assert payload["customer_id"] == "c1" and payload["data"] == {"amount": 9.5}
    hook = payload["_webhook"]
    assert hook["method"] == "POST" and hook["query"] == {"q": ["1", "2"]}
    assert hook["headers"] == {
        "content-type": "application/json",
        "authorization": "[redacted]",
        "cookie": "[redacted]",
        "x-a": "1, 2",
    }


def _payload(
    method: str, content_type: str | None, body: bytes, query: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    return build_payload(
        webhook_id="w", trigger_id="t", method=method, headers=[], query=query or [],
        content_type=content_type, body=body, received_at="now",
    )  # fmt: skip


def test_payload_of_other_bodies() -> None:
    assert _payload("GET", None, b"", [("a", "1"), ("b", "2"), ("b", "3")])["b"] == ["2", "3"]
    assert _payload("POST", "application/json", b"", [("a", "1")])["a"] == "1"
    assert _payload("POST", "application/x-www-form-urlencoded", b"x=1&y=&x=2")["x"] == ["1", "2"]
    assert _payload("POST", "application/json", b"[1, 2]")["body"] == [1, 2]
    assert _payload("POST", "text/plain", b"hello")["body"] == "hello"
    assert _payload("POST", "application/octet-stream", b"\x00\x01")["body"] == "AAE="


async def test_unknown_webhook_is_404_after_a_sync(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, problem: Problem
) -> None:
    problem(await anon.post("/api/webhooks/wh_nope", json={}), 404)
    assert directory.syncs == 1


async def test_deleted_or_inactive_webhook_is_404(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, problem: Problem
) -> None:
    directory.apply(created(active=False))
    problem(await anon.post("/api/webhooks/wh_1", json={}), 404)
    directory.apply(created(hook="wh_2", wid="wf_2"))
    directory.apply(deleted(wid="wf_2", hooks=["wh_2"]))
    problem(await anon.post("/api/webhooks/wh_2", json={}), 404)


async def test_method_not_listed_is_405_with_allow(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, problem: Problem
) -> None:
    directory.apply(created(methods=["POST"]))
    resp = await anon.get("/api/webhooks/wh_1")
    problem(resp, 405)
    assert resp.headers["allow"] == "POST"


async def test_signed_trigger_needs_a_valid_signature(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deps: GatewayDeps,
    deliveries: InMemoryBus,
    problem: Problem,
) -> None:
    directory.apply(created(secret=deps.secrets.encrypt("s3cr3t")))
    body = b'{"a": 1}'
    problem(await anon.post("/api/webhooks/wh_1", content=body), 401)
    problem(
        await anon.post("/api/webhooks/wh_1", content=body, headers={"X-Webhook-Signature": sign("wrong", body)}), 401
    )
    assert deliveries.sent == []
    resp = await anon.post(
        "/api/webhooks/wh_1",
        content=body,
        headers={"X-Webhook-Signature": sign("s3cr3t", body), "content-type": "application/json"},
    )
    assert resp.status_code == 200, resp.text


async def test_a_delivery_is_produced_before_the_200(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, deliveries: InMemoryBus
) -> None:
    directory.apply(created())
    resp = await anon.post("/api/webhooks/wh_1?src=x", json={"customer_id": "c1"}, headers={"Idempotency-Key": "k1"})
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    [envelope] = deliveries.sent
    received = envelope.payload_as(WebhookReceived)
    assert answer == {
        "status": "success",
        "message": "Webhook received and workflow triggered",
        "webhookId": "wh_1",
        "workflowId": "wf_1",
        "executionId": envelope.aggregate_id,
        "executionStatus": "RUNNING",
    }
    assert envelope.aggregate_id.startswith("ex_") and envelope.actor.kind == "webhook"
    assert received.workflow_version == 1 and received.trigger_id == "trigger" and received.idempotency_key == "k1"
    assert received.payload["customer_id"] == "c1" and received.payload["_webhook"]["query"] == {"src": "x"}


async def test_delivery_errors(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, deliveries: InMemoryBus, problem: Problem
) -> None:
    directory.apply(created())
    problem(await anon.post("/api/webhooks/wh_1", content=b"{", headers={"content-type": "application/json"}), 400)
    deliveries.unavailable = True
    problem(await anon.post("/api/webhooks/wh_1", json={}), 503)


async def test_delivery_body_limit(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, problem: Problem
) -> None:
    directory.apply(
        new_envelope(
            WorkflowCreated(
                spec=spec(trigger_parameters={"maxBodyBytes": 10}),
                webhooks=[WebhookBinding(webhook_id="wh_1", trigger_id="trigger", methods=["POST"], has_secret=False)],
            ),
            aggregate_id="wf_1",
            actor=SYSTEM,
            sequence=1,
        )
    )
    problem(await anon.post("/api/webhooks/wh_1", content=orjson.dumps({"long": "x" * 20})), 413)


async def test_readyz_reflects_broker_and_routes(
    anon: httpx.AsyncClient, deps: GatewayDeps, directory: InMemoryWebhookDirectory, problem: Problem
) -> None:
    assert (await anon.get("/readyz")).status_code == 200
    directory.caught_up = False
    problem(await anon.get("/readyz"), 503)
    directory.caught_up = True
    assert isinstance(deps.readiness, AlwaysReady)
    deps.readiness.is_ready = False
    problem(await anon.get("/readyz"), 503)
    assert (await anon.get("/healthz")).status_code == 200


async def test_a_repeated_idempotency_key_gets_the_original_answer(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, deliveries: InMemoryBus, query: InMemoryQuery
) -> None:
    directory.apply(created())
    directory.apply(created(wid="wf_2", hook="wh_2"))
    first = await anon.post("/api/webhooks/wh_1", json={}, headers={"Idempotency-Key": "k"})
    again = await anon.post("/api/webhooks/wh_1", json={"other": 1}, headers={"Idempotency-Key": "k"})
    by_webhook_id = await anon.post("/api/webhooks/wh_1", json={}, headers={"webhook-id": "k"})
    elsewhere = await anon.post("/api/webhooks/wh_2", json={}, headers={"Idempotency-Key": "k"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert by_webhook_id.json()["executionId"] == first.json()["executionId"]
    assert elsewhere.json()["executionId"] != first.json()["executionId"]  # keys are per webhook
    assert len(deliveries.sent) == 2
    assert query.syncs == 2  # each accepted delivery is readable before its 200


async def test_concurrent_duplicates_start_one_execution(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, deliveries: InMemoryBus, deps: GatewayDeps
) -> None:
    directory.apply(created())
    answers = await asyncio.gather(
        *(anon.post("/api/webhooks/wh_1", json={}, headers={"Idempotency-Key": "same"}) for _ in range(5))
    )
    assert {a.json()["executionId"] for a in answers} == {deliveries.sent[0].aggregate_id}
    assert len(deliveries.sent) == 1 and len(deps.delivery_locks) == 0


def test_the_deduplication_window_is_24_hours() -> None:
    index = DeliveryIndex()
    delivery = new_envelope(
        WebhookReceived(
            webhook_id="wh", workflow_id="wf", workflow_version=1, trigger_id="t", payload={}, idempotency_key="k",
            spec=spec(),
        ),
        aggregate_id="ex_1",
        actor=SYSTEM,
    )  # fmt: skip
    index.apply(delivery)
    assert index.find("wh", "k", delivery.occurred_at + timedelta(hours=23)) is not None
    assert index.find("wh", "k", delivery.occurred_at + timedelta(hours=25)) is None
    assert index.find("wh", "other", delivery.occurred_at) is None


def with_response_node(wid: str = "wf_r", hook: str = "wh_r", timeout: float | None = None) -> Envelope:
    trigger: dict[str, Any] = {"id": "trigger", "type": "webhook"}
    if timeout is not None:
        trigger["parameters"] = {"responseTimeoutSeconds": timeout}
    workflow = WorkflowSpec.model_validate(
        {
            "name": "sync",
            "nodes": [trigger, {"id": "reply", "type": "response"}],
            "connections": [{"from": "trigger", "to": "reply"}],
        }
    )
    return new_envelope(
        WorkflowCreated(
            spec=workflow,
            webhooks=[WebhookBinding(webhook_id=hook, trigger_id="trigger", methods=["POST"], has_secret=False)],
        ),
        aggregate_id=wid,
        actor=SYSTEM,
        sequence=1,
    )


def answering(executions: InMemoryExecutions, signal: ExecutionSignal) -> Callable[[Envelope], None]:
    """A stand-in orchestrator that answers each delivery at once with `signal`."""

    def on_send(envelope: Envelope) -> None:
        executions.deliver(envelope.aggregate_id, signal)

    return on_send


async def test_a_response_node_answers_the_caller(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    executions: InMemoryExecutions,
) -> None:
    directory.apply(with_response_node())
    deliveries.on_send = answering(
        executions, ResponseProduced(node_id="reply", status_code=201, headers={"X-Flow": "yes"}, body={"ok": True})
    )
    resp = await anon.post("/api/webhooks/wh_r", json={})
    assert resp.status_code == 201 and resp.json() == {"ok": True}
    assert resp.headers["x-flow"] == "yes" and resp.headers["content-type"] == "application/json"
    deliveries.on_send = answering(executions, ResponseProduced(node_id="reply", status_code=200, body="hello"))
    resp = await anon.post("/api/webhooks/wh_r", json={})
    assert resp.text == "hello" and resp.headers["content-type"].startswith("text/plain")
    assert executions.waiting == {}


async def test_a_failed_execution_is_500_with_its_id(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    executions: InMemoryExecutions,
    problem: Problem,
) -> None:
    directory.apply(with_response_node())
    deliveries.on_send = answering(executions, ExecutionFailed(error=ExecutionError(node_id="x", message="no stock")))
    body = problem(await anon.post("/api/webhooks/wh_r", json={}), 500)
    assert body["executionId"] == deliveries.sent[0].aggregate_id


async def test_finished_without_a_response_gives_the_standard_answer(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    executions: InMemoryExecutions,
) -> None:
    directory.apply(with_response_node())
    deliveries.on_send = answering(executions, ExecutionSucceeded(output={}))
    resp = await anon.post("/api/webhooks/wh_r", json={})
    assert resp.status_code == 200 and resp.json()["executionStatus"] == "SUCCEEDED"


async def test_no_response_in_time_is_504_with_the_execution_id(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, deliveries: InMemoryBus, problem: Problem
) -> None:
    directory.apply(with_response_node(timeout=0.05))
    body = problem(await anon.post("/api/webhooks/wh_r", json={}), 504)
    assert body["executionId"] == deliveries.sent[0].aggregate_id


async def test_concurrent_synchronous_waits_hold_no_thread_and_read_nothing(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    executions: InMemoryExecutions,
    query: InMemoryQuery,
) -> None:
    """100 callers wait at once; each is woken by its own execution's answer, delivered in reverse order, with no
    thread per waiting request and no read of the query side (only the one sync barrier each)."""
    directory.apply(with_response_node())
    calls = 100
    all_waiting = asyncio.Event()
    deliveries.on_send = lambda _: all_waiting.set() if len(executions.waiting) == calls else None
    threads_before = threading.active_count()

    async def answer_all() -> int:
        await all_waiting.wait()
        threads_while_waiting = threading.active_count()
        for envelope in reversed(deliveries.sent):
            n = envelope.payload_as(WebhookReceived).payload["n"]
            executions.deliver(envelope.aggregate_id, ResponseProduced(node_id="reply", status_code=200, body={"n": n}))
        return threads_while_waiting

    answerer = asyncio.create_task(answer_all())
    answers = await asyncio.gather(*(anon.post("/api/webhooks/wh_r", json={"n": n}) for n in range(calls)))
    assert [a.json() for a in answers] == [{"n": n} for n in range(calls)]
    assert await answerer == threads_before
    assert query.requests == [] and query.syncs == calls and executions.waiting == {}


def test_the_response_timeout_is_the_triggers_at_most_30_seconds() -> None:
    table = RoutingTable()
    table.apply(with_response_node(timeout=7))
    assert (route := table.lookup("wh_r")) is not None and route.response_timeout_seconds == 7
    table.apply(with_response_node(wid="wf_2", hook="wh_2", timeout=45))  # validation refuses it; never above 30
    assert (route := table.lookup("wh_2")) is not None and route.response_timeout_seconds == 30
    table.apply(with_response_node(wid="wf_3", hook="wh_3"))
    assert (route := table.lookup("wh_3")) is not None and route.response_timeout_seconds == 30


@pytest.mark.parametrize(
    ("signal", "syncs_after_the_end"),
    [
        (ResponseProduced(node_id="reply", status_code=200, body="ok"), 0),
        (ExecutionSucceeded(output={}), 1),
        (ExecutionFailed(error=ExecutionError(node_id="x", message="boom")), 1),
    ],
)
async def test_the_read_side_syncs_while_waiting_and_again_after_an_end_it_reports(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    executions: InMemoryExecutions,
    query: InMemoryQuery,
    monkeypatch: pytest.MonkeyPatch,
    signal: ExecutionSignal,
    syncs_after_the_end: int,
) -> None:
    """The sync barrier runs during the wait (off the critical path); an answer that reports the execution's end
    (SUCCEEDED, 500) syncs once more after it, so a GET right after shows that end."""
    directory.apply(with_response_node())
    order: list[str] = []

    async def sync() -> None:
        order.append("sync")

    monkeypatch.setattr(query, "sync", sync)

    def end_later(envelope: Envelope) -> None:
        async def end() -> None:
            await asyncio.sleep(0)  # after the waiter has started its early sync
            await asyncio.sleep(0)
            order.append("ended")
            executions.deliver(envelope.aggregate_id, signal)

        asyncio.get_running_loop().create_task(end())

    deliveries.on_send = end_later
    await anon.post("/api/webhooks/wh_r", json={})
    assert order[0] == "sync"  # started before the execution answered
    assert order[order.index("ended") + 1 :] == ["sync"] * syncs_after_the_end


def recorded(query: InMemoryQuery, execution_id: str, *events: tuple[str, dict[str, Any]]) -> None:
    """Make the fake query service serve this execution's history."""
    history = [{"type": "ExecutionStarted", "payload": {}}] + [{"type": t, "payload": p} for t, p in events]
    query.responses[f"/api/v1/executions/{execution_id}/events"] = (200, {"data": history})


async def test_a_repeated_synchronous_delivery_gets_the_original_response(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    executions: InMemoryExecutions,
    query: InMemoryQuery,
) -> None:
    directory.apply(with_response_node())
    deliveries.on_send = answering(
        executions, ResponseProduced(node_id="reply", status_code=201, headers={"X-Flow": "yes"}, body={"n": 1})
    )
    first = await anon.post("/api/webhooks/wh_r", json={}, headers={"Idempotency-Key": "k"})
    assert first.status_code == 201 and first.json() == {"n": 1}
    [sent] = deliveries.sent
    response = {"nodeId": "reply", "statusCode": 201, "headers": {"X-Flow": "yes"}, "body": {"n": 1}}
    recorded(
        query,
        sent.aggregate_id,
        ("StepSucceeded", {}),
        ("ResponseProduced", response),
        ("ExecutionSucceeded", {"output": {}}),
    )
    again = await anon.post("/api/webhooks/wh_r", json={"other": 2}, headers={"Idempotency-Key": "k"})
    assert (again.status_code, again.json(), again.headers["x-flow"]) == (201, {"n": 1}, "yes")
    assert len(deliveries.sent) == 1  # nothing started again
    assert executions.waiting == {}


async def test_a_repeated_delivery_of_a_failed_run_is_500_with_the_same_execution(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    executions: InMemoryExecutions,
    query: InMemoryQuery,
    problem: Problem,
) -> None:
    directory.apply(with_response_node())
    failed = ExecutionFailed(error=ExecutionError(node_id="boom", message="no stock"))
    deliveries.on_send = answering(executions, failed)
    first = problem(await anon.post("/api/webhooks/wh_r", json={}, headers={"Idempotency-Key": "k"}), 500)
    recorded(query, first["executionId"], ("ExecutionFailed", {"error": {"nodeId": "boom", "message": "no stock"}}))
    again = problem(await anon.post("/api/webhooks/wh_r", json={}, headers={"Idempotency-Key": "k"}), 500)
    assert again["executionId"] == first["executionId"]


async def test_a_repeat_of_a_delivery_still_running_waits_for_its_answer(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    executions: InMemoryExecutions,
    query: InMemoryQuery,
    problem: Problem,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory.apply(with_response_node(timeout=1))
    timed_out = problem(await anon.post("/api/webhooks/wh_r", json={}, headers={"Idempotency-Key": "k"}), 504)
    execution_id = timed_out["executionId"]
    recorded(query, execution_id)  # started, nothing answered yet

    read_history = query.get

    async def answers_after_the_history_was_read(path: str, query_string: str = "") -> ForwardedResponse:
        # The run answers only after the repeat has read an empty history: the wait must still catch it.
        found = await read_history(path, query_string)
        late = ResponseProduced(node_id="reply", status_code=200, body="late")
        asyncio.get_running_loop().call_soon(executions.deliver, execution_id, late)
        return found

    monkeypatch.setattr(query, "get", answers_after_the_history_was_read)
    again = await anon.post("/api/webhooks/wh_r", json={}, headers={"Idempotency-Key": "k"})
    assert (again.status_code, again.text) == (200, "late")
