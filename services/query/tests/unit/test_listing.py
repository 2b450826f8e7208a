"""Limits, cursors, filters and page cutting."""

from __future__ import annotations

import pytest

from flowmatic_query.domain.listing import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    InvalidQueryError,
    cut_page,
    decode_cursor,
    encode_cursor,
    escape_like,
    parse_bool,
    parse_limit,
    parse_page_request,
    parse_workflow_filter,
)


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, DEFAULT_LIMIT), ("1", 1), ("50", 50), ("200", 200), ("201", MAX_LIMIT), (" 7 ", 7)]
)
def test_limit(raw: str | None, expected: int) -> None:
    assert parse_limit(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "", "ten", "1.5", "1e3", "9" * 40])
def test_bad_limit(raw: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        parse_limit(raw)
    assert caught.value.parameter == "limit"


@pytest.mark.parametrize("workflow_id", ["wf_01JH0000000000000000000000", "a", "x-y_z"])
def test_cursor_round_trip(workflow_id: str) -> None:
    cursor = encode_cursor(workflow_id)
    assert "=" not in cursor
    assert decode_cursor(cursor) == workflow_id


def test_no_cursor_is_none() -> None:
    assert decode_cursor(None) is None


@pytest.mark.parametrize(
    "raw",
    ["", "!!", "a", encode_cursor("x") + "=", "bm90IGFuIGlk", encode_cursor("x") + "A", "d2ZfMQ+/"],
)
def test_malformed_cursor(raw: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        decode_cursor(raw)
    assert caught.value.parameter == "cursor"


def test_bool_filter() -> None:
    assert parse_bool("active", None) is None
    assert parse_bool("active", "TRUE") is True
    assert parse_bool("active", "false") is False
    with pytest.raises(InvalidQueryError):
        parse_bool("active", "1")


def test_workflow_filter() -> None:
    where = parse_workflow_filter("true", "Orders")
    assert where.active is True and where.name == "Orders"
    assert parse_workflow_filter(None, "").name is None


def test_escape_like_makes_metacharacters_literal() -> None:
    assert escape_like(r"50%_off\x") == r"50\%\_off\\x"


def test_page_request() -> None:
    request = parse_page_request("10", encode_cursor("wf_2"))
    assert request.limit == 10 and request.after == "wf_2"


def test_cut_page_with_more_rows_gives_a_cursor_of_the_last_item() -> None:
    page = cut_page(["c", "b", "a"], 2, lambda item: item)
    assert page.items == ["c", "b"]
    assert page.next_cursor is not None and decode_cursor(page.next_cursor) == "b"


@pytest.mark.parametrize("rows", [[], ["b"], ["b", "a"]])
def test_last_page_has_no_cursor(rows: list[str]) -> None:
    assert cut_page(rows, 2, lambda item: item).next_cursor is None
