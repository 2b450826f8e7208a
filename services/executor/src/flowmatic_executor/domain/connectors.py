"""The connectors that need nothing but their resolved parameters and input (everything but `http_request`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flowmatic_contracts.connectors import (
    NO_OUTPUT,
    DelayParameters,
    FailParameters,
    IfParameters,
    ManualParameters,
    NoopParameters,
    Parameters,
    ResponseParameters,
    SetParameters,
    SwitchParameters,
    WebhookParameters,
)
from flowmatic_executor.domain.conditions import all_hold
from flowmatic_executor.domain.outcomes import Failed, StepOutcome, Succeeded

PureConnector = Callable[[Any, Any], StepOutcome]


def run_set(parameters: SetParameters, node_input: Any) -> StepOutcome:
    """The fields, merged over the input when `keepInput` (and the input is an object)."""
    if parameters.keep_input and isinstance(node_input, Mapping):
        return Succeeded({**node_input, **parameters.fields})
    return Succeeded(dict(parameters.fields))


def run_if(parameters: IfParameters, node_input: Any) -> StepOutcome:
    """Passes the input on through `true` or `false`."""
    return Succeeded(node_input, "true" if all_hold(parameters.conditions, parameters.combine) else "false")


def run_switch(parameters: SwitchParameters, node_input: Any) -> StepOutcome:
    """Passes the input on through the first matching rule's output, else the fallback (or no output at all)."""
    for rule in parameters.rules:
        if all_hold(rule.conditions):
            return Succeeded(node_input, rule.output)
    return Succeeded(node_input, parameters.fallback or NO_OUTPUT)


def run_response(parameters: ResponseParameters, node_input: Any) -> StepOutcome:
    """The answer for a waiting synchronous webhook, expressions already resolved."""
    return Succeeded(
        {"statusCode": parameters.status_code, "headers": dict(parameters.headers), "body": parameters.body}
    )


def run_fail(parameters: FailParameters, node_input: Any) -> StepOutcome:
    """Fails with the message; never retried."""
    return Failed(parameters.message, retryable=False)


def run_pass_through(parameters: Parameters, node_input: Any) -> StepOutcome:
    """`noop`, the triggers, and `delay` (whose durable timer is the orchestrator's job) pass their input on."""
    return Succeeded(node_input)


PURE_CONNECTORS: dict[type[Parameters], PureConnector] = {
    SetParameters: run_set,
    IfParameters: run_if,
    SwitchParameters: run_switch,
    ResponseParameters: run_response,
    FailParameters: run_fail,
    NoopParameters: run_pass_through,
    DelayParameters: run_pass_through,
    WebhookParameters: run_pass_through,
    ManualParameters: run_pass_through,
}


def run_pure(parameters: Parameters, node_input: Any) -> StepOutcome | None:
    """Run a connector that needs no I/O; None when the parameters belong to one that does."""
    connector = PURE_CONNECTORS.get(type(parameters))
    return None if connector is None else connector(parameters, node_input)
