"""The spec's connector types with their parameter models: the gateway's catalog until the shared one lands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from flowmatic_gateway.domain.connectors import ConnectorDescriptor, StaticCatalog

Operator = Literal[
    "eq", "ne", "gt", "gte", "lt", "lte", "contains", "notContains", "startsWith", "endsWith",
    "exists", "notExists", "in", "regex",
]  # fmt: skip
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _default_methods() -> list[HttpMethod]:
    return ["POST", "GET"]


class _Parameters(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class NoParameters(_Parameters):
    pass


class WebhookParameters(_Parameters):
    secret: str | None = Field(default=None, min_length=1)
    methods: list[HttpMethod] = Field(default_factory=_default_methods, min_length=1)
    response_timeout_seconds: float = Field(default=30, ge=1, le=30)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)


class SetParameters(_Parameters):
    fields: dict[str, Any]
    keep_input: bool = False


class Condition(_Parameters):
    left: Any = None
    operator: Operator
    # Unary operators (exists, notExists) take no right-hand side.
    right: Any = None


class IfParameters(_Parameters):
    conditions: list[Condition] = Field(min_length=1)
    combine: Literal["all", "any"] = "all"


class SwitchRule(_Parameters):
    output: str = Field(min_length=1)
    conditions: list[Condition] = Field(min_length=1)
    combine: Literal["all", "any"] = "all"


class SwitchParameters(_Parameters):
    rules: list[SwitchRule] = Field(min_length=1)
    fallback: str | None = None


class HttpRequestParameters(_Parameters):
    method: HttpMethod = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, str] | None = None
    query: dict[str, Any] | None = None
    body: Any = None
    fail_on_error: bool = True


class DelayParameters(_Parameters):
    seconds: float = Field(ge=0, le=30 * 24 * 3600)


class ResponseParameters(_Parameters):
    status_code: int = Field(default=200, ge=100, le=599)
    headers: dict[str, str] | None = None
    body: Any = None


class FailParameters(_Parameters):
    message: str


def _switch_outputs(parameters: Mapping[str, Any]) -> frozenset[str]:
    names: set[str] = set()
    rules = parameters.get("rules")
    if isinstance(rules, list):
        names.update(r["output"] for r in rules if isinstance(r, dict) and isinstance(r.get("output"), str))
    fallback = parameters.get("fallback")
    if isinstance(fallback, str):
        names.add(fallback)
    return frozenset(names)


BUILTIN_CONNECTORS = (
    ConnectorDescriptor("webhook", "Webhook", "trigger", "Starts an execution on an HTTP call.", WebhookParameters),
    ConnectorDescriptor("manual", "Manual", "trigger", "Starts an execution from /execute.", NoParameters),
    ConnectorDescriptor("set", "Set", "action", "Outputs the given fields.", SetParameters),
    ConnectorDescriptor("if", "If", "logic", "Routes to true or false.", IfParameters, ("true", "false")),
    ConnectorDescriptor(
        "switch",
        "Switch",
        "logic",
        "Routes to the first matching rule's output.",
        SwitchParameters,
        (),
        _switch_outputs,
    ),
    ConnectorDescriptor("http_request", "HTTP request", "action", "Calls an HTTP endpoint.", HttpRequestParameters),
    ConnectorDescriptor("delay", "Delay", "action", "Waits durably.", DelayParameters),
    ConnectorDescriptor("response", "Response", "response", "Answers a waiting webhook.", ResponseParameters),
    ConnectorDescriptor("fail", "Fail", "action", "Fails the execution.", FailParameters),
    ConnectorDescriptor("noop", "No operation", "action", "Passes its input on.", NoParameters),
)


def builtin_catalog() -> StaticCatalog:
    return StaticCatalog(BUILTIN_CONNECTORS)
