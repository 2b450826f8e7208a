"""The connector catalog: parameter models, save-time validation, run-time parsing and outputs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from flowmatic_contracts.connectors import (
    CONNECTORS,
    TRIGGER_TYPES,
    DelayParameters,
    HttpRequestParameters,
    WebhookParameters,
    catalog,
    join_path,
    node_outputs,
    parse_parameters,
    validate_parameters,
)

REQUIRED = {"webhook", "manual", "set", "if", "switch", "http_request", "delay", "response", "fail", "noop"}
PREFIX = "nodes[3].parameters"


def errors(node_type: str, parameters: Any) -> list[tuple[str, str]]:
    return validate_parameters(node_type, parameters, PREFIX)


def paths(node_type: str, parameters: Any) -> list[str]:
    return [path for path, _ in errors(node_type, parameters)]


def test_catalog_describes_every_connector() -> None:
    entries = {entry["type"]: entry for entry in catalog()}
    assert entries.keys() == REQUIRED
    for entry in entries.values():
        assert entry.keys() == {"type", "name", "category", "description", "parameters", "outputs"}
        assert entry["name"] and entry["description"]
        assert entry["category"] in {"trigger", "action", "logic", "response"}
        assert entry["parameters"]["type"] == "object"
        assert isinstance(entry["outputs"], list)
    assert {t for t, e in entries.items() if e["category"] == "trigger"} == {"webhook", "manual"} == TRIGGER_TYPES
    assert entries["response"]["category"] == "response"
    assert entries["if"]["outputs"] == ["true", "false"]
    assert entries["noop"]["outputs"] == ["main"]
    webhook = entries["webhook"]["parameters"]["properties"]
    assert {"secret", "methods", "responseTimeoutSeconds", "maxBodyBytes"} <= webhook.keys()
    assert webhook["methods"]["default"] == ["POST", "GET"]


def test_the_webhook_rate_limit_schema_is_plain_numbers_or_null() -> None:
    """Trigger parameters are read before any execution exists: the schema offers no expression for them."""
    webhook = CONNECTORS["webhook"].describe()["parameters"]["properties"]
    rate, burst = webhook["rateLimitPerSecond"], webhook["rateLimitBurst"]
    assert rate["anyOf"] == [{"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000}, {"type": "null"}]
    assert burst["anyOf"] == [{"type": "integer", "minimum": 1, "maximum": 1_000_000}, {"type": "null"}]
    assert rate["default"] is None and burst["default"] is None
    assert rate["description"] and "needs rateLimitPerSecond" in burst["description"]
    parsed = WebhookParameters.model_validate({"rateLimitPerSecond": 2.5, "rateLimitBurst": 4})
    assert (parsed.rate_limit_per_second, parsed.rate_limit_burst) == (2.5, 4)
    assert WebhookParameters().rate_limit_per_second is None and WebhookParameters().rate_limit_burst is None


def test_schemas_offer_an_expression_wherever_a_typed_value_is_expected() -> None:
    seconds = CONNECTORS["delay"].describe()["parameters"]["properties"]["seconds"]
    kinds = [option.get("type") for option in seconds["anyOf"]]
    assert kinds == ["number", "string"]
    assert "pattern" in seconds["anyOf"][1]


@pytest.mark.parametrize(
    ("node_type", "parameters"),
    [
        ("webhook", {}),
        ("webhook", {"secret": "s", "methods": ["PUT"], "responseTimeoutSeconds": 1, "maxBodyBytes": 10}),
        ("webhook", {"secret": None}),
        ("webhook", {"rateLimitPerSecond": 0.5}),
        ("webhook", {"rateLimitPerSecond": 10, "rateLimitBurst": 1}),
        ("webhook", {"rateLimitPerSecond": None, "rateLimitBurst": None}),
        ("manual", {}),
        ("set", {"fields": {"a": "{{x}}", "b": [1, {"c": "text {{y}}"}]}, "keepInput": True}),
        ("set", {"fields": "{{$input}}", "keepInput": "{{flag}}"}),
        ("if", {"conditions": [{"left": "{{x}}", "operator": "exists"}]}),
        ("if", {"conditions": [{"left": "{{x}}", "operator": "gt", "right": 5}], "combine": "any"}),
        ("if", {"conditions": [{"left": 1, "operator": "eq", "right": None}]}),
        ("if", {"conditions": [{"left": "a", "operator": "{{op}}"}]}),
        ("if", {"conditions": "{{rules}}"}),
        ("if", {"conditions": [{"left": "a", "operator": "regex", "right": "^a+$"}]}),
        ("switch", {"rules": [{"output": "x", "conditions": [{"left": 1, "operator": "in", "right": [1]}]}]}),
        ("switch", {"rules": [{"output": "x", "conditions": "{{c}}"}], "fallback": "other"}),
        ("http_request", {"method": "POST", "url": "https://example.test/{{id}}", "body": {"a": "{{b}}"}}),
        ("http_request", {"method": "{{m}}", "url": "{{u}}", "headers": {"X-A": "{{h}}"}, "query": {"q": [1, 2]}}),
        ("http_request", {"method": "GET", "url": "http://x.test", "failOnError": False, "headers": "{{h}}"}),
        ("delay", {"seconds": 5}),
        ("delay", {"seconds": 0.5}),
        ("delay", {"seconds": "{{x}}"}),
        ("delay", {"seconds": "{{ $input.wait }}"}),
        ("response", {}),
        ("response", {"statusCode": 201, "headers": {"X-A": "b"}, "body": "text {{x}}"}),
        ("response", {"statusCode": "{{code}}"}),
        ("fail", {"message": "no stock for {{customer_id}}"}),
        ("noop", {}),
    ],
)
def test_valid_parameters_have_no_errors(node_type: str, parameters: dict[str, Any]) -> None:
    assert errors(node_type, parameters) == []


@pytest.mark.parametrize(
    ("node_type", "parameters", "expected_paths"),
    [
        ("delay", {"seconds": "soon"}, [f"{PREFIX}.seconds"]),
        ("delay", {"seconds": -1}, [f"{PREFIX}.seconds"]),
        ("delay", {}, [f"{PREFIX}.seconds"]),
        ("delay", {"seconds": "{{x"}, [f"{PREFIX}.seconds"]),
        ("delay", {"seconds": 1, "extra": 2}, [f"{PREFIX}.extra"]),
        ("webhook", {"methods": ["post"]}, [f"{PREFIX}.methods[0]"]),
        ("webhook", {"methods": []}, [f"{PREFIX}.methods"]),
        ("webhook", {"methods": ["GET", "GET"]}, [f"{PREFIX}.methods"]),
        ("webhook", {"methods": "{{m}}"}, [f"{PREFIX}.methods"]),
        ("webhook", {"responseTimeoutSeconds": 31}, [f"{PREFIX}.responseTimeoutSeconds"]),
        ("webhook", {"responseTimeoutSeconds": 0}, [f"{PREFIX}.responseTimeoutSeconds"]),
        ("webhook", {"maxBodyBytes": 0}, [f"{PREFIX}.maxBodyBytes"]),
        ("webhook", {"rateLimitPerSecond": 0}, [f"{PREFIX}.rateLimitPerSecond"]),
        ("webhook", {"rateLimitPerSecond": -1}, [f"{PREFIX}.rateLimitPerSecond"]),
        ("webhook", {"rateLimitPerSecond": "5"}, [f"{PREFIX}.rateLimitPerSecond"]),
        ("webhook", {"rateLimitPerSecond": True}, [f"{PREFIX}.rateLimitPerSecond"]),
        ("webhook", {"rateLimitPerSecond": "{{rate}}"}, [f"{PREFIX}.rateLimitPerSecond"]),
        ("webhook", {"rateLimitPerSecond": 2_000_000}, [f"{PREFIX}.rateLimitPerSecond"]),
        ("webhook", {"rateLimitPerSecond": 1, "rateLimitBurst": 0}, [f"{PREFIX}.rateLimitBurst"]),
        ("webhook", {"rateLimitPerSecond": 1, "rateLimitBurst": 2.5}, [f"{PREFIX}.rateLimitBurst"]),
        ("webhook", {"rateLimitPerSecond": 1, "rateLimitBurst": "{{b}}"}, [f"{PREFIX}.rateLimitBurst"]),
        ("webhook", {"rateLimitBurst": 5}, [f"{PREFIX}.rateLimitBurst"]),
        ("webhook", {"rateLimitPerSecond": 0, "rateLimitBurst": 5}, [f"{PREFIX}.rateLimitPerSecond"]),
        ("manual", {"x": 1}, [f"{PREFIX}.x"]),
        ("set", {}, [f"{PREFIX}.fields"]),
        ("set", {"fields": [1]}, [f"{PREFIX}.fields"]),
        ("set", {"fields": {"a": "{{}}"}}, [f"{PREFIX}.fields.a"]),
        ("if", {"conditions": []}, [f"{PREFIX}.conditions"]),
        ("if", {"conditions": [{"left": 1, "operator": "gt"}]}, [f"{PREFIX}.conditions[0]"]),
        ("if", {"conditions": [{"left": 1, "operator": "like", "right": 2}]}, [f"{PREFIX}.conditions[0].operator"]),
        ("if", {"conditions": [{"operator": "exists"}]}, [f"{PREFIX}.conditions[0].left"]),
        ("if", {"conditions": [{"left": 1, "operator": "regex", "right": "("}]}, [f"{PREFIX}.conditions[0]"]),
        ("if", {"conditions": [{"left": "{{a b}}", "operator": "exists"}]}, [f"{PREFIX}.conditions[0].left"]),
        ("if", {"conditions": [{"left": 1, "operator": "exists"}], "combine": "most"}, [f"{PREFIX}.combine"]),
        ("switch", {"rules": []}, [f"{PREFIX}.rules"]),
        ("switch", {"rules": "{{r}}"}, [f"{PREFIX}.rules"]),
        (
            "switch",
            {"rules": [{"output": "{{o}}", "conditions": [{"left": 1, "operator": "exists"}]}]},
            [f"{PREFIX}.rules[0].output"],
        ),
        ("switch", {"rules": [{"output": "", "conditions": "{{c}}"}]}, [f"{PREFIX}.rules[0].output"]),
        ("http_request", {"url": "https://x.test"}, [f"{PREFIX}.method"]),
        ("http_request", {"method": "FETCH", "url": "https://x.test"}, [f"{PREFIX}.method"]),
        ("http_request", {"method": "GET", "url": "ftp://x.test"}, [f"{PREFIX}.url"]),
        ("http_request", {"method": "GET", "url": "/relative"}, [f"{PREFIX}.url"]),
        (
            "http_request",
            {"method": "GET", "url": "https://x", "headers": {"bad name": "v"}},
            [f"{PREFIX}.headers.bad name"],
        ),
        ("http_request", {"method": "GET", "url": "https://x", "headers": {"X": "a\r\nb"}}, [f"{PREFIX}.headers.X"]),
        ("http_request", {"method": "GET", "url": "https://x", "failOnError": "maybe"}, [f"{PREFIX}.failOnError"]),
        ("response", {"statusCode": 99}, [f"{PREFIX}.statusCode"]),
        ("response", {"statusCode": "ok"}, [f"{PREFIX}.statusCode"]),
        ("response", {"body": {"a": "{{"}}, [f"{PREFIX}.body.a"]),
        ("fail", {}, [f"{PREFIX}.message"]),
        ("fail", {"message": ""}, [f"{PREFIX}.message"]),
    ],
)
def test_invalid_parameters_are_reported_by_path(
    node_type: str, parameters: dict[str, Any], expected_paths: list[str]
) -> None:
    found = errors(node_type, parameters)
    assert [path for path, _ in found] == expected_paths
    assert all(message for _, message in found)


def test_messages_say_what_is_wrong() -> None:
    ((_, message),) = errors("if", {"conditions": [{"left": 1, "operator": "gt"}]})
    assert message == "'right' is required for operator 'gt'"
    ((_, message),) = errors("delay", {"seconds": "{{x"})
    assert "invalid expression" in message and "unclosed" in message


def test_unknown_type_and_missing_parameters() -> None:
    assert errors("teleport", {}) == [(PREFIX, "unknown connector type 'teleport'")]
    assert errors("noop", None) == []
    assert paths("noop", [1]) == [PREFIX]


@pytest.mark.parametrize(
    ("node_type", "parameters", "outputs"),
    [
        ("if", {}, ["true", "false"]),
        ("noop", {}, ["main"]),
        ("webhook", {}, ["main"]),
        ("http_request", {"garbage": True}, ["main"]),
        (
            "switch",
            {"rules": [{"output": "a"}, {"output": "b"}, {"output": "a"}, {"nope": 1}, "x"], "fallback": "c"},
            ["a", "b", "c"],
        ),
        ("switch", {"rules": [{"output": "a"}], "fallback": "a"}, ["a"]),
        ("switch", {"rules": "{{x}}"}, []),
        ("teleport", {}, []),
    ],
)
def test_node_outputs(node_type: str, parameters: dict[str, Any], outputs: list[str]) -> None:
    assert node_outputs(node_type, parameters) == outputs


def test_run_time_parsing_rejects_unresolved_expressions_and_coerces_scalars_to_text() -> None:
    parsed = parse_parameters("delay", {"seconds": 5})
    assert isinstance(parsed, DelayParameters) and parsed.seconds == 5
    with pytest.raises(ValidationError):
        parse_parameters("delay", {"seconds": "{{x}}"})
    request = parse_parameters(
        "http_request", {"method": "GET", "url": "https://x.test", "headers": {"X-N": 5, "X-B": True}}
    )
    assert isinstance(request, HttpRequestParameters)
    assert request.headers == {"X-N": "5", "X-B": "true"}
    assert request.fail_on_error is True
    assert parse_parameters("fail", {"message": 42}).model_dump() == {"message": "42"}


def test_webhook_defaults() -> None:
    parsed = parse_parameters("webhook", {})
    assert isinstance(parsed, WebhookParameters)
    assert parsed.methods == ["POST", "GET"]
    assert (parsed.response_timeout_seconds, parsed.max_body_bytes, parsed.secret) == (30, 1024 * 1024, None)


def test_join_path() -> None:
    assert join_path("", ("a", 0, "b")) == "a[0].b"
    assert join_path("p", ("headers", "X", "[key]")) == "p.headers.X"
