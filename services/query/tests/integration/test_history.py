"""Histories, the audit log and chain verification, projected from the real broker into PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flowmatic_contracts.envelope import Actor, Envelope, encode, new_envelope
from flowmatic_contracts.events import CommandAccepted, CommandRejected, WebhookRejected
from flowmatic_query.domain.chain import event_hash
from flowmatic_query.testing.envelopes import SECRET_CIPHERTEXT, T0, created, deleted, updated
from flowmatic_query.testing.executions import ExecutionHistory
from flowmatic_query.testing.harness import EventWriter, Harness

pytestmark = pytest.mark.integration

ADMIN = Actor(kind="apiKey", id="admin")


def accepted(command_type: str, aggregate_id: str, *, seconds: int = 0, actor: Actor = ADMIN) -> Envelope:
    payload = CommandAccepted(command_id="msg_cmd", command_type=command_type, aggregate_id=aggregate_id, version=1)
    return new_envelope(payload, aggregate_id=aggregate_id, actor=actor, occurred_at=T0 + timedelta(seconds=seconds))


async def test_versions_and_documents_survive_deletion(harness: Harness, writer: EventWriter) -> None:
    await writer.write(created("wf_1", "first"), updated("wf_1", "second", 2), deleted("wf_1", 3))
    await harness.start()
    await harness.synced()
    async with harness.client() as client:
        versions = (await client.get("/api/v1/workflows/wf_1/versions")).json()
        assert versions == {
            "data": [
                {
                    "version": 1,
                    "createdAt": "2026-02-08T12:00:00.000Z",
                    "actor": {"kind": "apiKey", "id": "key_test"},
                    "change": "created",
                },
                {
                    "version": 2,
                    "createdAt": "2026-02-08T12:02:00.000Z",
                    "actor": {"kind": "apiKey", "id": "key_test"},
                    "change": "updated",
                },
                {
                    "version": 3,
                    "createdAt": "2026-02-08T12:03:00.000Z",
                    "actor": {"kind": "apiKey", "id": "key_test"},
                    "change": "deleted",
                },
            ],
            "nextCursor": None,
        }
        first = await client.get("/api/v1/workflows/wf_1/versions/1")
        assert first.status_code == 200
        assert SECRET_CIPHERTEXT not in first.text
        document = first.json()
        assert (document["name"], document["version"]) == ("first", 1)
        assert document["webhooks"] == [
            {
                "webhookId": "wh_wf_1",
                "triggerId": "trigger",
                "url": "http://flowmatic.test/api/webhooks/wh_wf_1",
                "methods": ["POST"],
                "hasSecret": True,
            }
        ]
        last = (await client.get("/api/v1/workflows/wf_1/versions/3")).json()
        assert (last["name"], last["version"], last["updatedAt"]) == ("second", 3, "2026-02-08T12:03:00.000Z")
        assert (await client.get("/api/v1/workflows/wf_1")).status_code == 404
        assert (await client.get("/api/v1/workflows/wf_1/versions/4")).status_code == 404
        assert (await client.get("/api/v1/workflows/wf_2/versions")).status_code == 404
        page = (await client.get("/api/v1/workflows/wf_1/versions", params={"limit": 2})).json()
        assert [v["version"] for v in page["data"]] == [1, 2]
        rest = await client.get("/api/v1/workflows/wf_1/versions", params={"cursor": page["nextCursor"]})
        assert [v["version"] for v in rest.json()["data"]] == [3]


async def test_an_executions_events_start_with_its_delivery_and_leave_out_outcomes(
    harness: Harness, writer: EventWriter
) -> None:
    run = ExecutionHistory("wf_1", execution_id="ex_1")
    delivery = run.webhook_received({"amount": 7})
    events = run.happy_path({"amount": 7})
    # Written in the opposite order to the one served: the delivery last, an outcome about the same id between.
    await writer.write(*events, topic=writer.topics.execution_events)
    await writer.write(accepted("StartExecution", "ex_1"), topic=writer.topics.outcomes)
    await writer.write(delivery, topic=writer.topics.webhooks)
    await harness.start()
    await harness.synced()
    async with harness.client() as client:
        response = await client.get("/api/v1/executions/ex_1/events")
        assert response.status_code == 200
        data = response.json()["data"]
        assert [e["id"] for e in data] == [delivery.id, *(e.id for e in events)]
        assert [e["sequence"] for e in data] == list(range(9))
        assert data[0]["type"] == "WebhookReceived" and data[0]["payload"]["payload"] == {"amount": 7}
        assert data[1] == {
            "id": events[0].id,
            "type": "ExecutionStarted",
            "sequence": 1,
            "occurredAt": "2026-02-08T12:00:01.000Z",
            "actor": {"kind": "system", "id": "flowmatic"},
            "correlationId": events[0].correlation_id,
            "causationId": None,
            "payload": events[0].payload.model_dump(mode="json", by_alias=True),
        }
        assert (await client.get("/api/v1/executions/ex_unknown/events")).status_code == 404


async def test_audit_records_commands_and_deliveries_and_marks_replays_in_either_order(
    harness: Harness, writer: EventWriter
) -> None:
    rejected = CommandRejected(
        command_id="msg_c",
        command_type="DeleteWorkflow",
        aggregate_id="wf_9",
        status=404,
        title="Not Found",
        detail="workflow wf_9 does not exist",
    )
    refused = WebhookRejected(
        webhook_id="wh_1", workflow_id="wf_1", status=401, reason="signature_invalid", method="POST"
    )
    hook = Actor(kind="webhook", id="wh_1")
    early = ExecutionHistory("wf_1", execution_id="ex_early")  # ExecutionStarted projected before its outcome
    late = ExecutionHistory("wf_1", execution_id="ex_late")  # ... and after it
    run = ExecutionHistory("wf_1", execution_id="ex_run", start=T0 + timedelta(seconds=5))
    await writer.write(early.started({}, mode="replay", replay_of="ex_run"), topic=writer.topics.execution_events)
    await writer.write(
        accepted("CreateWorkflow", "wf_1", seconds=1),
        new_envelope(rejected, aggregate_id="wf_9", actor=ADMIN, occurred_at=T0 + timedelta(seconds=2)),
        accepted("StartExecution", "ex_early", seconds=3),
        accepted("StartExecution", "ex_late", seconds=4),
        topic=writer.topics.outcomes,
    )
    await writer.write(
        run.webhook_received({}),
        new_envelope(refused, aggregate_id="wh_1", actor=hook, occurred_at=T0 + timedelta(seconds=6)),
        topic=writer.topics.webhooks,
    )
    await harness.start()
    await harness.synced()
    await writer.write(late.started({}, mode="replay", replay_of="ex_run"), topic=writer.topics.execution_events)
    await harness.synced()
    async with harness.client() as client:
        everything = (await client.get("/api/v1/audit")).json()
        assert everything["nextCursor"] is None
        assert [(e["action"], e["aggregateId"], e["outcome"], e.get("reason")) for e in everything["data"]] == [
            ("webhook.deliver", "wh_1", "rejected", "401 signature_invalid"),
            ("webhook.deliver", "ex_run", "accepted", None),
            ("execution.replay", "ex_late", "accepted", None),
            ("execution.replay", "ex_early", "accepted", None),
            ("workflow.delete", "wf_9", "rejected", "404 Not Found: workflow wf_9 does not exist"),
            ("workflow.create", "wf_1", "accepted", None),
        ]
        assert everything["data"][0]["actor"] == {"kind": "webhook", "id": "wh_1"}
        by_admin = (await client.get("/api/v1/audit", params={"actor": "apiKey:admin"})).json()["data"]
        assert len(by_admin) == 4 and all(e["actor"] == {"kind": "apiKey", "id": "admin"} for e in by_admin)
        assert len((await client.get("/api/v1/audit", params={"actor": "admin"})).json()["data"]) == 4
        window = {"since": "2026-02-08T12:00:02Z", "until": "2026-02-08T12:00:03Z"}
        assert [e["aggregateId"] for e in (await client.get("/api/v1/audit", params=window)).json()["data"]] == [
            "ex_early",
            "wf_9",
        ]
        pages: list[str] = []
        cursor = None
        while True:
            params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/v1/audit", params=params)).json()
            pages.extend(e["aggregateId"] for e in page["data"])
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert pages == [e["aggregateId"] for e in everything["data"]]


async def test_a_start_outcome_is_audited_by_its_command_mode_whatever_execution_holds_its_id(
    harness: Harness, writer: EventWriter
) -> None:
    def start_outcome(execution_id: str, mode: str, seconds: int, *, rejected: bool) -> Envelope:
        payload: CommandAccepted | CommandRejected
        if rejected:
            detail = f"execution {execution_id} already exists"
            payload = CommandRejected(
                command_id=f"msg_{seconds}",
                command_type="StartExecution",
                aggregate_id=execution_id,
                status=409,
                title="Conflict",
                detail=detail,
                mode=mode,
            )
        else:
            payload = CommandAccepted(
                command_id=f"msg_{seconds}",
                command_type="StartExecution",
                aggregate_id=execution_id,
                version=1,
                mode=mode,
            )
        return new_envelope(
            payload, aggregate_id=execution_id, actor=ADMIN, occurred_at=T0 + timedelta(seconds=seconds)
        )

    manual = ExecutionHistory("wf_1", execution_id="ex_manual")
    replay = ExecutionHistory("wf_1", execution_id="ex_replay")
    # One execution's start is projected before its outcomes, the other's after: neither may rename them.
    await writer.write(manual.started({}), topic=writer.topics.execution_events)
    await writer.write(
        start_outcome("ex_manual", "manual", 1, rejected=False),
        start_outcome("ex_manual", "replay", 2, rejected=True),
        start_outcome("ex_replay", "replay", 3, rejected=False),
        start_outcome("ex_replay", "manual", 4, rejected=True),
        topic=writer.topics.outcomes,
    )
    await harness.start()
    await harness.synced()
    await writer.write(replay.started({}, mode="replay", replay_of="ex_manual"), topic=writer.topics.execution_events)
    await harness.synced()
    async with harness.client() as client:
        data = (await client.get("/api/v1/audit")).json()["data"]
        assert [(e["action"], e["aggregateId"], e["outcome"]) for e in data] == [
            ("execution.start", "ex_replay", "rejected"),
            ("execution.replay", "ex_replay", "accepted"),
            ("execution.replay", "ex_manual", "rejected"),
            ("execution.start", "ex_manual", "accepted"),
        ]
        replays = await client.get("/api/v1/audit", params={"action": "execution.replay", "outcome": "rejected"})
        assert [e["aggregateId"] for e in replays.json()["data"]] == ["ex_manual"]


async def test_verify_walks_the_chains_in_the_log_and_names_the_first_break(
    harness: Harness, writer: EventWriter
) -> None:
    def chain(envelopes: list[Envelope]) -> list[bytes]:
        out: list[bytes] = []
        previous: str | None = None
        for envelope in envelopes:
            raw = encode(envelope.model_copy(update={"previous_hash": previous}))
            out.append(raw)
            previous = event_hash(raw)
        return out

    workflow = chain([created("wf_1", "a"), updated("wf_1", "b", 2)])
    run = ExecutionHistory("wf_1", execution_id="ex_1")
    execution = chain(run.happy_path({}))
    for raw in workflow:
        await writer.write_raw(raw, b"wf_1")
    for raw in execution:
        await writer.write_raw(raw, b"ex_1", topic=writer.topics.execution_events)
    # Deliveries and outcomes are not chained: they must not count.
    await writer.write(run.webhook_received({}), topic=writer.topics.webhooks)
    await harness.start()
    await harness.synced()
    async with harness.client() as client:
        assert (await client.get("/api/v1/audit/verify")).json() == {"ok": True, "checked": 10}
        # A version 4 with no version 3: a dropped event.
        gap = updated("wf_1", "d", 4).model_copy(update={"previous_hash": event_hash(workflow[-1])})
        await writer.write_raw(encode(gap), b"wf_1")
        await harness.synced()
        body = (await client.get("/api/v1/audit/verify")).json()
        assert body["ok"] is False
        assert body["brokenAt"]["aggregateId"] == "wf_1"
        assert body["brokenAt"]["sequence"] == 4
        assert body["brokenAt"]["eventId"] == gap.id
        assert "missing" in body["brokenAt"]["reason"]


@pytest.mark.parametrize(
    ("column", "edit"),
    [
        ("payload", """payload = '{"nodeId":"pass","attempt":1,"output":{"forged":true},"outputName":"main"}'"""),
        ("type", "type = 'StepFailed'"),
        ("occurred_at", "occurred_at = occurred_at + interval '1 second'"),
        ("actor", """actor = '{"kind": "apiKey", "id": "someone-else"}'"""),
        ("correlation_id", "correlation_id = 'msg_other'"),
        ("causation_id", "causation_id = 'msg_other'"),
        ("id", "id = 'msg_forged'"),
    ],
)
async def test_verify_finds_a_served_column_edited_in_the_table(
    harness: Harness, writer: EventWriter, column: str, edit: str
) -> None:
    """What GET /executions/{id}/events serves comes from the columns: editing one apart from the event's bytes
    changes the answer, and verify names the event and the column (the successor vouches for the bytes). A
    `sequence` or `previous_hash` edit is a chain break already (tests/unit/test_served_columns.py)."""
    run = ExecutionHistory("wf_1", execution_id="ex_1")
    previous: str | None = None
    for envelope in run.happy_path({"n": 1}):
        raw = encode(envelope.model_copy(update={"previous_hash": previous}))
        await writer.write_raw(raw, b"ex_1", topic=writer.topics.execution_events)
        previous = event_hash(raw)
    await harness.start()
    await harness.synced()
    async with harness.client() as client:
        assert (await client.get("/api/v1/audit/verify")).json() == {"ok": True, "checked": 8}
        before = (await client.get("/api/v1/executions/ex_1/events")).json()
        await harness.pool.execute(f"UPDATE events SET {edit} WHERE aggregate_id = 'ex_1' AND sequence = 4")
        assert (await client.get("/api/v1/executions/ex_1/events")).json() != before
        body = (await client.get("/api/v1/audit/verify")).json()
    assert body["ok"] is False
    broken = body["brokenAt"]
    assert (broken["aggregateId"], broken["sequence"]) == ("ex_1", 4)
    assert broken["reason"] == (
        f"the {column} column does not match the event's stored bytes; the next event's previousHash matches"
        " those bytes, so the column was changed"
    )
