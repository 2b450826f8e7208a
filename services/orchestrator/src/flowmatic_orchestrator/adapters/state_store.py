"""The aggregates this instance owns, held in memory and grouped by partition so a revoked partition's
aggregates can be dropped and an assigned one's loaded without touching the rest."""

from __future__ import annotations

from collections.abc import Mapping

from flowmatic_orchestrator.domain.state import WorkflowState


class InMemoryWorkflowStates:
    """Workflow states by partition number and workflow id."""

    def __init__(self) -> None:
        self._by_partition: dict[int, dict[str, WorkflowState]] = {}

    def get(self, partition: int, workflow_id: str) -> WorkflowState | None:
        return self._by_partition.get(partition, {}).get(workflow_id)

    def load(self, partition: int, states: Mapping[str, WorkflowState]) -> None:
        """Replace everything known about one partition (after reading its snapshots)."""
        self._by_partition[partition] = dict(states)

    def drop(self, partition: int) -> None:
        """Forget a partition this instance no longer owns."""
        self._by_partition.pop(partition, None)

    def put(self, partition: int, state: WorkflowState) -> None:
        self._by_partition.setdefault(partition, {})[state.workflow_id] = state

    def partitions(self) -> frozenset[int]:
        return frozenset(self._by_partition)

    def count(self) -> int:
        return sum(len(states) for states in self._by_partition.values())
