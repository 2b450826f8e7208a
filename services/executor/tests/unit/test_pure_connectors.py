"""The connectors that need no I/O, run through the StepRunner as the worker runs them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from flowmatic_contracts.connectors import NO_OUTPUT, HttpRequestParameters
from flowmatic_contracts.envelope import Actor, new_envelope
from flowmatic_contracts.events import StepFailed, StepRequested, StepSucceeded
from flowmatic_contracts.expressions import step_context
from flowmatic_executor.domain.outcomes import Failed, StepOutcome, Succeeded
from flowmatic_executor.entrypoints.steps import StepRunner, result_envelope

INPUT: dict[str, Any] = {"event": "order.created", "customer_id": "cust_123", "data": {"amount": 99.99}, "n": 4}


class RecordingHttp:
    """Stands in for the httpx adapter: records what it was asked to do."""

    def __init__(self, outcome: StepOutcome | None = None) -> None:
        self.calls: list[tuple[HttpRequestParameters, str, float]] = []
        self.outcome = outcome or Succeeded({"status": 200, "headers": {}, "body": None})

    async def run(
        self, parameters: HttpRequestParameters, *, idempotency_key: str, timeout_seconds: float
    ) -> StepOutcome:
        self.calls.append((parameters, idempotency_key, timeout_seconds))
        return self.outcome


def request(
    node_type: str,
    parameters: dict[str, Any],
    node_input: Any = None,
    *,
    attempt: int = 1,
    timeout_seconds: float | None = None,
) -> StepRequested:
    return StepRequested(
        execution_id="ex_1",
        workflow_id="wf_1",
        workflow_version=2,
        node_id="node-1",
        node_type=node_type,
        attempt=attempt,
        parameters=parameters,
        input=INPUT if node_input is None else node_input,
        context=step_context(execution_input=INPUT, node_outputs={"first": {"total": 7}}),
        timeout_seconds=timeout_seconds,
    )


def runner(http: RecordingHttp | None = None) -> StepRunner:
    return StepRunner(http or RecordingHttp(), lambda: datetime(2026, 2, 8, 12, 0, tzinfo=UTC), 30)


async def run(node_type: str, parameters: dict[str, Any], node_input: Any = None) -> StepOutcome:
    return await runner().run(request(node_type, parameters, node_input))


async def test_set_outputs_resolved_fields() -> None:
    outcome = await run("set", {"fields": {"total": "{{data.amount}}", "who": "{{customer_id}}!", "n": 1}})
    assert outcome == Succeeded({"total": 99.99, "who": "cust_123!", "n": 1})


async def test_set_with_keep_input_merges_over_the_input() -> None:
    outcome = await run("set", {"fields": {"n": 5, "from": "{{$node.first.total}}"}, "keepInput": True})
    assert outcome == Succeeded({**INPUT, "n": 5, "from": 7})


async def test_if_routes_true_or_false_and_passes_its_input_on() -> None:
    conditions = [{"left": "{{data.amount}}", "operator": "gt", "right": 50}]
    assert await run("if", {"conditions": conditions}) == Succeeded(INPUT, "true")
    conditions.append({"left": "{{data.currency}}", "operator": "eq", "right": "USD"})
    assert await run("if", {"conditions": conditions}) == Succeeded(INPUT, "false")
    assert await run("if", {"conditions": conditions, "combine": "any"}) == Succeeded(INPUT, "true")


async def test_switch_takes_the_first_matching_rule_else_the_fallback() -> None:
    rules = [
        {"output": "refund", "conditions": [{"left": "{{event}}", "operator": "startsWith", "right": "refund."}]},
        {"output": "order", "conditions": [{"left": "{{event}}", "operator": "startsWith", "right": "order."}]},
        {"output": "late", "conditions": [{"left": "{{event}}", "operator": "exists"}]},
    ]
    assert await run("switch", {"rules": rules, "fallback": "other"}) == Succeeded(INPUT, "order")
    assert await run("switch", {"rules": rules[:1], "fallback": "other"}) == Succeeded(INPUT, "other")
    assert await run("switch", {"rules": rules[:1]}) == Succeeded(INPUT, NO_OUTPUT)


@pytest.mark.parametrize("node_type", ["noop", "delay", "webhook", "manual"])
async def test_pass_through_connectors(node_type: str) -> None:
    parameters = {"seconds": 3} if node_type == "delay" else {}
    assert await run(node_type, parameters, {"x": 1}) == Succeeded({"x": 1})


async def test_fail_is_not_retryable_and_resolves_its_message() -> None:
    assert await run("fail", {"message": "no stock for {{customer_id}}"}) == Failed("no stock for cust_123")


async def test_response_resolves_status_headers_and_body() -> None:
    outcome = await run(
        "response", {"statusCode": "{{n}}00", "headers": {"X-Who": "{{customer_id}}"}, "body": {"ok": "{{n}}"}}
    )
    assert outcome == Succeeded({"statusCode": 400, "headers": {"X-Who": "cust_123"}, "body": {"ok": 4}})
    assert await run("response", {}) == Succeeded({"statusCode": 200, "headers": {}, "body": None})


async def test_expression_roots_from_the_request() -> None:
    outcome = await run(
        "set",
        {"fields": {"e": "{{$execution.id}}", "w": "{{$workflow.id}}@{{$workflow.version}}", "t": "{{$now}}"}},
    )
    assert outcome == Succeeded({"e": "ex_1", "w": "wf_1@2", "t": "2026-02-08T12:00:00Z"})


@pytest.mark.parametrize(
    ("node_type", "parameters", "fragment"),
    [
        ("set", {"fields": {"a": "{{oops"}}, "parameters.fields.a: invalid expression: unclosed"),
        ("delay", {"seconds": "{{event}}"}, "parameters.seconds: Input should be a valid number"),
        ("delay", {"seconds": "{{missing}}"}, "parameters.seconds"),
        ("if", {"conditions": "{{data}}"}, "parameters.conditions"),
        (
            "if",
            {"conditions": [{"left": "a", "operator": "regex", "right": "{{event}}("}]},
            "not a valid regular expression",
        ),
        ("response", {"statusCode": "{{event}}"}, "parameters.statusCode"),
        ("http_request", {"method": "GET", "url": "{{event}}"}, "parameters.url: must be an absolute"),
        ("teleport", {}, "unknown connector type 'teleport'"),
    ],
)
async def test_expression_and_parameter_errors_fail_without_retry(
    node_type: str, parameters: dict[str, Any], fragment: str
) -> None:
    outcome = await run(node_type, parameters)
    assert isinstance(outcome, Failed), outcome
    assert fragment in outcome.message
    assert outcome.retryable is False


async def test_http_request_gets_the_idempotency_key_and_the_step_timeout() -> None:
    http = RecordingHttp()
    parameters = {"method": "POST", "url": "https://example.test/orders/{{customer_id}}", "body": {"a": "{{n}}"}}
    await runner(http).run(request("http_request", parameters, attempt=3, timeout_seconds=4.5))
    await runner(http).run(request("http_request", parameters))
    (first, key, timeout), (_, _, default_timeout) = http.calls
    assert key == "ex_1:node-1:3"
    assert (timeout, default_timeout) == (4.5, 30)
    assert first.url == "https://example.test/orders/cust_123" and first.body == {"a": 4}


def test_result_envelopes_keep_the_chain_of_causes() -> None:
    step = request("noop", {})
    incoming = new_envelope(step, aggregate_id="ex_1", actor=Actor(kind="webhook", id="wh_1"), correlation_id="c1")
    succeeded = result_envelope(incoming, step, Succeeded({"x": 1}, "true"))
    assert (succeeded.aggregate_id, succeeded.causation_id, succeeded.correlation_id) == ("ex_1", incoming.id, "c1")
    assert succeeded.actor == incoming.actor
    assert succeeded.payload == StepSucceeded(node_id="node-1", attempt=1, output={"x": 1}, output_name="true")
    failed = result_envelope(incoming, step, Failed("boom", retryable=True))
    payload = failed.payload_as(StepFailed)
    assert (payload.error.message, payload.error.retryable, payload.attempt) == ("boom", True, 1)
