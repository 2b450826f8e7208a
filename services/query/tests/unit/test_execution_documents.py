"""Rendering executions and steps, parsing RFC 3339 timestamps and the execution list's filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from flowmatic_query.domain.executions import (
    ExecutionRecord,
    StepRecord,
    render_execution,
    render_execution_summary,
)
from flowmatic_query.domain.listing import ExecutionFilter, InvalidQueryError, parse_execution_filter
from flowmatic_query.domain.timestamps import parse_timestamp

T0 = datetime(2026, 2, 8, 12, 0, 0, 123456, tzinfo=UTC)


def _record(**changes: object) -> ExecutionRecord:
    fields: dict[str, object] = {
        "id": "ex_1",
        "workflow_id": "wf_1",
        "workflow_version": 3,
        "status": "FAILED",
        "mode": "webhook",
        "trigger_id": "trigger",
        "replay_of": None,
        "error": {"nodeId": "check", "message": "boom"},
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=2),
        "input": {"z": "\u0000", "a": 1},
        "output": None,
        "steps": (
            StepRecord("trigger", "webhook", "SUCCEEDED", 1, T0, T0, {"z": "\u0000", "a": 1}, None),
            StepRecord("no", "noop", "SKIPPED", 0, None, T0, None, None),
        ),
    }
    fields.update(changes)
    return ExecutionRecord(**fields)  # type: ignore[arg-type]


def test_execution_document_has_the_spec_fields_in_order() -> None:
    document = render_execution(_record())
    assert list(document) == [
        "id",
        "workflowId",
        "workflowVersion",
        "status",
        "mode",
        "triggerId",
        "input",
        "output",
        "error",
        "startedAt",
        "finishedAt",
        "steps",
    ]
    assert document["startedAt"] == "2026-02-08T12:00:00.123Z"
    assert document["finishedAt"] == "2026-02-08T12:00:02.123Z"
    assert document["input"] == {"z": "\u0000", "a": 1} and list(document["input"]) == ["z", "a"]
    assert document["steps"] == [
        {
            "nodeId": "trigger",
            "type": "webhook",
            "status": "SUCCEEDED",
            "attempt": 1,
            "startedAt": "2026-02-08T12:00:00.123Z",
            "finishedAt": "2026-02-08T12:00:00.123Z",
            "output": {"z": "\u0000", "a": 1},
            "error": None,
        },
        {
            "nodeId": "no",
            "type": "noop",
            "status": "SKIPPED",
            "attempt": 0,
            "startedAt": None,
            "finishedAt": "2026-02-08T12:00:00.123Z",
            "output": None,
            "error": None,
        },
    ]


def test_replay_of_appears_only_when_set_and_summaries_leave_out_the_bulky_fields() -> None:
    replay = render_execution(_record(mode="replay", replay_of="ex_0"))
    assert list(replay)[5:7] == ["triggerId", "replayOf"] and replay["replayOf"] == "ex_0"
    summary = render_execution_summary(_record(status="RUNNING", finished_at=None, error=None))
    assert summary == {
        "id": "ex_1",
        "workflowId": "wf_1",
        "workflowVersion": 3,
        "status": "RUNNING",
        "mode": "webhook",
        "triggerId": "trigger",
        "error": None,
        "startedAt": "2026-02-08T12:00:00.123Z",
        "finishedAt": None,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-08T12:00:00Z", datetime(2026, 2, 8, 12, tzinfo=UTC)),
        ("2026-02-08t12:00:00z", datetime(2026, 2, 8, 12, tzinfo=UTC)),
        ("2026-02-08 12:00:00Z", datetime(2026, 2, 8, 12, tzinfo=UTC)),
        ("2026-02-08T12:00:00.5Z", datetime(2026, 2, 8, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-02-08T12:00:00.123456789Z", datetime(2026, 2, 8, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-02-08T13:00:00+01:00", datetime(2026, 2, 8, 12, tzinfo=UTC)),
        ("2026-02-08T13:00:00 01:00", datetime(2026, 2, 8, 12, tzinfo=UTC)),  # a `+` decoded as a space
        ("2026-02-08T07:30:00-04:30", datetime(2026, 2, 8, 12, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps_parse(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-02-08",
        "2026-02-08T12:00:00",  # no offset: ambiguous
        "2026-02-08T12:00Z",
        "2026-02-30T12:00:00Z",
        "2026-02-08T24:00:00Z",
        "2026-02-08T12:00:60Z",
        "2026-02-08T12:00:00+24:00",
        "2026-02-08T12:00:00.Z",
        "1770552000",
        "2026-02-08T12:00:00Z trailing",
    ],
)
def test_malformed_timestamps_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="date-time"):
        parse_timestamp(text)


def test_execution_filter_parses_each_parameter() -> None:
    assert parse_execution_filter(None, None, None, None) == ExecutionFilter()
    assert parse_execution_filter("", None, None, None) == ExecutionFilter()
    parsed = parse_execution_filter("wf_1", "SUCCEEDED", "2026-02-08T12:00:00Z", "2026-02-08T14:00:00+02:00")
    assert parsed == ExecutionFilter(
        workflow_id="wf_1",
        status="SUCCEEDED",
        since=datetime(2026, 2, 8, 12, tzinfo=UTC),
        until=datetime(2026, 2, 8, 14, tzinfo=timezone(timedelta(hours=2))),
    )
    # equal bounds are a valid (one-instant) window
    assert parse_execution_filter(None, None, "2026-02-08T12:00:00Z", "2026-02-08T12:00:00Z").since is not None


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ((None, "succeeded", None, None), "status"),
        ((None, "SKIPPED", None, None), "status"),
        ((None, "", None, None), "status"),
        ((None, None, "last week", None), "since"),
        ((None, None, None, "2026-13-01T00:00:00Z"), "until"),
        ((None, None, "2026-02-08T12:00:01Z", "2026-02-08T12:00:00Z"), "until"),
    ],
)
def test_execution_filter_errors_name_the_parameter(
    arguments: tuple[str | None, str | None, str | None, str | None], parameter: str
) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        parse_execution_filter(*arguments)
    assert caught.value.parameter == parameter
