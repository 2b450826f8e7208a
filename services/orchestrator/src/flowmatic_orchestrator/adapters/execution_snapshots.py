"""What the orchestrator keeps per running execution, and its wire format on the compacted execution-state topic.

The domain's `ExecutionState` is everything needed to decide; `RunningExecution` adds what the processor needs
to write envelopes for events that no consumed message causes (timers): the execution's correlation id and
actor, and the id of the `StepScheduled` event behind each step that is waiting or running.
"""

from __future__ import annotations

import orjson
from pydantic import BaseModel, ConfigDict

from flowmatic_contracts.envelope import Actor
from flowmatic_orchestrator.domain.execution import ExecutionState


class RunningExecution(BaseModel):
    """One execution this instance owns, as held in memory and as snapshotted."""

    model_config = ConfigDict(frozen=True)

    state: ExecutionState
    correlation_id: str
    actor: Actor
    # node id -> id of the StepScheduled event of the step's current attempt (the causation of what follows it)
    scheduled_by: dict[str, str] = {}

    @property
    def execution_id(self) -> str:
        return self.state.execution_id


def encode_execution(execution: RunningExecution) -> bytes:
    """A running execution as JSON bytes."""
    return orjson.dumps(execution.model_dump(mode="json"))


def decode_execution(raw: bytes) -> RunningExecution:
    """Parse snapshot bytes; raises ValueError (pydantic's ValidationError is one) for anything else."""
    return RunningExecution.model_validate(orjson.loads(raw))


# The key of each execution-state partition's checkpoint record; no execution id looks like it (they are `ex_…`).
CHECKPOINT_KEY = "__checkpoint__"


class Checkpoint(BaseModel):
    """The next offset to consume of each input topic's partition p, kept on execution-state partition p.

    Written in every batch's transaction, so reading the state partition to its end (which waits for every
    transaction on it to be resolved) yields the exact position the state corresponds to. The group's committed
    offsets are written by the same transactions, but a new owner can read them before the commit markers
    land; the checkpoint cannot be read early, so no input is ever skipped or applied twice on a takeover.
    """

    model_config = ConfigDict(frozen=True)

    offsets: dict[str, int]


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    return orjson.dumps({"checkpoint": checkpoint.model_dump(mode="json")})


def decode_execution_record(raw: bytes) -> RunningExecution | Checkpoint:
    """A record of the execution-state topic: a running execution's snapshot, or a partition's checkpoint."""
    data = orjson.loads(raw)
    if isinstance(data, dict) and "checkpoint" in data:
        return Checkpoint.model_validate(data["checkpoint"])
    return RunningExecution.model_validate(data)
