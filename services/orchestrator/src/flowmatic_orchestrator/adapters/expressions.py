"""The domain's `Resolver` (value, expression context, `$input`) wired to the contracts' expression language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flowmatic_contracts import expressions
from flowmatic_orchestrator.domain.execution import Resolver


def resolver_at(now: datetime) -> Resolver:
    """A resolver for which `$now` is `now` (ISO 8601, `Z` for UTC, as the executors render it)."""
    iso_now = now.isoformat().replace("+00:00", "Z")

    def resolve(value: Any, context: Mapping[str, Any], node_input: Any) -> Any:
        return expressions.render_step(value, context, node_input, now=iso_now)

    return resolve
