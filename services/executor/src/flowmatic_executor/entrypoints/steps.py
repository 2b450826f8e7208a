"""Where a StepRequested becomes a StepSucceeded or StepFailed: render, check, run the connector."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from flowmatic_contracts import expressions
from flowmatic_contracts.connectors import CONNECTORS, HttpRequestParameters, format_errors, parse_parameters
from flowmatic_contracts.envelope import Envelope, new_envelope
from flowmatic_contracts.events import StepError, StepFailed, StepRequested, StepSucceeded
from flowmatic_executor.domain.conditions import ConditionError
from flowmatic_executor.domain.connectors import run_pure
from flowmatic_executor.domain.outcomes import Failed, StepOutcome, Succeeded

log = logging.getLogger(__name__)


class HttpCaller(Protocol):
    """What runs `http_request` (the httpx adapter, or a fake in tests)."""

    async def run(
        self, parameters: HttpRequestParameters, *, idempotency_key: str, timeout_seconds: float
    ) -> StepOutcome: ...


class StepRunner:
    """Runs one attempt of one node. Never raises for a step's own problems: they become a `Failed` outcome."""

    def __init__(self, http: HttpCaller, clock: Callable[[], datetime], default_timeout_seconds: float = 30) -> None:
        self._http = http
        self._clock = clock
        self._default_timeout_seconds = default_timeout_seconds

    async def run(self, step: StepRequested) -> StepOutcome:
        """Render the parameters against the step's context, validate them, and run the connector."""
        if step.node_type not in CONNECTORS:
            return Failed(f"unknown connector type {step.node_type!r}", retryable=False)
        resolved = self._render(step)
        if isinstance(resolved, Failed):
            return resolved
        try:
            parameters = parse_parameters(step.node_type, resolved)
        except ValidationError as exc:
            problems = "; ".join(f"{path}: {message}" for path, message in format_errors(exc, "parameters"))
            return Failed(f"invalid parameters after resolving expressions: {problems}", retryable=False)
        try:
            if isinstance(parameters, HttpRequestParameters):
                return await self._http.run(
                    parameters,
                    idempotency_key=f"{step.execution_id}:{step.node_id}:{step.attempt}",
                    timeout_seconds=step.timeout_seconds or self._default_timeout_seconds,
                )
            outcome = run_pure(parameters, step.input)
        except ConditionError as exc:
            return Failed(str(exc), retryable=False)
        if outcome is None:  # a connector in the catalog with no implementation here: a bug, said plainly
            return Failed(f"the executor cannot run {step.node_type!r} nodes", retryable=False)
        return outcome

    def _render(self, step: StepRequested) -> Any:
        malformed = expressions.find_errors(step.parameters, "parameters")
        if malformed:
            return Failed("; ".join(f"{path}: {message}" for path, message in malformed), retryable=False)
        context = expressions.context_from_step(
            step.context,
            node_input=step.input,
            now=self._clock().isoformat().replace("+00:00", "Z"),
            execution_id=step.execution_id,
            workflow_id=step.workflow_id,
            workflow_version=step.workflow_version,
        )
        try:
            return expressions.render(step.parameters, context)
        except expressions.ExpressionError as exc:  # find_errors saw none; kept so a parser change cannot crash us
            return Failed(f"invalid expression: {exc.message}", retryable=False)


def result_envelope(request: Envelope, step: StepRequested, outcome: StepOutcome) -> Envelope:
    """The StepSucceeded / StepFailed for a request: keyed by execution, caused by the request, same correlation."""
    payload: StepSucceeded | StepFailed
    if isinstance(outcome, Succeeded):
        payload = StepSucceeded(
            node_id=step.node_id, attempt=step.attempt, output=outcome.output, output_name=outcome.output_name
        )
    else:
        payload = StepFailed(
            node_id=step.node_id,
            attempt=step.attempt,
            error=StepError(message=outcome.message, retryable=outcome.retryable),
        )
    return new_envelope(
        payload,
        aggregate_id=step.execution_id,
        actor=request.actor,
        correlation_id=request.correlation_id,
        causation_id=request.id,
    )
