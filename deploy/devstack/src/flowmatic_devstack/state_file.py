"""The running stack's description in <state>/stack.json: how `status` and `down` find a stack started elsewhere."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "stack.json"


@dataclass(frozen=True)
class ComponentRecord:
    """One running component and how to ask whether it is ready."""

    name: str
    pid: int
    endpoint: str
    """`tcp://host:port` (ready = accepts a connection) or a service's /readyz URL (ready = 200)."""


@dataclass(frozen=True)
class StackRecord:
    """What `flowmatic up` writes once the stack is ready (and again after a restart)."""

    supervisor_pid: int
    public_url: str
    components: list[ComponentRecord] = field(default_factory=list)

    def write(self, state_dir: Path) -> None:
        """Replace the file atomically, so a reader never sees half of it."""
        path = state_dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(path)

    @classmethod
    def read(cls, state_dir: Path) -> StackRecord | None:
        """The record, or None when there is none or it is unreadable."""
        try:
            raw = json.loads((state_dir / STATE_FILE).read_text())
            return cls(
                supervisor_pid=int(raw["supervisor_pid"]),
                public_url=str(raw["public_url"]),
                components=[ComponentRecord(**component) for component in raw["components"]],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def remove_record(state_dir: Path) -> None:
    """Forget the stack (it has stopped)."""
    (state_dir / STATE_FILE).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (and is not a zombie waiting for its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"
