"""What running one step comes to: success through a named output, or a failure that may be retried."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowmatic_contracts.connectors import MAIN


@dataclass(frozen=True)
class Succeeded:
    """The step's output, and the output (connection name) the orchestrator follows next."""

    output: Any
    output_name: str = MAIN


@dataclass(frozen=True)
class Failed:
    """`retryable` is true only for errors of the node's own work (time-outs, connection errors, non-2xx)."""

    message: str
    retryable: bool = False


StepOutcome = Succeeded | Failed
