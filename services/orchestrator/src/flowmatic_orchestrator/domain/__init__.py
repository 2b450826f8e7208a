"""The orchestrator's pure core: aggregates' state, `decide` and `evolve`. No I/O, no clock, no environment."""

from flowmatic_orchestrator.domain.decision import Decision, DecisionContext, UnsupportedCommandError
from flowmatic_orchestrator.domain.state import WorkflowState
from flowmatic_orchestrator.domain.workflows import WORKFLOW_COMMANDS, decide, evolve

__all__ = [
    "WORKFLOW_COMMANDS",
    "Decision",
    "DecisionContext",
    "UnsupportedCommandError",
    "WorkflowState",
    "decide",
    "evolve",
]
