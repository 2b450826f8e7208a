"""Which trigger a manual execution starts from."""

from __future__ import annotations

from collections.abc import Callable

from flowmatic_contracts.workflow import WorkflowSpec

MANUAL_TYPE = "manual"


class TriggerChoiceError(ValueError):
    """No trigger, or an ambiguous or unknown one was asked for (422)."""


def choose_trigger(spec: WorkflowSpec, requested: str | None, is_trigger: Callable[[str], bool]) -> str:
    """The trigger node an `/execute` runs from: the one named, else the only manual trigger, else the only
    trigger; several candidates need `?triggerId=`."""
    triggers = [node for node in spec.nodes if is_trigger(node.type)]
    if requested is not None:
        if any(node.id == requested for node in triggers):
            return requested
        raise TriggerChoiceError(f"the workflow has no trigger node {requested!r}")
    manual = [node for node in triggers if node.type == MANUAL_TYPE]
    for candidates in (manual, triggers):
        if len(candidates) == 1:
            return candidates[0].id
    if not triggers:
        raise TriggerChoiceError("the workflow has no trigger node")
    names = ", ".join(node.id for node in triggers)
    raise TriggerChoiceError(f"the workflow has several triggers ({names}): name one with ?triggerId=")
