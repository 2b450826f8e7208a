"""Consumed and to-be-produced records, reduced to what processing needs (no Kafka client types)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InboundRecord:
    """A consumed message, reduced to what processing needs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def where(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


@dataclass(frozen=True)
class OutboundRecord:
    """A message to produce inside a transaction; no value is a tombstone (compacted topics only). Without a
    partition, the key chooses it."""

    topic: str
    key: bytes
    value: bytes | None
    partition: int | None = None
