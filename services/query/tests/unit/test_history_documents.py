"""Event and version documents, and the version path and page parameters."""

from __future__ import annotations

import pytest

from flowmatic_query.domain.history import (
    EventRecord,
    VersionRecord,
    parse_version,
    parse_version_page,
    render_event,
    render_version,
    version_cursor,
)
from flowmatic_query.domain.listing import InvalidQueryError, encode_cursor
from flowmatic_query.testing.envelopes import T0


def test_an_event_renders_in_the_spec_field_order_with_the_actor_as_kind_and_id() -> None:
    record = EventRecord("msg_1", "StepSucceeded", 3, T0, {"id": "flowmatic", "kind": "system"}, "cor_1", "msg_0", {})
    document = render_event(record)
    assert list(document) == [
        "id",
        "type",
        "sequence",
        "occurredAt",
        "actor",
        "correlationId",
        "causationId",
        "payload",
    ]
    assert list(document["actor"].items()) == [("kind", "system"), ("id", "flowmatic")]
    assert document["occurredAt"] == "2026-02-08T12:00:00.000Z"


def test_a_version_renders_as_the_spec_lists_it() -> None:
    record = VersionRecord(2, T0, {"kind": "apiKey", "id": "admin"}, "updated")
    assert render_version(record) == {
        "version": 2,
        "createdAt": "2026-02-08T12:00:00.000Z",
        "actor": {"kind": "apiKey", "id": "admin"},
        "change": "updated",
    }


@pytest.mark.parametrize("raw", ["0", "-1", "1.0", "abc", "01", "", "9999999999", " 1"])
def test_malformed_versions_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidQueryError):
        parse_version(raw)


def test_versions_page_by_the_last_version_shown() -> None:
    assert parse_version("12") == 12
    page = parse_version_page("2", None)
    assert (page.limit, page.after) == (2, None)
    records = [VersionRecord(n, T0, {"kind": "system", "id": "x"}, "updated") for n in (1, 2, 3)]
    cursor = version_cursor(records, 2)
    assert cursor is not None
    assert parse_version_page("2", cursor).after == 2
    assert version_cursor(records[:2], 2) is None
    with pytest.raises(InvalidQueryError):
        parse_version_page(None, encode_cursor("wf_1"))
