"""The hash-chain verifier over a copy of the log: intact, then an event edited, dropped, inserted."""

from __future__ import annotations

from dataclasses import replace

from flowmatic_contracts.envelope import encode
from flowmatic_contracts.events import WorkflowUpdated
from flowmatic_query.domain.chain import ChainLink, event_hash, verify
from flowmatic_query.testing.chain import chained, stored_link
from flowmatic_query.testing.envelopes import created, deleted, spec, updated
from flowmatic_query.testing.executions import ExecutionHistory


def renumbered(link: ChainLink, sequence: int) -> ChainLink:
    """The link with its sequence column changed (and nothing else)."""
    return replace(link, served=replace(link.served, sequence=sequence))


def log_copy() -> list[ChainLink]:
    """Two workflows and an execution, in (aggregate, sequence) order as the verifier reads them."""
    first = chained([created("wf_a", "a"), updated("wf_a", "a2", 2), updated("wf_a", "a3", 3), deleted("wf_a", 4)])
    second = chained([created("wf_b", "b"), updated("wf_b", "b2", 2)])
    run = ExecutionHistory("wf_a", execution_id="ex_c")
    execution = chained(run.happy_path({"x": 1}))
    return first + second + execution


def test_an_intact_log_verifies_and_counts_every_event() -> None:
    links = log_copy()
    result = verify(links)
    assert result.ok
    assert result.as_document() == {"ok": True, "checked": len(links)}


def test_an_edited_payload_is_found_at_its_successor_which_names_it() -> None:
    links = log_copy()
    target = links[1]  # wf_a version 2
    edited = target.raw.replace(b'"a2"', b'"evil"')
    assert edited != target.raw
    links[1] = replace(target, raw=edited)
    result = verify(links)
    assert not result.ok and result.broken_at is not None
    assert (result.broken_at.aggregate_id, result.broken_at.sequence) == ("wf_a", 3)
    assert result.broken_at.event_id == links[2].event_id
    assert target.event_id in result.broken_at.reason
    assert result.checked == 3


def test_a_dropped_event_is_found() -> None:
    links = log_copy()
    dropped = links.pop(6)  # the execution's event numbered 1 (ExecutionStarted)
    assert (dropped.aggregate_id, dropped.sequence) == ("ex_c", 1)
    result = verify(links)
    assert result.broken_at is not None
    assert (result.broken_at.aggregate_id, result.broken_at.sequence) == ("ex_c", 2)
    assert "missing" in result.broken_at.reason


def test_a_dropped_event_in_the_middle_is_found() -> None:
    links = log_copy()
    del links[2]  # wf_a version 3
    result = verify(links)
    assert result.broken_at is not None
    assert (result.broken_at.aggregate_id, result.broken_at.sequence, result.broken_at.event_id) == (
        "wf_a",
        4,
        links[2].event_id,
    )
    assert "jumps from 2 to 4" in result.broken_at.reason


def test_an_inserted_event_with_a_repeated_sequence_is_found() -> None:
    links = log_copy()
    forged = WorkflowUpdated(spec=spec("forged"), webhooks=[])
    envelope = updated("wf_b", "forged", 2).model_copy(update={"payload": forged})
    inserted = stored_link(encode(envelope.model_copy(update={"previous_hash": event_hash(links[4].raw)})))
    links.insert(6, inserted)  # after wf_b's own version 2
    result = verify(links)
    assert result.broken_at is not None
    assert (result.broken_at.aggregate_id, result.broken_at.sequence, result.broken_at.event_id) == (
        "wf_b",
        2,
        envelope.id,
    )
    assert "twice" in result.broken_at.reason


def test_an_inserted_event_with_the_rest_renumbered_is_found_by_the_hash() -> None:
    links = log_copy()[:4]  # wf_a only
    forged_envelope = updated("wf_a", "forged", 2)
    forged = stored_link(encode(forged_envelope.model_copy(update={"previous_hash": event_hash(links[0].raw)})))
    result = verify([links[0], forged, *(renumbered(link, link.sequence + 1) for link in links[1:])])
    assert result.broken_at is not None
    assert (result.broken_at.sequence, result.broken_at.event_id) == (3, links[1].event_id)
    assert "previousHash does not match" in result.broken_at.reason


def test_a_first_event_must_be_sequence_one_with_no_previous_hash() -> None:
    links = log_copy()
    first = links[0]
    links[0] = stored_link(encode(created("wf_a", "a").model_copy(update={"previous_hash": "00" * 32})))
    assert links[0].sequence == first.sequence == 1
    result = verify(links)
    assert result.broken_at is not None and result.broken_at.sequence == 1
    assert "must be null" in result.broken_at.reason


def test_real_events_without_hashes_do_not_verify() -> None:
    """Events written before the chain existed carry null hashes: the verifier says so, it does not pass them."""
    envelopes = [created("wf_a", "a"), updated("wf_a", "a2", 2)]
    links = [stored_link(encode(e)) for e in envelopes]
    result = verify(links)
    assert result.broken_at is not None and result.broken_at.sequence == 2
