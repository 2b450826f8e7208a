"""The WHERE clause of a list query with optional filters, with asyncpg's numbered parameters."""

from __future__ import annotations

from typing import Any


class Filters:
    """Conditions and the arguments they bind, numbered in order; values never enter the SQL text."""

    def __init__(self, *always: str) -> None:
        self.conditions: list[str] = list(always)
        self.arguments: list[Any] = []

    def bind(self, value: Any) -> str:
        """The placeholder (`$n`) of a new argument."""
        self.arguments.append(value)
        return f"${len(self.arguments)}"

    def where(self) -> str:
        """`WHERE … AND …`, or nothing when no condition applies."""
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""
