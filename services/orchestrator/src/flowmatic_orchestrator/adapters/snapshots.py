"""The wire format of a workflow snapshot on the compacted workflow-state topic: the state as JSON."""

from __future__ import annotations

import orjson

from flowmatic_orchestrator.domain.state import WorkflowState


def encode_snapshot(state: WorkflowState) -> bytes:
    """A state as camelCase JSON bytes (the same conventions as every other message in the log)."""
    return orjson.dumps(state.model_dump(mode="json", by_alias=True))


def decode_snapshot(raw: bytes) -> WorkflowState:
    """Parse snapshot bytes; raises ValueError (pydantic's ValidationError is one) for anything else."""
    return WorkflowState.model_validate(orjson.loads(raw))
