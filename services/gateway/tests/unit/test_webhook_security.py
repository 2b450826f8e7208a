"""Signed deliveries, rotation, limits and the audit trail of refusals, through the HTTP app over in-memory ports."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from flowmatic_contracts.commands import CreateWorkflow, UpdateWorkflow
from flowmatic_contracts.envelope import SYSTEM, Envelope, encode, new_envelope
from flowmatic_contracts.events import WebhookRejected, WorkflowCreated, WorkflowUpdated
from flowmatic_contracts.workflow import WebhookBinding, WorkflowSpec
from flowmatic_gateway.adapters.in_memory import InMemoryBus, InMemoryRejectionLog, InMemoryWebhookDirectory
from flowmatic_gateway.adapters.kafka_rejections import KafkaRejectionLog
from flowmatic_gateway.domain.signatures import sign, sign_standard
from flowmatic_gateway.entrypoints.app import create_app
from flowmatic_gateway.entrypoints.dependencies import GatewayDeps
from flowmatic_gateway.ports import BrokerUnavailableError
from flowmatic_gateway.settings import Settings

Problem = Callable[[httpx.Response, int], dict[str, Any]]
SECRET = "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE="
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
URL = "/api/webhooks/wh_1"


def hook(
    deps: GatewayDeps,
    secret: str | None = SECRET,
    *,
    version: int = 1,
    at: float = NOW,
    methods: list[str] | None = None,
    active: bool = True,
    trigger: dict[str, Any] | None = None,
) -> Envelope:
    """A WorkflowCreated/Updated for webhook wh_1 with the secret encrypted as the orchestrator stores it."""
    spec = WorkflowSpec.model_validate(
        {"name": "w", "active": active, "nodes": [{"id": "trigger", "type": "webhook", "parameters": trigger or {}}]}
    )
    kind: type[WorkflowCreated | WorkflowUpdated] = WorkflowCreated if version == 1 else WorkflowUpdated
    payload = kind(
        spec=spec,
        webhooks=[
            WebhookBinding(
                webhook_id="wh_1", trigger_id="trigger", methods=methods or ["POST"], has_secret=secret is not None
            )
        ],
        encrypted_secrets={"trigger": deps.secrets.encrypt(secret)} if secret else {},
    )
    envelope = new_envelope(payload, aggregate_id="wf_1", actor=SYSTEM, sequence=version)
    return envelope.model_copy(update={"occurred_at": datetime.fromtimestamp(at, UTC)})


def standard(secret: str, body: bytes, *, at: float = NOW, message_id: str = "msg_1") -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at)),
        "webhook-signature": sign_standard(secret, message_id, int(at), body),
    }


def only_rejection(rejections: InMemoryRejectionLog) -> WebhookRejected:
    [envelope] = rejections.recorded
    rejections.recorded.clear()
    assert envelope.aggregate_id == "wh_1" and envelope.actor.kind == "webhook"
    return envelope.payload_as(WebhookRejected)


@pytest.fixture(autouse=True)
def frozen_clock(deps: GatewayDeps) -> None:
    deps.clock = lambda: NOW


BODY = b'{"order": "o-1", "note": "a body that must never reach the audit log"}'

UNSIGNED_VARIANTS: list[tuple[dict[str, str], str]] = [
    ({}, "signature_missing"),
    ({"X-Webhook-Signature": ""}, "signature_malformed"),
    ({"X-Webhook-Signature": "sha1=abc"}, "signature_malformed"),
    ({"X-Webhook-Signature": "sha256="}, "signature_invalid"),
    ({"X-Webhook-Signature": "sha256=zz"}, "signature_invalid"),
    ({"X-Webhook-Signature": sign("wrong", BODY)}, "signature_invalid"),
    ({"X-Webhook-Signature": sign(SECRET, BODY + b" ")}, "signature_invalid"),
    ({"webhook-signature": "v1,AAAA"}, "signature_malformed"),
    (standard(SECRET, BODY) | {"webhook-timestamp": "soon"}, "signature_malformed"),
    (standard(SECRET, BODY) | {"webhook-signature": ""}, "signature_malformed"),
    (standard(SECRET, BODY) | {"webhook-signature": "v1,\x7f\x01 v1,"}, "signature_invalid"),
    (standard(SECRET, BODY, at=NOW - 301), "timestamp_out_of_tolerance"),
    (standard(SECRET, BODY, at=NOW + 301), "timestamp_out_of_tolerance"),
    (standard("whsec_b3RoZXI=", BODY), "signature_invalid"),
    (standard(SECRET, BODY) | {"webhook-id": "msg_2"}, "signature_invalid"),
]


@pytest.mark.parametrize(("headers", "reason"), UNSIGNED_VARIANTS)
async def test_every_bad_signature_is_401_with_no_execution_and_an_audit_record(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deps: GatewayDeps,
    deliveries: InMemoryBus,
    rejections: InMemoryRejectionLog,
    problem: Problem,
    headers: dict[str, str],
    reason: str,
) -> None:
    directory.apply(hook(deps))
    response = await anon.post(URL, content=BODY, headers=headers | {"content-type": "application/json"})
    body = problem(response, 401)
    assert deliveries.sent == []
    assert SECRET not in response.text and "c2VjcmV0" not in response.text
    rejected = only_rejection(rejections)
    assert rejected.status == 401 and rejected.reason == reason and body["detail"]
    assert rejected.received_bytes == len(BODY) and rejected.method == "POST"


async def test_both_schemes_are_accepted(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deps: GatewayDeps,
    deliveries: InMemoryBus,
    rejections: InMemoryRejectionLog,
) -> None:
    directory.apply(hook(deps))
    signed = await anon.post(URL, content=BODY, headers={"X-Webhook-Signature": sign(SECRET, BODY)})
    assert signed.status_code == 200, signed.text
    within = await anon.post(URL, content=BODY, headers=standard(SECRET, BODY, at=NOW - 299, message_id="m2"))
    assert within.status_code == 200, within.text
    several = standard(SECRET, BODY, message_id="m3")
    several["webhook-signature"] = "v1,bm9wZQ== " + several["webhook-signature"]
    assert (await anon.post(URL, content=BODY, headers=several)).status_code == 200
    assert len(deliveries.sent) == 3 and rejections.recorded == []


async def test_rotation_accepts_both_secrets_until_the_previous_one_expires(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deps: GatewayDeps,
    deliveries: InMemoryBus,
    problem: Problem,
) -> None:
    old, new = "old-secret", "new-secret"
    directory.apply(hook(deps, old, at=NOW - 3600))
    directory.apply(hook(deps, new, version=2, at=NOW))  # the PUT that rotates: the old one lasts 24 h more

    def post(secret: str, at: float) -> Any:
        deps.clock = lambda: at
        return anon.post(URL, content=BODY, headers=standard(secret, BODY, at=at, message_id=f"{secret}{at}"))

    # phase 1: both secrets pass, with either scheme
    assert (await post(new, NOW + 60)).status_code == 200
    assert (await post(old, NOW + 60)).status_code == 200
    deps.clock = lambda: NOW + 86_399
    legacy_old = await anon.post(URL, content=BODY, headers={"X-Webhook-Signature": sign(old, BODY)})
    assert legacy_old.status_code == 200
    # phase 2: after the expiry only the current secret passes
    problem(await post(old, NOW + 86_400), 401)
    assert (await post(new, NOW + 86_400)).status_code == 200
    assert len(deliveries.sent) == 4


async def test_a_refusal_is_recorded_without_body_or_secret(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deps: GatewayDeps,
    rejections: InMemoryRejectionLog,
) -> None:
    directory.apply(hook(deps))
    await anon.post(URL, content=BODY, headers={"X-Webhook-Signature": sign("guess", BODY)})
    [envelope] = rejections.recorded
    raw = encode(envelope)
    assert b"a body that must never" not in raw and b"o-1" not in raw
    assert SECRET.encode() not in raw and b"c2VjcmV0" not in raw and sign("guess", BODY).encode() not in raw
    for ciphertext in hook(deps).payload_as(WorkflowCreated).encrypted_secrets.values():
        assert ciphertext.encode() not in raw
    rejected = envelope.payload_as(WebhookRejected)
    assert rejected.workflow_id == "wf_1" and rejected.source_address == "127.0.0.1"
    assert rejected.declared_bytes == len(BODY)


async def test_method_body_and_payload_refusals_are_recorded(
    anon: httpx.AsyncClient,
    directory: InMemoryWebhookDirectory,
    deps: GatewayDeps,
    deliveries: InMemoryBus,
    rejections: InMemoryRejectionLog,
    problem: Problem,
) -> None:
    directory.apply(hook(deps, None, trigger={"maxBodyBytes": 16}))
    problem(await anon.get(URL), 405)
    assert only_rejection(rejections).reason == "method_not_allowed"
    problem(await anon.post(URL, content=b"x" * 17), 413)
    too_large = only_rejection(rejections)
    assert too_large.reason == "body_too_large" and too_large.status == 413 and too_large.declared_bytes == 17
    problem(await anon.post(URL, content=b"{", headers={"content-type": "application/json"}), 400)
    assert only_rejection(rejections).reason == "malformed_body"
    directory.apply(hook(deps, None, version=2, active=False))
    problem(await anon.post(URL, content=b"{}"), 404)
    assert only_rejection(rejections).reason == "workflow_inactive"
    problem(await anon.post("/api/webhooks/wh_unknown", content=b"{}"), 404)
    assert rejections.recorded == [] and deliveries.sent == []  # made-up ids are not recorded


async def test_the_rate_limit_answers_429_with_retry_after(
    settings: Settings,
    deps: GatewayDeps,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    rejections: InMemoryRejectionLog,
    problem: Problem,
) -> None:
    directory.apply(hook(deps, None))
    limited = settings.model_copy(update={"webhook_rate_limit_per_second": 0.5, "webhook_rate_limit_burst": 2})
    transport = httpx.ASGITransport(app=create_app(limited, deps), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        assert [(await client.post(URL, json={})).status_code for _ in range(2)] == [200, 200]
        refused = await client.post(URL, json={})
        problem(refused, 429)
        assert refused.headers["retry-after"] == "2"
        assert only_rejection(rejections).reason == "rate_limited"
        deps.clock = lambda: NOW + 2
        assert (await client.post(URL, json={})).status_code == 200
    assert len(deliveries.sent) == 3


async def test_a_trigger_rate_limit_applies_with_the_global_one_off(
    anon: httpx.AsyncClient,
    settings: Settings,
    deps: GatewayDeps,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    rejections: InMemoryRejectionLog,
    problem: Problem,
) -> None:
    assert settings.webhook_rate_limit_per_second is None
    directory.apply(hook(deps, None, trigger={"rateLimitPerSecond": 0.25, "rateLimitBurst": 2}))
    assert [(await anon.post(URL, json={})).status_code for _ in range(2)] == [200, 200]
    refused = await anon.post(URL, json={})
    body = problem(refused, 429)
    assert refused.headers["retry-after"] == "4" and body["detail"]
    rejected = only_rejection(rejections)
    assert rejected.reason == "rate_limited" and rejected.status == 429 and rejected.webhook_id == "wh_1"
    deps.clock = lambda: NOW + 4
    assert (await anon.post(URL, json={})).status_code == 200
    assert len(deliveries.sent) == 3 and rejections.recorded == []


async def test_a_trigger_rate_limit_overrides_the_global_one(
    settings: Settings,
    deps: GatewayDeps,
    directory: InMemoryWebhookDirectory,
    rejections: InMemoryRejectionLog,
    problem: Problem,
) -> None:
    """Tighter or looser than the global limit, the trigger's own wins; other webhooks keep the global one."""
    directory.apply(hook(deps, None, trigger={"rateLimitPerSecond": 0.5}))  # burst: 1, the rate rounded up
    looser = WorkflowSpec.model_validate(
        {"name": "w2", "nodes": [{"id": "t", "type": "webhook", "parameters": {"rateLimitPerSecond": 20}}]}
    )
    binding = WebhookBinding(webhook_id="wh_2", trigger_id="t", methods=["POST"], has_secret=False)
    directory.apply(new_envelope(WorkflowCreated(spec=looser, webhooks=[binding]), aggregate_id="wf_2", actor=SYSTEM))
    global_limit = {"webhook_rate_limit_per_second": 5.0, "webhook_rate_limit_burst": 5}
    transport = httpx.ASGITransport(app=create_app(settings.model_copy(update=global_limit), deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        assert (await client.post(URL, json={})).status_code == 200
        refused = await client.post(URL, json={})
        problem(refused, 429)
        assert refused.headers["retry-after"] == "2"
        assert only_rejection(rejections).reason == "rate_limited"
        looser_answers = [(await client.post("/api/webhooks/wh_2", json={})).status_code for _ in range(21)]
        assert looser_answers == [200] * 20 + [429]
        assert rejections.recorded[-1].aggregate_id == "wh_2"


async def test_a_put_raising_the_trigger_rate_limit_lifts_it_for_the_next_delivery(
    anon: httpx.AsyncClient,
    api: httpx.AsyncClient,
    bus: InMemoryBus,
    deps: GatewayDeps,
    directory: InMemoryWebhookDirectory,
    rejections: InMemoryRejectionLog,
    problem: Problem,
) -> None:
    directory.apply(hook(deps, None, trigger={"rateLimitPerSecond": 0.01}))
    assert (await anon.post(URL, json={})).status_code == 200
    problem(await anon.post(URL, json={}), 429)
    assert only_rejection(rejections).reason == "rate_limited"

    accept_and_project = bus.on_send
    assert accept_and_project is not None

    def orchestrate(envelope: Envelope) -> None:
        # Play the orchestrator all the way: the accepted update reaches the routing table as WorkflowUpdated.
        command = envelope.payload_as(UpdateWorkflow)
        directory.apply(hook(deps, None, version=2, trigger=command.spec.nodes[0].parameters))
        accept_and_project(envelope)

    bus.on_send = orchestrate
    raised = {"name": "w", "nodes": [{"id": "trigger", "type": "webhook", "parameters": {"rateLimitPerSecond": 3}}]}
    saved = await api.put("/api/v1/workflows/wf_1", json=raised, headers={"If-Match": '"1"'})
    assert saved.status_code == 200, saved.text
    # the same instant: no token would have come back under the old limit, the new one starts with a full bucket
    assert [(await anon.post(URL, json={})).status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.mark.parametrize(
    ("parameters", "path"),
    [
        ({"rateLimitPerSecond": 0}, "rateLimitPerSecond"),
        ({"rateLimitPerSecond": "10"}, "rateLimitPerSecond"),
        ({"rateLimitPerSecond": "{{ $input.rate }}"}, "rateLimitPerSecond"),
        ({"rateLimitPerSecond": 1, "rateLimitBurst": 0}, "rateLimitBurst"),
        ({"rateLimitPerSecond": 1, "rateLimitBurst": 1.5}, "rateLimitBurst"),
        ({"rateLimitBurst": 3}, "rateLimitBurst"),
    ],
)
async def test_a_bad_trigger_rate_limit_is_422_when_saved(
    api: httpx.AsyncClient, bus: InMemoryBus, problem: Problem, parameters: dict[str, Any], path: str
) -> None:
    spec = {"name": "w", "nodes": [{"id": "trigger", "type": "webhook", "parameters": parameters}]}
    created = problem(await api.post("/api/v1/workflows", json=spec), 422)
    assert [e["path"] for e in created["errors"]] == [f"nodes[0].parameters.{path}"]
    updated = problem(await api.put("/api/v1/workflows/wf_1", json=spec, headers={"If-Match": '"1"'}), 422)
    assert updated["errors"] == created["errors"]
    assert bus.sent == []


async def test_no_rate_limit_by_default(
    anon: httpx.AsyncClient, directory: InMemoryWebhookDirectory, deps: GatewayDeps, settings: Settings
) -> None:
    assert settings.webhook_rate_limit_per_second is None
    directory.apply(hook(deps, None))
    answers = await asyncio.gather(*(anon.post(URL, json={}) for _ in range(50)))
    assert {a.status_code for a in answers} == {200}


async def test_the_body_limit_is_enforced_while_streaming(
    settings: Settings, deps: GatewayDeps, directory: InMemoryWebhookDirectory, rejections: InMemoryRejectionLog
) -> None:
    """A chunked body (no Content-Length) over the limit is refused after reading just past the limit."""
    directory.apply(hook(deps, None, trigger={"maxBodyBytes": 1000}))
    app = create_app(settings, deps)
    chunk, chunks_offered = b"x" * 100, 10_000  # 1 MB offered against a 1000-byte limit
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": chunk, "more_body": reads < chunks_offered}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"gateway.test"), (b"transfer-encoding", b"chunked")],
        "client": ("203.0.113.7", 5555),
        "server": ("gateway.test", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert reads <= 11  # 1100 bytes read out of 1,000,000
    rejected = only_rejection(rejections)
    assert rejected.received_bytes == 1100 and rejected.declared_bytes is None
    assert rejected.source_address == "203.0.113.7"


async def test_recording_never_waits_for_the_broker() -> None:
    """The Kafka rejection log queues at once and writes in the background; a failed write is only logged."""
    release, all_written = asyncio.Event(), asyncio.Event()
    written: list[Envelope] = []

    class SlowWriter:
        fail = False

        async def send(self, envelope: Envelope) -> None:
            await release.wait()
            if self.fail:
                raise BrokerUnavailableError("down")
            written.append(envelope)
            if len(written) == 2:
                all_written.set()

    writer = SlowWriter()
    log = KafkaRejectionLog(writer, capacity=2)
    await log.start()
    try:
        event = WebhookRejected(
            webhook_id="wh", workflow_id="wf", status=401, reason="signature_invalid", method="POST"
        )
        envelope = new_envelope(event, aggregate_id="wh", actor=SYSTEM)
        for _ in range(4):
            log.record(envelope)  # synchronous: it cannot wait for the broker, which has not answered
        assert written == [] and log.dropped == 2  # two queued, the rest over capacity
        release.set()
        await asyncio.wait_for(all_written.wait(), timeout=5)
        writer.fail = True
        log.record(envelope)
    finally:
        await log.stop()


def test_previous_secret_ttl_comes_from_the_settings(settings: Settings) -> None:
    assert settings.webhook_previous_secret_ttl_seconds == 86_400
    assert timedelta(seconds=settings.webhook_previous_secret_ttl_seconds) == timedelta(hours=24)


async def test_the_secret_never_reaches_a_response_a_log_line_or_a_message(
    api: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    bus: InMemoryBus,
    deliveries: InMemoryBus,
    directory: InMemoryWebhookDirectory,
    rejections: InMemoryRejectionLog,
    deps: GatewayDeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sentinel = "sentinel-secret-4f1c9e"
    spec = {"name": "w", "nodes": [{"id": "trigger", "type": "webhook", "parameters": {"secret": sentinel}}]}
    answers = [await api.post("/api/v1/workflows", json=spec)]
    too_long = {"name": "w", "nodes": [{"id": "t", "type": "webhook", "parameters": {"secret": sentinel * 100}}]}
    answers.append(await api.post("/api/v1/workflows", json=too_long))
    assert [a.status_code for a in answers] == [201, 422]
    # the routing table gets the ciphertext the orchestrator would have stored
    command = bus.sent[0].payload_as(CreateWorkflow)
    ciphertext = command.secrets["trigger"].ciphertext
    assert ciphertext is not None
    directory.apply(
        new_envelope(
            WorkflowCreated(
                spec=command.spec,
                webhooks=[WebhookBinding(webhook_id="wh_1", trigger_id="trigger", methods=["POST"], has_secret=True)],
                encrypted_secrets={"trigger": ciphertext},
            ),
            aggregate_id=bus.sent[0].aggregate_id,
            actor=SYSTEM,
            sequence=1,
        )
    )
    for headers in [{}, {"X-Webhook-Signature": "sha256=00"}, standard("wrong", BODY), standard(sentinel, BODY)]:
        answers.append(await anon.post(URL, content=BODY, headers=headers))
    answers.append(await anon.post(URL, content=BODY, headers={"X-Webhook-Signature": sign(sentinel, BODY)}))
    assert [a.status_code for a in answers[2:]] == [401, 401, 401, 200, 200]
    for answer in answers:
        assert sentinel not in answer.text and sentinel not in str(answer.headers)
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert sentinel not in logged
    for envelope in bus.sent + deliveries.sent + rejections.recorded:
        assert sentinel.encode() not in encode(envelope)
