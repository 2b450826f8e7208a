"""The operators of `if` and `switch` conditions, as the spec defines them.

`gt gte lt lte` compare numbers, converting numeric strings; a side that is not numeric makes the condition
false. `eq ne` compare JSON values (so `true` is not `1`), converting a numeric string when the other side is a
number. The text operators compare strings; `contains` and `in` also look into lists and object keys.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowmatic_contracts.connectors import Condition

# Regular expressions are matched against at most this many characters, bounding the cost of a bad pattern.
MAX_REGEX_SUBJECT = 100_000


class ConditionError(ValueError):
    """A condition that cannot be evaluated at all (e.g. an invalid regular expression)."""


def holds(condition: Condition) -> bool:
    """Whether one (resolved) condition holds."""
    return _OPERATORS[condition.operator](condition.left, condition.right)


def all_hold(conditions: Sequence[Condition], combine: str = "all") -> bool:
    """`combine="all"`: every condition holds; `"any"`: at least one does."""
    results = (holds(condition) for condition in conditions)
    return any(results) if combine == "any" else all(results)


def as_number(value: Any) -> float | None:
    """A JSON number or a numeric string as a float; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values: `1 == 1.0`, but `true != 1` and `"1" != 1` (see `_eq` for the conversion)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return float(left) == float(right)
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and bool(left == right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _eq(left: Any, right: Any) -> bool:
    if _is_number(left) != _is_number(right) and (_is_number(left) or _is_number(right)):
        a, b = as_number(left), as_number(right)
        return a is not None and b is not None and a == b
    return json_equal(left, right)


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def check(left: Any, right: Any) -> bool:
        a, b = as_number(left), as_number(right)
        return a is not None and b is not None and compare(a, b)

    return check


def _text(value: Any) -> str | None:
    """Strings as they are, numbers as written; anything else is not text."""
    if isinstance(value, str):
        return value
    if _is_number(value):
        return str(value)
    return None


def _contains(left: Any, right: Any) -> bool:
    if isinstance(left, str):
        needle = _text(right)
        return needle is not None and needle in left
    if isinstance(left, list):
        return any(json_equal(item, right) for item in left)
    if isinstance(left, Mapping):
        return isinstance(right, str) and right in left
    return False


def _starts_with(left: Any, right: Any) -> bool:
    text, prefix = _text(left), _text(right)
    return text is not None and prefix is not None and text.startswith(prefix)


def _ends_with(left: Any, right: Any) -> bool:
    text, suffix = _text(left), _text(right)
    return text is not None and suffix is not None and text.endswith(suffix)


def _in(left: Any, right: Any) -> bool:
    if isinstance(right, list):
        return any(_eq(left, item) for item in right)
    return _contains(right, left)


def _regex(left: Any, right: Any) -> bool:
    text = _text(left)
    if not isinstance(right, str):
        raise ConditionError(f"regex needs a pattern string on the right, got {right!r}")
    try:
        pattern = re.compile(right)
    except re.error as exc:
        raise ConditionError(f"invalid regular expression {right!r}: {exc}") from None
    return text is not None and pattern.search(text[:MAX_REGEX_SUBJECT]) is not None


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "gt": _numeric(lambda a, b: a > b),
    "gte": _numeric(lambda a, b: a >= b),
    "lt": _numeric(lambda a, b: a < b),
    "lte": _numeric(lambda a, b: a <= b),
    "contains": _contains,
    "notContains": lambda a, b: not _contains(a, b),
    "startsWith": _starts_with,
    "endsWith": _ends_with,
    "exists": lambda a, _: a is not None,
    "notExists": lambda a, _: a is None,
    "in": _in,
    "regex": _regex,
}
