"""The in-memory timer heap: when each waiting step (a `delay`, a retry's backoff) of an owned execution is due.

The durable record of a timer is the step's `notBefore` in the execution's snapshot; this heap is only an index
over the executions in memory, rebuilt from them on every assignment. Entries are never removed early: one that
no longer matches its execution (the step moved on, the partition was revoked, the execution finished) is simply
found stale when it comes due, because deciding a timer re-checks the state.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, order=True)
class Timer:
    """A step of an execution waiting until `due`."""

    due: datetime
    partition: int = field(compare=False)
    execution_id: str = field(compare=False)
    node_id: str = field(compare=False)


class TimerHeap:
    """Timers ordered by when they are due."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._keys: set[tuple[datetime, str, str]] = set()

    def push(self, timer: Timer) -> None:
        """Add a timer; the same step at the same time twice is kept once."""
        key = (timer.due, timer.execution_id, timer.node_id)
        if key in self._keys:
            return
        self._keys.add(key)
        heapq.heappush(self._heap, timer)

    def next_due(self) -> datetime | None:
        return self._heap[0].due if self._heap else None

    def pop_due(self, now: datetime) -> list[Timer]:
        """Remove and return every timer due at or before `now`, earliest first."""
        due: list[Timer] = []
        while self._heap and self._heap[0].due <= now:
            timer = heapq.heappop(self._heap)
            self._keys.discard((timer.due, timer.execution_id, timer.node_id))
            due.append(timer)
        return due

    def __len__(self) -> int:
        return len(self._heap)
