"""Log positions, without a Kafka client: a partition and the offset of the next record to apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Partition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


@dataclass(frozen=True)
class LogRecord:
    """One record read from the log, as the projection sees it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None

    @property
    def position(self) -> Partition:
        return Partition(self.topic, self.partition)


def reached(positions: dict[Partition, int], targets: dict[Partition, int]) -> bool:
    """Whether every target partition's position is at or past its target offset."""
    return all(positions.get(partition, -1) >= offset for partition, offset in targets.items())
