"""The condition operators of `if` and `switch`, as the spec defines them."""

from __future__ import annotations

from typing import Any

import pytest

from flowmatic_contracts.connectors import Condition
from flowmatic_executor.domain.conditions import ConditionError, all_hold, as_number, holds, json_equal


def condition(left: Any, operator: str, right: Any = None) -> Condition:
    return Condition.model_validate({"left": left, "operator": operator, "right": right})


@pytest.mark.parametrize(
    ("left", "operator", "right", "expected"),
    [
        (99.99, "gt", 50, True),
        ("99.99", "gt", 50, True),
        ("1e3", "gte", "1000", True),
        (50, "gt", 50, False),
        (50, "gte", 50, True),
        (" 7 ", "lt", 8, True),
        (8, "lte", 8.0, True),
        ("abc", "gt", 1, False),
        ("abc", "lt", 1, False),
        (None, "lt", 1, False),
        (True, "gt", 0, False),
        ([1], "gt", 0, False),
        ("nan", "gt", 0, False),
        (1, "eq", 1.0, True),
        ("42", "eq", 42, True),
        (42, "eq", "42", True),
        ("042", "eq", 42, True),
        ("x", "eq", 42, False),
        ("a", "eq", "a", True),
        ("1", "eq", "1.0", False),
        (True, "eq", 1, False),
        (True, "eq", True, True),
        (None, "eq", None, True),
        (None, "eq", 0, False),
        ({"a": [1, 2]}, "eq", {"a": [1, 2.0]}, True),
        ({"a": 1}, "eq", {"a": 1, "b": 2}, False),
        ([1, True], "eq", [1, 1], False),
        ("USD", "ne", "EUR", True),
        ("5", "ne", 5, False),
        ("order.created", "contains", "created", True),
        ("order 42", "contains", 42, True),
        (["a", "b"], "contains", "b", True),
        ([1, 2], "contains", 2.0, True),
        ({"k": 1}, "contains", "k", True),
        (None, "contains", "x", False),
        ("abc", "notContains", "z", True),
        (None, "notContains", "z", True),
        ("refund.created", "startsWith", "refund.", True),
        ("order.created", "startsWith", "refund.", False),
        (12345, "startsWith", 12, True),
        (None, "startsWith", "x", False),
        ("file.csv", "endsWith", ".csv", True),
        ("x", "exists", None, True),
        (0, "exists", None, True),
        (None, "exists", None, False),
        (None, "notExists", None, True),
        ("", "notExists", None, False),
        ("b", "in", ["a", "b"], True),
        ("3", "in", [1, 2, 3], True),
        ("z", "in", ["a"], False),
        ("ell", "in", "hello", True),
        ("k", "in", {"k": 1}, True),
        ("x", "in", None, False),
        ("ünïcode ✓", "regex", r"^ü.*✓$", True),
        ("abc", "regex", r"\d", False),
        (123, "regex", r"^\d+$", True),
        (None, "regex", ".*", False),
    ],
)
def test_operators(left: Any, operator: str, right: Any, expected: bool) -> None:
    assert holds(condition(left, operator, right)) is expected


def test_an_invalid_regex_at_run_time_is_an_error() -> None:
    # Save-time and parse-time checks catch a literal bad pattern; these bypass them as a belt-and-braces check.
    with pytest.raises(ConditionError, match="invalid regular expression"):
        holds(Condition.model_construct(left="a", operator="regex", right="("))
    with pytest.raises(ConditionError, match="pattern string"):
        holds(condition("a", "regex", 5))


def test_combine() -> None:
    yes, no = condition(1, "eq", 1), condition(1, "eq", 2)
    assert all_hold([yes, yes]) and not all_hold([yes, no])
    assert all_hold([no, yes], "any") and not all_hold([no, no], "any")


def test_helpers() -> None:
    assert as_number("  3.5") == 3.5 and as_number(True) is None and as_number("inf") is None
    assert json_equal(1, 1.0) and not json_equal(1, "1") and not json_equal(False, 0)
