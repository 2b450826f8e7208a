"""The aggregates this instance owns (workflows and running executions), held in memory and grouped by
partition so a revoked partition's aggregates can be dropped and an assigned one's loaded without touching the
rest."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from flowmatic_orchestrator.adapters.execution_snapshots import RunningExecution
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


class InMemoryExecutions:
    """Running executions by partition number and execution id, and the ids of recently finished ones.

    A finished execution's snapshot is a tombstone, so after a restart only running executions are known. Within
    one incarnation the last `remember_finished` finished ids per partition are kept too, so a duplicate start
    of an execution that has just finished is still recognised as one.
    """

    def __init__(self, remember_finished: int = 10_000) -> None:
        self._by_partition: dict[int, dict[str, RunningExecution]] = {}
        self._finished: dict[int, OrderedDict[str, None]] = {}
        self._remember = remember_finished

    def get(self, partition: int, execution_id: str) -> RunningExecution | None:
        return self._by_partition.get(partition, {}).get(execution_id)

    def exists(self, partition: int, execution_id: str) -> bool:
        """Whether the id is taken: running here, or finished recently."""
        return execution_id in self._by_partition.get(partition, {}) or execution_id in self._finished.get(
            partition, {}
        )

    def load(self, partition: int, executions: Mapping[str, RunningExecution]) -> None:
        """Replace everything known about one partition (after reading its snapshots)."""
        self._by_partition[partition] = dict(executions)
        self._finished[partition] = OrderedDict()

    def drop(self, partition: int) -> None:
        """Forget a partition this instance no longer owns."""
        self._by_partition.pop(partition, None)
        self._finished.pop(partition, None)

    def put(self, partition: int, execution: RunningExecution) -> None:
        """Record an execution's state after a commit; a finished one is forgotten but its id remembered."""
        if not execution.state.finished:
            self._by_partition.setdefault(partition, {})[execution.execution_id] = execution
            return
        self._by_partition.get(partition, {}).pop(execution.execution_id, None)
        finished = self._finished.setdefault(partition, OrderedDict())
        finished[execution.execution_id] = None
        while len(finished) > self._remember:
            finished.popitem(last=False)

    def owns(self, partition: int) -> bool:
        return partition in self._by_partition

    def partitions(self) -> frozenset[int]:
        return frozenset(self._by_partition)

    def running(self, partition: int) -> list[RunningExecution]:
        return list(self._by_partition.get(partition, {}).values())

    def count(self) -> int:
        return sum(len(executions) for executions in self._by_partition.values())
