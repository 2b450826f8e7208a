"""The chain check also covers what is served: a column edited apart from its event's bytes is a break."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from flowmatic_contracts.envelope import encode
from flowmatic_query.domain.chain import ChainLink, verify
from flowmatic_query.domain.stored_events import column_mismatch
from flowmatic_query.testing.chain import chained, stored_link
from flowmatic_query.testing.envelopes import SECRET_CIPHERTEXT, created, deleted, updated
from flowmatic_query.testing.executions import ExecutionHistory


def log_copy() -> list[ChainLink]:
    """A workflow (created with a secret, updated, deleted) and an execution, as the verifier reads them."""
    workflow = chained([created("wf_a", "a"), updated("wf_a", "a2", 2), deleted("wf_a", 3)])
    run = ExecutionHistory("wf_a", execution_id="ex_c")
    return workflow + chained(run.happy_path({"flag": True, "n": 1}))


def served_edit(link: ChainLink, **changes: Any) -> ChainLink:
    return replace(link, served=replace(link.served, **changes))


def with_payload(link: ChainLink, change: dict[str, Any]) -> ChainLink:
    payload = link.served.payload
    assert isinstance(payload, dict)
    return served_edit(link, payload={**payload, **change})


# Each served column, edited the way someone with write access to the table might.
COLUMN_EDITS = {
    "id": lambda link: served_edit(link, id="msg_forged"),
    "type": lambda link: served_edit(link, type="StepFailed"),
    "occurred_at": lambda link: served_edit(link, occurred_at=link.served.occurred_at + timedelta(seconds=1)),
    "actor": lambda link: served_edit(link, actor={"kind": "apiKey", "id": "someone-else"}),
    "correlation_id": lambda link: served_edit(link, correlation_id="msg_other"),
    "causation_id": lambda link: served_edit(link, causation_id="msg_other"),
    "payload": lambda link: with_payload(link, {"output": {"n": 2}}),
}


def test_columns_stored_as_the_projection_stores_them_verify() -> None:
    links = log_copy()
    assert "encryptedSecrets" not in links[0].served.payload  # stripped from the column, still in the bytes
    assert SECRET_CIPHERTEXT.encode() in links[0].raw
    assert verify(links).as_document() == {"ok": True, "checked": len(links)}


@pytest.mark.parametrize("column", sorted(COLUMN_EDITS))
def test_an_edited_column_is_a_break_at_its_event_naming_the_column(column: str) -> None:
    links = log_copy()
    index = 6  # ex_c's StepSucceeded (sequence 4): it has a successor, whose previousHash vouches for the bytes
    target = links[index]
    assert (target.aggregate_id, target.sequence, target.served.type) == ("ex_c", 4, "StepSucceeded")
    links[index] = COLUMN_EDITS[column](target)
    result = verify(links)
    assert result.broken_at is not None
    assert (result.broken_at.aggregate_id, result.broken_at.sequence) == ("ex_c", 4)
    assert result.broken_at.event_id == links[index].event_id
    assert result.broken_at.reason.startswith(f"the {column} column does not match the event's stored bytes")
    assert "so the column was changed" in result.broken_at.reason
    assert result.checked == index + 1


@pytest.mark.parametrize("column", sorted(COLUMN_EDITS))
def test_each_column_is_compared_with_the_bytes(column: str) -> None:
    link = COLUMN_EDITS[column](log_copy()[6])
    assert column_mismatch(link.aggregate_id, link.previous_hash, link.served, link.raw) == column


def test_the_aggregate_sequence_and_previous_hash_columns_are_compared_with_the_bytes() -> None:
    link = log_copy()[6]
    assert column_mismatch("ex_other", link.previous_hash, link.served, link.raw) == "aggregate_id"
    assert column_mismatch(link.aggregate_id, "ab" * 32, link.served, link.raw) == "previous_hash"
    assert column_mismatch(link.aggregate_id, None, link.served, link.raw) == "previous_hash"
    renumbered = replace(link.served, sequence=7)
    assert column_mismatch(link.aggregate_id, link.previous_hash, renumbered, link.raw) == "sequence"


def test_an_edited_sequence_column_is_a_break() -> None:
    links = log_copy()
    last = len(links) - 1
    links[last] = served_edit(links[last], sequence=links[last].sequence + 1)  # as if events were missing
    result = verify(links)
    assert result.broken_at is not None and result.broken_at.event_id == links[last].event_id


def test_an_edited_previous_hash_column_is_a_break() -> None:
    links = log_copy()
    links[2] = replace(links[2], previous_hash="ab" * 32)
    result = verify(links)
    assert result.broken_at is not None
    assert (result.broken_at.aggregate_id, result.broken_at.sequence) == ("wf_a", 3)
    assert "previousHash does not match" in result.broken_at.reason


def test_the_last_event_of_an_aggregate_has_no_successor_to_say_which_was_changed() -> None:
    links = log_copy()
    links[2] = served_edit(links[2], type="WorkflowUpdated")  # wf_a's deletion, its last event
    result = verify(links)
    assert result.broken_at is not None
    assert (result.broken_at.aggregate_id, result.broken_at.sequence) == ("wf_a", 3)
    assert result.broken_at.reason == (
        "the type column does not match the event's stored bytes: the column, or the bytes, were changed"
    )
    assert result.checked == 3


def test_the_very_last_event_fed_is_checked_too() -> None:
    links = log_copy()
    links[-1] = COLUMN_EDITS["payload"](links[-1])
    result = verify(links)
    assert result.broken_at is not None and result.broken_at.event_id == links[-1].event_id
    assert result.checked == len(links)


def test_edited_bytes_are_still_named_by_the_successor_hash() -> None:
    """The bytes edited (not the columns): the column check sees a mismatch, the successor's hash says why."""
    links = log_copy()
    links[4] = replace(links[4], raw=links[4].raw.replace(b'"flag":true', b'"flag":false'))
    assert links[4].raw != log_copy()[4].raw
    result = verify(links)
    assert result.broken_at is not None
    assert (result.broken_at.aggregate_id, result.broken_at.sequence) == ("ex_c", 3)
    assert "previousHash does not match the hash of event" in result.broken_at.reason


def test_bytes_that_are_no_event_are_a_break() -> None:
    links = log_copy()
    links[-1] = replace(links[-1], raw=b"not json")
    result = verify(links)
    assert result.broken_at is not None and "not a valid event" in result.broken_at.reason


def test_a_value_of_another_json_type_or_key_order_is_not_the_same_payload() -> None:
    """Served as stored: `1` for `true`, or the same keys in another order, is not what the bytes say."""
    link = log_copy()[3]  # ExecutionStarted with input {"flag": true, "n": 1}
    payload = link.served.payload
    assert payload["input"] == {"flag": True, "n": 1}
    for forged_input in ({"flag": 1, "n": 1}, {"n": 1, "flag": True}, {"flag": True, "n": 1.0}):
        forged = replace(link.served, payload={**payload, "input": forged_input})
        assert column_mismatch(link.aggregate_id, link.previous_hash, forged, link.raw) == "payload", forged_input


def test_secret_ciphertext_in_the_payload_column_is_a_break_that_does_not_show_it() -> None:
    links = log_copy()
    links[0] = with_payload(links[0], {"encryptedSecrets": {"trigger": SECRET_CIPHERTEXT}})
    result = verify(links)
    assert result.broken_at is not None and result.broken_at.sequence == 1
    assert "payload column" in result.broken_at.reason
    assert SECRET_CIPHERTEXT not in orjson.dumps(result.as_document()).decode()


def test_equivalent_bytes_written_differently_still_verify() -> None:
    """Bytes not exactly as `encode` writes them (defaults left out, another offset notation, spacing) are
    compared as the projection read them."""
    envelope = created("wf_x", "x")
    wire = orjson.loads(encode(envelope))
    del wire["schemaVersion"], wire["causationId"], wire["previousHash"]
    wire["occurredAt"] = envelope.occurred_at.isoformat()  # +00:00 rather than Z
    raw = orjson.dumps(wire, option=orjson.OPT_INDENT_2)
    link = stored_link(raw)
    assert column_mismatch(link.aggregate_id, link.previous_hash, link.served, link.raw) is None
    assert verify([link]).ok
