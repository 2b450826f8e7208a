"""The connector catalog: every node type, its parameters as a pydantic model, and its outputs.

The models serve twice. At save time the gateway validates a workflow's raw parameters with
`validate_parameters`: wherever a typed value is expected an expression string (`"{{x}}"`) is accepted too,
as long as it parses, because its value is only known when the step runs. At run time the executor renders
the expressions first and then validates the result with `parse_parameters`, where expressions are no longer
accepted, so a resolved value of the wrong type fails the step with a clear message.

Trigger parameters (`webhook`, `manual`) and `switch`'s output names are read before any execution exists
(by the gateway's webhook intake and by save-time connection checks), so they never accept expressions.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeAlias, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from flowmatic_contracts import expressions

# ---- expressions in place of typed values ---------------------------------------------------------------------

RESOLVED: Final = "resolved"
"""Validation-context flag: the parameters were rendered, so an expression string is no longer acceptable."""

EXPRESSION_JSON_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "pattern": r"\{\{[\s\S]*\}\}",
    "description": "an expression, resolved when the step runs",
}


def _expression_or_value(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    context = info.context if isinstance(info.context, Mapping) else {}
    if isinstance(value, str) and expressions.is_template(value) and not context.get(RESOLVED):
        try:
            expressions.parse(value)
        except expressions.ExpressionError as exc:
            raise PydanticCustomError(
                "expression",
                "invalid expression: {reason} (at character {position})",
                {"reason": exc.message, "position": exc.position},
            ) from None
        return value  # checked again, resolved, when the step runs
    return handler(value)


class _ExpressionAllowed:
    """`Annotated` marker: the value may instead be an expression string (see the module docstring)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.with_info_wrap_validator_function(_expression_or_value, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"anyOf": [handler(schema), dict(EXPRESSION_JSON_SCHEMA)]}


T = TypeVar("T")
Templated: TypeAlias = Annotated[T, _ExpressionAllowed()]


# ---- shared value types ---------------------------------------------------------------------------------------

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
Operator = Literal[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "notContains",
    "startsWith",
    "endsWith",
    "exists",
    "notExists",
    "in",
    "regex",
]
UNARY_OPERATORS: Final = frozenset({"exists", "notExists"})
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


def _scalar_to_text(value: Any) -> Any:
    """Resolved expressions keep their JSON type; a number or boolean where text is expected becomes text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _no_line_breaks(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("header values must not contain line breaks")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


def _static_name(value: str) -> str:
    if expressions.is_template(value):
        raise ValueError("output names are fixed when the workflow is saved: no expressions")
    return value


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


Text = Annotated[str, BeforeValidator(_scalar_to_text)]
HeaderName = Annotated[str, Field(pattern=_HEADER_NAME, max_length=256)]
HeaderValue = Annotated[str, BeforeValidator(_scalar_to_text), AfterValidator(_no_line_breaks)]
Headers = dict[HeaderName, HeaderValue]
OutputName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_static_name)]


class Parameters(BaseModel):
    """Base of every connector's parameters: camelCase names, unknown names refused."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)


class Condition(Parameters):
    """`left <operator> right`; `right` is not needed for `exists` / `notExists`."""

    left: Any
    operator: Templated[Operator]
    right: Any = None

    @model_validator(mode="after")
    def _check_right(self) -> Condition:
        operator = self.operator
        if operator in UNARY_OPERATORS or expressions.is_template(operator):
            return self
        if "right" not in self.model_fields_set:
            raise ValueError(f"'right' is required for operator {operator!r}")
        if operator == "regex" and isinstance(self.right, str) and not expressions.is_template(self.right):
            try:
                re.compile(self.right)
            except re.error as exc:
                raise ValueError(f"'right' is not a valid regular expression: {exc}") from None
        return self


Conditions = Annotated[list[Condition], Field(min_length=1)]


# ---- one model per connector ------------------------------------------------------------------------------------


MAX_RATE_LIMIT: Final = 1_000_000
"""Upper bound of a webhook trigger's `rateLimitPerSecond` and `rateLimitBurst` (a typo guard, not a policy)."""


class WebhookParameters(Parameters):
    secret: str | None = Field(default=None, min_length=1, max_length=1024)
    methods: Annotated[list[HttpMethod], Field(min_length=1), AfterValidator(_unique)] = ["POST", "GET"]
    response_timeout_seconds: float = Field(default=30, ge=1, le=30)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024)
    # This trigger's own rate limit, over the gateway's global one; strict, so the JSON number the gateway folds
    # from the log is the number validated here (no "5" or true standing in for one).
    rate_limit_per_second: float | None = Field(
        default=None,
        gt=0,
        le=MAX_RATE_LIMIT,
        strict=True,
        allow_inf_nan=False,
        description="deliveries per second, on average, accepted by each gateway instance (default: the "
        "gateway's FLOWMATIC_WEBHOOK_RATE_LIMIT_PER_SECOND, off unless set)",
    )
    rate_limit_burst: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RATE_LIMIT,
        strict=True,
        description="deliveries accepted at once before the rate applies (default: rateLimitPerSecond rounded up); "
        "needs rateLimitPerSecond",
    )

    @field_validator("rate_limit_burst")
    @classmethod
    def _burst_needs_a_rate(cls, burst: int | None, info: ValidationInfo) -> int | None:
        # Only when the rate is absent: a rate that failed its own check is already reported under its own name.
        if burst is not None and "rate_limit_per_second" in info.data and info.data["rate_limit_per_second"] is None:
            raise ValueError("rateLimitBurst needs rateLimitPerSecond")
        return burst


class ManualParameters(Parameters):
    pass


class SetParameters(Parameters):
    fields: Templated[dict[str, Any]]
    keep_input: Templated[bool] = False


class IfParameters(Parameters):
    conditions: Templated[Conditions]
    combine: Templated[Literal["all", "any"]] = "all"


class SwitchRule(Parameters):
    output: OutputName
    conditions: Templated[Conditions]


class SwitchParameters(Parameters):
    rules: Annotated[list[SwitchRule], Field(min_length=1)]
    fallback: OutputName | None = None


class HttpRequestParameters(Parameters):
    method: Templated[HttpMethod]
    url: Templated[Annotated[str, AfterValidator(_http_url), Field(max_length=8192)]]
    headers: Templated[Headers] = {}
    query: Templated[dict[str, Any]] = {}
    body: Any = None
    fail_on_error: Templated[bool] = True


class DelayParameters(Parameters):
    seconds: Templated[Annotated[float, Field(ge=0, le=31 * 24 * 3600)]]


class ResponseParameters(Parameters):
    status_code: Templated[Annotated[int, Field(ge=100, le=599)]] = 200
    headers: Templated[Headers] = {}
    body: Any = None


class FailParameters(Parameters):
    message: Templated[Annotated[Text, Field(min_length=1, max_length=10_000)]]


class NoopParameters(Parameters):
    pass


# ---- the catalog ------------------------------------------------------------------------------------------------

Category = Literal["trigger", "action", "logic", "response"]
MAIN: Final = "main"
NO_OUTPUT: Final = ""
"""`output_name` of a `switch` that matched no rule and has no fallback: no connection leaves by it."""


@dataclass(frozen=True)
class Connector:
    """One node type as the catalog describes it."""

    type: str
    name: str
    category: Category
    description: str
    parameters: builtins.type[Parameters]
    outputs: tuple[str, ...] = (MAIN,)

    def describe(self) -> dict[str, Any]:
        """The entry `GET /api/v1/connectors` serves."""
        return {
            "type": self.type,
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "parameters": self.parameters.model_json_schema(),
            "outputs": list(self.outputs),
        }


CONNECTORS: Final[dict[str, Connector]] = {
    c.type: c
    for c in (
        Connector(
            "webhook",
            "Webhook",
            "trigger",
            "Starts an execution when an HTTP request arrives at its URL; "
            "output = the request payload with `_webhook`.",
            WebhookParameters,
        ),
        Connector(
            "manual",
            "Manual",
            "trigger",
            "Starts an execution from `POST /api/v1/workflows/{id}/execute`; output = the request body.",
            ManualParameters,
        ),
        Connector(
            "set",
            "Set fields",
            "action",
            "Outputs the given fields, merged over its input when `keepInput`.",
            SetParameters,
        ),
        Connector(
            "if",
            "If",
            "logic",
            "Checks its conditions (`combine`: all or any) and passes its input on through `true` or `false`.",
            IfParameters,
            ("true", "false"),
        ),
        Connector(
            "switch",
            "Switch",
            "logic",
            "Passes its input on through the output of the first rule whose "
            "conditions all hold, else through `fallback`; its outputs are the rules' outputs and the fallback.",
            SwitchParameters,
            (),
        ),
        Connector(
            "http_request",
            "HTTP request",
            "action",
            "Calls a URL; output = {status, headers, body}. Non-2xx "
            "fails unless `failOnError` is false; private and loopback addresses are refused.",
            HttpRequestParameters,
        ),
        Connector(
            "delay", "Delay", "logic", "Waits `seconds` on a durable timer, then passes its input on.", DelayParameters
        ),
        Connector(
            "response",
            "Respond to webhook",
            "response",
            "The answer to a waiting synchronous webhook: status code, headers and body.",
            ResponseParameters,
        ),
        Connector("fail", "Fail", "action", "Fails the execution with `message`.", FailParameters),
        Connector("noop", "No operation", "action", "Passes its input on.", NoopParameters),
    )
}
TRIGGER_TYPES: Final = frozenset(t for t, c in CONNECTORS.items() if c.category == "trigger")


def catalog() -> list[dict[str, Any]]:
    """Every connector as `GET /api/v1/connectors` lists it (the `data` array)."""
    return [connector.describe() for connector in CONNECTORS.values()]


def node_outputs(node_type: str, parameters: Mapping[str, Any]) -> list[str]:
    """The outputs a node of this type and parameters can leave by (what a connection's `output` may name).

    Read from the raw parameters, so a node whose other parameters are invalid still reports its outputs and a
    connection is only blamed for its own mistakes.
    """
    connector = CONNECTORS.get(node_type)
    if connector is None:
        return []
    if node_type != "switch":
        return list(connector.outputs)
    names: list[str] = []
    rules = parameters.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        output = rule.get("output") if isinstance(rule, Mapping) else None
        if isinstance(output, str) and output and output not in names:
            names.append(output)
    fallback = parameters.get("fallback")
    if isinstance(fallback, str) and fallback and fallback not in names:
        names.append(fallback)
    return names


# ---- validation -------------------------------------------------------------------------------------------------


def validate_parameters(node_type: str, parameters: Any, prefix: str) -> list[tuple[str, str]]:
    """Save-time check of one node's raw parameters: (path, message) errors, paths under `prefix`.

    E.g. `validate_parameters("delay", {"seconds": "soon"}, "nodes[3].parameters")` →
    `[("nodes[3].parameters.seconds", "...")]`. Expressions are accepted where they parse; malformed templates
    anywhere in the parameters are errors.
    """
    connector = CONNECTORS.get(node_type)
    if connector is None:
        return [(prefix, f"unknown connector type {node_type!r}")]
    errors: list[tuple[str, str]] = []
    try:
        connector.parameters.model_validate(parameters if parameters is not None else {})
    except ValidationError as exc:
        errors.extend(format_errors(exc, prefix))
    seen = {path for path, _ in errors}
    for path, message in expressions.find_errors(parameters, prefix):
        if path not in seen:
            errors.append((path, message))
    return errors


def parse_parameters(node_type: str, parameters: Any) -> Parameters:
    """Run-time check of rendered parameters (no expressions left); raises `ValidationError` or `KeyError`."""
    return CONNECTORS[node_type].parameters.model_validate(parameters, context={RESOLVED: True})


def format_errors(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """pydantic's errors as (path, message), paths like `prefix.rules[0].conditions`."""
    result: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        result.append((join_path(prefix, item["loc"]), _message(item["msg"])))
    return result


def join_path(prefix: str, loc: Sequence[str | int]) -> str:
    """`nodes[3].parameters` + ("rules", 0, "output") → `nodes[3].parameters.rules[0].output`."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":  # pydantic's marker for "the key itself", already named by the previous part
            continue
        else:
            path = f"{path}.{part}" if path else part
    return path


def _message(text: str) -> str:
    for noise in ("Value error, ", "Assertion failed, "):
        if text.startswith(noise):
            return text[len(noise) :]
    return text


__all__ = [
    "CONNECTORS",
    "MAIN",
    "MAX_RATE_LIMIT",
    "NO_OUTPUT",
    "TRIGGER_TYPES",
    "UNARY_OPERATORS",
    "Condition",
    "Connector",
    "DelayParameters",
    "FailParameters",
    "HttpRequestParameters",
    "IfParameters",
    "ManualParameters",
    "NoopParameters",
    "Parameters",
    "ResponseParameters",
    "SetParameters",
    "SwitchParameters",
    "SwitchRule",
    "WebhookParameters",
    "catalog",
    "format_errors",
    "node_outputs",
    "parse_parameters",
    "validate_parameters",
]
