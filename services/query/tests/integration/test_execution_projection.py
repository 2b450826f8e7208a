"""Executions and steps projected from the real broker into PostgreSQL, and served by GET."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from flowmatic_contracts import ids
from flowmatic_contracts.envelope import Envelope
from flowmatic_query.testing.executions import ExecutionHistory
from flowmatic_query.testing.harness import EventWriter, Harness

pytestmark = pytest.mark.integration

PAYLOAD: dict[str, Any] = {
    "customer_id": "cust_123",
    "data": {"amount": 99.99, "currency": "USD"},
    "_webhook": {"webhookId": "wh_x", "triggerId": "trigger", "method": "POST", "headers": {}, "query": {}},
}


async def _get(harness: Harness, execution_id: str) -> httpx.Response:
    async with harness.client() as client:
        return await client.get(f"/api/v1/executions/{execution_id}")


async def _write_execution_events(writer: EventWriter, *envelopes: Envelope) -> None:
    await writer.write(*envelopes, topic=writer.topics.execution_events)


def _expected_success(history: ExecutionHistory) -> dict[str, Any]:
    """The document `happy_path(PAYLOAD)` leads to (WebhookReceived at `start`, event n at start + n s)."""

    def ts(sequence: int) -> str:
        return history.at(sequence).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return {
        "id": history.execution_id,
        "workflowId": history.workflow_id,
        "workflowVersion": 1,
        "status": "SUCCEEDED",
        "mode": "webhook",
        "triggerId": "trigger",
        "input": PAYLOAD,
        "output": {"yes": PAYLOAD},
        "error": None,
        "startedAt": ts(0),
        "finishedAt": ts(8),
        "steps": [
            {
                "nodeId": "trigger",
                "type": "webhook",
                "status": "SUCCEEDED",
                "attempt": 1,
                "startedAt": ts(2),
                "finishedAt": ts(2),
                "output": PAYLOAD,
                "error": None,
            },
            {
                "nodeId": "check",
                "type": "if",
                "status": "SUCCEEDED",
                "attempt": 1,
                "startedAt": ts(3),
                "finishedAt": ts(4),
                "output": PAYLOAD,
                "error": None,
            },
            {
                "nodeId": "yes",
                "type": "noop",
                "status": "SUCCEEDED",
                "attempt": 1,
                "startedAt": ts(5),
                "finishedAt": ts(7),
                "output": PAYLOAD,
                "error": None,
            },
            {
                "nodeId": "no",
                "type": "noop",
                "status": "SKIPPED",
                "attempt": 0,
                "startedAt": None,
                "finishedAt": ts(6),
                "output": None,
                "error": None,
            },
        ],
    }


async def test_webhook_received_is_a_running_execution_until_the_events_finish_it(
    harness: Harness, writer: EventWriter
) -> None:
    history = ExecutionHistory(ids.new_id(ids.WORKFLOW))
    await harness.start()
    await writer.write(history.webhook_received(PAYLOAD), topic=writer.topics.webhooks)
    await harness.synced()

    running = await _get(harness, history.execution_id)
    assert running.status_code == 200, running.text
    assert running.json() == {
        "id": history.execution_id,
        "workflowId": history.workflow_id,
        "workflowVersion": 1,
        "status": "RUNNING",
        "mode": "webhook",
        "triggerId": "trigger",
        "input": PAYLOAD,
        "output": None,
        "error": None,
        "startedAt": "2026-02-08T12:00:00.000Z",
        "finishedAt": None,
        "steps": [],
    }

    await _write_execution_events(writer, *history.happy_path(PAYLOAD))
    await harness.synced()
    done = await _get(harness, history.execution_id)
    assert done.json() == _expected_success(history)


@pytest.mark.parametrize("one_batch", [True, False], ids=["same-batch", "separate-batches"])
async def test_execution_events_before_the_webhook_give_the_same_execution(
    harness: Harness, writer: EventWriter, one_batch: bool
) -> None:
    history = ExecutionHistory(ids.new_id(ids.WORKFLOW))
    events = history.happy_path(PAYLOAD)
    if not one_batch:
        await harness.start()
    await _write_execution_events(writer, *events[:3])
    if not one_batch:
        await harness.synced()
        early = await _get(harness, history.execution_id)
        assert early.json()["status"] == "RUNNING"
        assert early.json()["startedAt"] == "2026-02-08T12:00:01.000Z"  # ExecutionStarted's time, for now
    await writer.write(history.webhook_received(PAYLOAD), topic=writer.topics.webhooks)
    await _write_execution_events(writer, *events[3:])
    if one_batch:
        await harness.start()
    await harness.synced()

    done = await _get(harness, history.execution_id)
    assert done.json() == _expected_success(history)
    assert await harness.pool.fetchval("SELECT count(*) FROM projection_errors") == 0


async def test_a_webhook_projected_after_the_whole_run_changes_only_the_start_time(
    harness: Harness, writer: EventWriter
) -> None:
    history = ExecutionHistory(ids.new_id(ids.WORKFLOW))
    await harness.start()
    await _write_execution_events(writer, *history.happy_path(PAYLOAD))
    await harness.synced()
    finished = (await _get(harness, history.execution_id)).json()
    assert finished["status"] == "SUCCEEDED" and finished["startedAt"] == "2026-02-08T12:00:01.000Z"

    late = history.webhook_received({"not": "the input ExecutionStarted recorded"}, trigger_id="other")
    await writer.write(late, topic=writer.topics.webhooks)
    await harness.synced()
    after = (await _get(harness, history.execution_id)).json()
    assert after == _expected_success(history)  # whose startedAt is the webhook's receipt
    assert after == {**finished, "startedAt": "2026-02-08T12:00:00.000Z"}


async def test_a_manual_replay_keeps_its_mode_and_origin(harness: Harness, writer: EventWriter) -> None:
    original = ids.new_id(ids.EXECUTION)
    history = ExecutionHistory(ids.new_id(ids.WORKFLOW), workflow_version=3)
    await _write_execution_events(
        writer, history.started({"x": 21}, mode="replay", replay_of=original), history.cancelled("stopped by admin")
    )
    await harness.start()
    await harness.synced()

    document = (await _get(harness, history.execution_id)).json()
    assert list(document)[:7] == ["id", "workflowId", "workflowVersion", "status", "mode", "triggerId", "replayOf"]
    assert document["replayOf"] == original and document["mode"] == "replay"
    assert document["workflowVersion"] == 3 and document["input"] == {"x": 21}
    assert document["status"] == "CANCELLED" and document["finishedAt"] == "2026-02-08T12:00:02.000Z"
    assert document["error"] == {"nodeId": None, "message": "stopped by admin"}


async def test_retries_show_the_latest_attempt_and_the_failure(harness: Harness, writer: EventWriter) -> None:
    history = ExecutionHistory(ids.new_id(ids.WORKFLOW))
    await harness.start()
    await _write_execution_events(
        writer,
        history.started(PAYLOAD),
        history.step_succeeded("trigger", PAYLOAD),
        history.scheduled("check"),
        history.step_failed("check", "boom 1", retryable=True),
        history.scheduled("check", attempt=2, not_before="2026-02-08T12:01:00+00:00"),
    )
    await harness.synced()
    waiting = (await _get(harness, history.execution_id)).json()
    check = waiting["steps"][1]
    assert check["nodeId"] == "check" and check["status"] == "SCHEDULED" and check["attempt"] == 2
    assert check["startedAt"] == "2026-02-08T12:00:03.000Z" and check["finishedAt"] is None
    assert check["error"] is None and waiting["status"] == "RUNNING"

    await _write_execution_events(
        writer,
        history.scheduled("check", attempt=2),
        history.step_failed("check", "boom 2", attempt=2),
        history.failed("check", "boom 2"),
    )
    await harness.synced()
    failed = (await _get(harness, history.execution_id)).json()
    assert failed["status"] == "FAILED" and failed["error"] == {"nodeId": "check", "message": "boom 2"}
    assert failed["finishedAt"] == "2026-02-08T12:00:08.000Z" and failed["output"] is None
    assert failed["steps"][1] == {
        "nodeId": "check",
        "type": "if",
        "status": "FAILED",
        "attempt": 2,
        "startedAt": "2026-02-08T12:00:03.000Z",
        "finishedAt": "2026-02-08T12:00:07.000Z",
        "output": None,
        "error": {"message": "boom 2"},
    }
    assert [s["nodeId"] for s in failed["steps"]] == ["trigger", "check"]


async def test_nul_and_unicode_survive_exactly(harness: Harness, writer: EventWriter) -> None:
    tricky: dict[str, Any] = {
        "zeta": "first key stays first",
        "nul": "before\u0000after",
        "escaped": "\\u0000 is six characters here",
        "unicode": "héllo ☃ 😀 \u2028 עברית",
        "control": "\t\n\r\u001f",
        "nested": {"b": ["\u0000", None, 1.5, True], "a": {}},
        "_webhook": {"headers": {"x-nul": "a\u0000b"}},
    }
    history = ExecutionHistory(ids.new_id(ids.WORKFLOW))
    await writer.write(history.webhook_received(tricky), topic=writer.topics.webhooks)
    await _write_execution_events(
        writer,
        history.started(tricky),
        history.step_succeeded("trigger", tricky),
        history.scheduled("check"),
        history.step_failed("check", "bad \u0000 byte ☃"),
        history.failed("check", "bad \u0000 byte ☃"),
    )
    await harness.start()
    await harness.synced()

    answer = await _get(harness, history.execution_id)
    assert answer.status_code == 200, answer.text
    document = orjson.loads(answer.content)
    assert document["input"] == tricky and list(document["input"]) == list(tricky)
    assert document["steps"][0]["output"] == tricky
    assert document["error"] == {"nodeId": "check", "message": "bad \u0000 byte ☃"}
    assert document["steps"][1]["error"] == {"message": "bad \u0000 byte ☃"}
    assert b'"before\\u0000after"' in answer.content  # escaped on the wire, as JSON requires
    assert await harness.pool.fetchval("SELECT count(*) FROM projection_errors") == 0


async def test_bad_execution_events_are_recorded_and_the_rest_flows_on(harness: Harness, writer: EventWriter) -> None:
    orphan = ExecutionHistory(ids.new_id(ids.WORKFLOW))
    orphan.started({})  # never written: its later events have no execution
    history = ExecutionHistory(ids.new_id(ids.WORKFLOW))
    started = history.started(PAYLOAD)
    trigger = history.step_succeeded("trigger", PAYLOAD)
    await _write_execution_events(writer, orphan.step_succeeded("trigger", {}), started, trigger)
    await _write_execution_events(writer, trigger)  # the same event twice: applied once, the repeat recorded
    await writer.write_raw(
        b'{"type": "StepSucceeded", "payload": {}}',
        key=history.execution_id.encode(),
        topic=writer.topics.execution_events,
    )
    await _write_execution_events(writer, history.scheduled("check"))
    await harness.start()
    await harness.synced()

    errors = await harness.pool.fetch("SELECT error FROM projection_errors ORDER BY id")
    messages = sorted(e["error"] for e in errors)
    assert len(messages) == 3, messages
    assert any("unknown execution" in m for m in messages)
    assert any("repeats an applied sequence" in m for m in messages)
    document = (await _get(harness, history.execution_id)).json()
    assert [(s["nodeId"], s["status"]) for s in document["steps"]] == [("trigger", "SUCCEEDED"), ("check", "RUNNING")]
    assert (await _get(harness, orphan.execution_id)).status_code == 404


async def test_unknown_execution_is_a_404_problem(harness: Harness) -> None:
    await harness.start()
    answer = await _get(harness, "ex_nope")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 404
