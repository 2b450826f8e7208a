"""The stack record that `status` and `down` read."""

from __future__ import annotations

import os
from pathlib import Path

from flowmatic_devstack.state_file import ComponentRecord, StackRecord, pid_alive, remove_record


def test_the_record_round_trips_and_can_be_removed(tmp_path: Path) -> None:
    record = StackRecord(
        42,
        "http://127.0.0.1:8080",
        [ComponentRecord("kafka", 43, "tcp://127.0.0.1:9092"), ComponentRecord("gateway", 44, "http://x/readyz")],
    )

    record.write(tmp_path)

    assert StackRecord.read(tmp_path) == record
    remove_record(tmp_path)
    assert StackRecord.read(tmp_path) is None


def test_an_unreadable_record_counts_as_none(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text("{not json")

    assert StackRecord.read(tmp_path) is None


def test_pid_alive_knows_this_process() -> None:
    assert pid_alive(os.getpid())
