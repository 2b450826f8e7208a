"""What a synchronous execution answered, read back from its recorded history.

A repeated delivery (same `Idempotency-Key` or `webhook-id`) must get the original answer. The original answer is
whichever came first in the execution's history: the response node's `ResponseProduced`, or the end of the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowmatic_contracts.events import ExecutionCancelled, ExecutionFailed, ExecutionSucceeded, ResponseProduced
from flowmatic_gateway.ports import ExecutionSignal

_SIGNALS: dict[str, type[ExecutionSignal]] = {
    "ResponseProduced": ResponseProduced,
    "ExecutionFailed": ExecutionFailed,
    "ExecutionSucceeded": ExecutionSucceeded,
    "ExecutionCancelled": ExecutionCancelled,
}


def first_answer(history: Iterable[Mapping[str, Any]]) -> ExecutionSignal | None:
    """The first answering event of an ordered history (as GET /api/v1/executions/{id}/events lists it)."""
    for event in history:
        model = _SIGNALS.get(str(event.get("type")))
        if model is not None:
            return model.model_validate(event.get("payload") or {})
    return None
