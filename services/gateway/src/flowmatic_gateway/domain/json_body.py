"""Parsing request bodies: malformed or too deeply nested JSON is a client error (400)."""

from __future__ import annotations

from typing import Any

import orjson

MAX_JSON_DEPTH = 100


class MalformedJsonError(ValueError):
    """The body is not JSON the API accepts; `str(error)` is a safe detail for the client."""


def json_depth(value: Any) -> int:
    """How many containers deep a parsed JSON value nests (a scalar is 0, `{}` and `[]` are 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON body; raises MalformedJsonError when it is not JSON or nests deeper than `max_depth`."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if "recursion" in str(error).lower():
            raise MalformedJsonError(f"JSON nested deeper than {max_depth} levels") from None
        raise MalformedJsonError(f"malformed JSON: {error}") from None
    if json_depth(value) > max_depth:
        raise MalformedJsonError(f"JSON nested deeper than {max_depth} levels")
    return value
