"""The `{{ … }}` expression language: data lookups inside string parameters, and nothing else.

Grammar (inside `{{` and `}}`, white space allowed only at either end):

    expression := root accessor*
    root       := "$input" | "$node" | "$execution" | "$workflow" | "$now" | segment | bracket
    accessor   := "." segment | bracket
    segment    := one or more characters other than `.[]{}` and white space
    bracket    := "[" digits "]" | "[" quoted "]"      (quoted: '...' or "..." with JSON-style escapes)

A bare path reads the execution input; `$input` the node's input; `$node.<id>` the output of a node that
already ran; `$execution.id`, `$workflow.id`, `$workflow.version`, `$now`. A string that is exactly one
expression keeps the value's JSON type; otherwise the parts are concatenated as text, non-strings rendered as
JSON and a missing path as "" (a missing path alone is `null`). Parsing never evaluates anything: a template
is a list of literal strings and paths, and rendering only walks dicts and lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

OPEN: Final = "{{"
CLOSE: Final = "}}"
_SEGMENT_STOP: Final = frozenset(".[]{}")

Root = Literal["execution_input", "input", "node", "execution", "workflow", "now"]
_NAMED_ROOTS: Final[dict[str, Root]] = {
    "$input": "input",
    "$node": "node",
    "$execution": "execution",
    "$workflow": "workflow",
    "$now": "now",
}


class ExpressionError(ValueError):
    """A malformed template, with the character offset where parsing stopped."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class PathExpression:
    """One `{{ … }}`: a root and the keys (str) or indexes (int) to follow from it."""

    root: Root
    steps: tuple[str | int, ...]
    source: str


@dataclass(frozen=True)
class Template:
    """A parsed string: literal text and expressions, in order."""

    parts: tuple[str | PathExpression, ...]

    @property
    def is_single_expression(self) -> bool:
        """True when the string is exactly one expression (so its result keeps its JSON type)."""
        return len(self.parts) == 1 and isinstance(self.parts[0], PathExpression)

    @property
    def expressions(self) -> tuple[PathExpression, ...]:
        return tuple(p for p in self.parts if isinstance(p, PathExpression))


def is_template(text: str) -> bool:
    """Whether a string contains expressions at all (cheap; `parse` says whether they are well-formed)."""
    return OPEN in text


def parse(text: str) -> Template:
    """Parse a string into literal text and expressions; raises `ExpressionError` when malformed."""
    parts: list[str | PathExpression] = []
    pos = 0
    while True:
        start = text.find(OPEN, pos)
        if start < 0:
            if pos < len(text):
                parts.append(text[pos:])
            return Template(tuple(parts))
        if start > pos:
            parts.append(text[pos:start])
        expression, pos = _Parser(text, start).parse()
        parts.append(expression)


class _Parser:
    """Reads one expression starting at an `{{`; `parse` returns it and the offset just past its `}}`."""

    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.start = start
        self.pos = start + len(OPEN)

    def parse(self) -> tuple[PathExpression, int]:
        self._skip_space()
        if self._at(CLOSE):
            raise self._error("empty expression '{{}}'")
        if self._at_end():
            raise self._unclosed()
        root, steps = self._root()
        while not self._at_end() and self.text[self.pos] in ".[":
            steps.append(self._accessor())
        self._skip_space()
        if self._at_end():
            raise self._unclosed()
        if not self._at(CLOSE):
            raise self._error(f"unexpected {self.text[self.pos]!r} in expression (expected '.', '[' or '}}}}')")
        end = self.pos + len(CLOSE)
        source = self.text[self.start : end]
        return PathExpression(root=root, steps=tuple(steps), source=source), end

    def _root(self) -> tuple[Root, list[str | int]]:
        if self.text[self.pos] == "[":
            return "execution_input", [self._bracket()]
        name = self._segment()
        if name.startswith("$"):
            root = _NAMED_ROOTS.get(name)
            if root is None:
                known = ", ".join(_NAMED_ROOTS)
                raise ExpressionError(f"unknown root {name!r} (expected a bare path or one of {known})", self.start)
            return root, []
        return "execution_input", [name]

    def _accessor(self) -> str | int:
        if self.text[self.pos] == ".":
            self.pos += 1
            return self._segment()
        return self._bracket()

    def _segment(self) -> str:
        begin = self.pos
        while not self._at_end() and self.text[self.pos] not in _SEGMENT_STOP and not self.text[self.pos].isspace():
            self.pos += 1
        if self.pos == begin:
            found = "the end" if self._at_end() else repr(self.text[self.pos])
            raise self._error(f"expected a name but found {found}")
        return self.text[begin : self.pos]

    def _bracket(self) -> str | int:
        self.pos += 1  # the "["
        if self._at_end():
            raise self._unclosed()
        char = self.text[self.pos]
        key: str | int
        if char.isdigit():
            begin = self.pos
            while not self._at_end() and self.text[self.pos].isdigit():
                self.pos += 1
            key = int(self.text[begin : self.pos])
        elif char in "\"'":
            key = self._quoted(char)
        else:
            raise self._error("expected an index like [0] or a quoted key like [\"a.b\"] after '['")
        if self._at_end():
            raise self._unclosed()
        if self.text[self.pos] != "]":
            raise self._error(f"expected ']' but found {self.text[self.pos]!r}")
        self.pos += 1
        return key

    def _quoted(self, quote: str) -> str:
        begin = self.pos
        self.pos += 1
        while not self._at_end() and self.text[self.pos] != quote:
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        if self._at_end():
            raise ExpressionError("unterminated quoted key", begin)
        self.pos += 1
        body = self.text[begin + 1 : self.pos - 1]
        if quote == "'":  # reuse JSON's escape rules for single quotes too
            body = body.replace("\\'", "'").replace('"', '\\"')
        try:
            decoded = json.loads(f'"{body}"')
        except ValueError as exc:
            raise ExpressionError(f"bad escape in quoted key: {exc}", begin) from None
        assert isinstance(decoded, str)
        return decoded

    def _skip_space(self) -> None:
        while not self._at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def _at(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _error(self, message: str) -> ExpressionError:
        return ExpressionError(message, self.pos)

    def _unclosed(self) -> ExpressionError:
        return ExpressionError("unclosed '{{' (expected '}}')", self.start)


# ---- checking -----------------------------------------------------------------------------------------------------


def find_errors(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every malformed template inside a JSON value, as (path, message); paths like `body.items[0]`."""
    errors: list[tuple[str, str]] = []
    for where, text in _strings(value, path):
        if is_template(text):
            try:
                parse(text)
            except ExpressionError as exc:
                errors.append((where, f"invalid expression: {exc.message} (at character {exc.position})"))
    return errors


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


# ---- rendering ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpressionContext:
    """What expressions may read while one step runs."""

    execution_input: Any = None
    node_input: Any = None
    node_outputs: Mapping[str, Any] = field(default_factory=dict)
    execution_id: str | None = None
    workflow_id: str | None = None
    workflow_version: int | None = None
    now: str | None = None

    def root(self, name: Root) -> Any:
        if name == "execution_input":
            return self.execution_input
        if name == "input":
            return self.node_input
        if name == "node":
            return self.node_outputs
        if name == "execution":
            return {"id": self.execution_id}
        if name == "workflow":
            return {"id": self.workflow_id, "version": self.workflow_version}
        return self.now


def step_context(
    *,
    execution_input: Any,
    node_outputs: Mapping[str, Any],
    execution_id: str | None = None,
    workflow_id: str | None = None,
    workflow_version: int | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """The wire form of `StepRequested.context`: `{"input", "nodes", "execution": {"id"}, "workflow": {"id",
    "version"}, "now"?}`. The orchestrator builds it; `context_from_step` reads it back."""
    context: dict[str, Any] = {
        "input": execution_input,
        "nodes": dict(node_outputs),
        "execution": {"id": execution_id},
        "workflow": {"id": workflow_id, "version": workflow_version},
    }
    if now is not None:
        context["now"] = now
    return context


def context_from_step(
    wire: Mapping[str, Any],
    *,
    node_input: Any,
    now: str | None,
    execution_id: str | None = None,
    workflow_id: str | None = None,
    workflow_version: int | None = None,
) -> ExpressionContext:
    """Read `StepRequested.context`. Ids given here win over the wire's (the request carries them itself);
    `now` is used when the context pins none."""
    nodes = wire.get("nodes")
    wire_now = wire.get("now")
    execution = _mapping(wire.get("execution"))
    workflow = _mapping(wire.get("workflow"))
    return ExpressionContext(
        execution_input=wire.get("input"),
        node_input=node_input,
        node_outputs=nodes if isinstance(nodes, Mapping) else {},
        execution_id=execution_id if execution_id is not None else execution.get("id"),
        workflow_id=workflow_id if workflow_id is not None else workflow.get("id"),
        workflow_version=workflow_version if workflow_version is not None else workflow.get("version"),
        now=wire_now if isinstance(wire_now, str) else now,
    )


def render_step(value: Any, wire: Mapping[str, Any], node_input: Any, now: str | None = None) -> Any:
    """Render `value` against a `StepRequested.context` and the node's input (the orchestrator's resolver shape);
    without `now` (and none pinned in the context), `$now` is null. Raises `ExpressionError`."""
    return render(value, context_from_step(wire, node_input=node_input, now=now))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def resolve(expression: PathExpression, context: ExpressionContext) -> Any:
    """The value an expression points at, or `MISSING`."""
    current: Any = context.root(expression.root)
    for step in expression.steps:
        current = _follow(current, step)
        if current is MISSING:
            return MISSING
    return current


def _follow(current: Any, step: str | int) -> Any:
    if isinstance(current, Mapping):
        key = step if isinstance(step, str) else str(step)
        return current.get(key, MISSING)
    if isinstance(current, list | tuple):
        index = step if isinstance(step, int) else (int(step) if step.isdigit() else None)
        if index is None or index >= len(current):
            return MISSING
        return current[index]
    return MISSING


def render_string(text: str, context: ExpressionContext) -> Any:
    """Resolve one string: a lone expression keeps its type (missing → None), otherwise text."""
    if not is_template(text):
        return text
    template = parse(text)
    if template.is_single_expression:
        value = resolve(template.expressions[0], context)
        return None if value is MISSING else value
    return "".join(part if isinstance(part, str) else _as_text(resolve(part, context)) for part in template.parts)


def _as_text(value: Any) -> str:
    if value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def render(value: Any, context: ExpressionContext) -> Any:
    """Resolve every string inside a JSON value (dict keys are left as written); raises `ExpressionError`."""
    if isinstance(value, str):
        return render_string(value, context)
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context) for item in value]
    return value


__all__ = [
    "MISSING",
    "ExpressionContext",
    "ExpressionError",
    "PathExpression",
    "Template",
    "context_from_step",
    "find_errors",
    "is_template",
    "parse",
    "render",
    "render_step",
    "render_string",
    "step_context",
]
