"""Validating a workflow document as a client writes it (POST/PUT body) into a `WorkflowSpec`.

Every invalid case of the spec becomes a `FieldError` with a path such as `nodes[2].type`; all of them are
reported at once. Webhook secrets are taken out of the spec here, so nothing downstream sees them in clear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from flowmatic_contracts.events import FieldError
from flowmatic_contracts.workflow import NodeSpec, SecretChange, WorkflowSpec
from flowmatic_gateway.domain.connectors import ConnectorCatalog

# Fields a client may echo back from a GET; they are the server's to set, so they are ignored on input.
READ_ONLY_FIELDS = frozenset({"id", "version", "createdAt", "updatedAt", "webhooks"})
WEBHOOK_TYPE = "webhook"
SECRET_PARAMETER = "secret"
MAX_SECRET_LENGTH = 1024


class WorkflowInvalidError(ValueError):
    """The document is well-formed JSON but not a valid workflow (422)."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = list(errors)


@dataclass(frozen=True)
class ValidWorkflow:
    """A valid workflow with its webhook secrets taken out.

    `secrets` holds, per webhook trigger that mentioned one, the clear secret to set (a string) or None to
    remove it; a trigger absent from it left its secret out (keep it).
    """

    spec: WorkflowSpec
    secrets: Mapping[str, str | None]
    webhook_triggers: tuple[str, ...]


def path_of(loc: Sequence[int | str]) -> str:
    """`("nodes", 2, "type")` → `nodes[2].type`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_errors(error: ValidationError) -> list[FieldError]:
    return [
        FieldError(path=path_of(list(item["loc"])), message=item["msg"])
        for item in error.errors(include_url=False, include_input=False)
    ]


def _structure(document: Any) -> WorkflowSpec:
    if not isinstance(document, dict):
        raise WorkflowInvalidError([FieldError(path="", message="a workflow must be a JSON object")])
    writable = {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}
    try:
        return WorkflowSpec.model_validate(writable)
    except ValidationError as error:
        raise WorkflowInvalidError(_pydantic_errors(error)) from None


def _take_secret(node: NodeSpec, index: int, errors: list[FieldError]) -> tuple[NodeSpec, bool, str | None]:
    """The node without its secret, whether it mentioned one, and the secret (None: remove)."""
    if SECRET_PARAMETER not in node.parameters:
        return node, False, None
    secret = node.parameters[SECRET_PARAMETER]
    if secret is not None and (not isinstance(secret, str) or not 1 <= len(secret) <= MAX_SECRET_LENGTH):
        errors.append(
            FieldError(
                path=f"nodes[{index}].parameters.secret",
                message=f"must be a string of 1 to {MAX_SECRET_LENGTH} characters, or null",
            )
        )
    rest = {k: v for k, v in node.parameters.items() if k != SECRET_PARAMETER}
    return node.model_copy(update={"parameters": rest}), True, secret if isinstance(secret, str) else None


def _cycle_errors(spec: WorkflowSpec, edges: Sequence[tuple[int, str, str]]) -> list[FieldError]:
    """One error per connection that closes a cycle (a back edge of a depth-first search)."""
    outgoing: dict[str, list[tuple[int, str]]] = {}
    for index, source, target in edges:
        outgoing.setdefault(source, []).append((index, target))
    white, grey, black = 0, 1, 2
    colour = {node.id: white for node in spec.nodes}
    errors: list[FieldError] = []
    for root in colour:
        if colour[root] != white:
            continue
        # Iterative DFS: a deep chain of nodes must not hit Python's recursion limit.
        path = [root]
        colour[root] = grey
        iterators = [iter(outgoing.get(root, []))]
        while iterators:
            step = next(iterators[-1], None)
            if step is None:
                colour[path.pop()] = black
                iterators.pop()
                continue
            index, target = step
            if colour[target] == grey:
                loop = [*path[path.index(target) :], target]
                errors.append(FieldError(path=f"connections[{index}]", message="creates a cycle: " + " → ".join(loop)))
            elif colour[target] == white:
                colour[target] = grey
                path.append(target)
                iterators.append(iter(outgoing.get(target, [])))
    return errors


def validate_workflow(document: Any, catalog: ConnectorCatalog) -> ValidWorkflow:
    """Check a workflow document; raises WorkflowInvalidError listing every problem found."""
    parsed = _structure(document)
    errors: list[FieldError] = []
    nodes: list[NodeSpec] = []
    secrets: dict[str, str | None] = {}
    webhook_triggers: list[str] = []
    by_id: dict[str, NodeSpec] = {}

    for index, node in enumerate(parsed.nodes):
        if node.id in by_id:
            errors.append(FieldError(path=f"nodes[{index}].id", message=f"duplicate node id {node.id!r}"))
        known = catalog.is_known(node.type)
        if not known:
            errors.append(FieldError(path=f"nodes[{index}].type", message=f"unknown connector type {node.type!r}"))
        stripped = node
        if node.type == WEBHOOK_TYPE:
            stripped, mentioned, secret = _take_secret(node, index, errors)
            if node.id not in by_id:
                webhook_triggers.append(node.id)
                if mentioned:
                    secrets[node.id] = secret
        if known:
            errors += catalog.parameter_errors(node.type, stripped.parameters, f"nodes[{index}].parameters")
        by_id.setdefault(node.id, node)
        nodes.append(stripped)

    if not any(catalog.is_trigger(node.type) for node in by_id.values()):
        errors.append(FieldError(path="nodes", message="a workflow needs a trigger node (e.g. webhook or manual)"))

    edges: list[tuple[int, str, str]] = []
    for index, connection in enumerate(parsed.connections):
        source, target = by_id.get(connection.from_), by_id.get(connection.to)
        if source is None:
            errors.append(FieldError(path=f"connections[{index}].from", message=f"no node {connection.from_!r}"))
        if target is None:
            errors.append(FieldError(path=f"connections[{index}].to", message=f"no node {connection.to!r}"))
        elif catalog.is_trigger(target.type):
            errors.append(
                FieldError(path=f"connections[{index}].to", message="a trigger node cannot have incoming connections")
            )
        if source is not None and catalog.is_known(source.type):
            outputs = catalog.outputs(source.type, source.parameters)
            if connection.output not in outputs:
                known_outputs = ", ".join(sorted(outputs)) or "none"
                errors.append(
                    FieldError(
                        path=f"connections[{index}].output",
                        message=f"node {source.id!r} ({source.type}) has no output {connection.output!r}; "
                        f"it has: {known_outputs}",
                    )
                )
        if source is not None and target is not None:
            edges.append((index, connection.from_, connection.to))
    errors += _cycle_errors(parsed, edges)

    if errors:
        raise WorkflowInvalidError(errors)
    spec = parsed.model_copy(update={"nodes": nodes})
    return ValidWorkflow(spec=spec, secrets=secrets, webhook_triggers=tuple(webhook_triggers))


def secret_changes(
    workflow: ValidWorkflow, encrypt: Callable[[str], str], *, creating: bool
) -> dict[str, SecretChange]:
    """What the write does to each webhook trigger's secret. A new workflow has nothing to keep or remove."""
    changes: dict[str, SecretChange] = {}
    for trigger_id in workflow.webhook_triggers:
        if trigger_id in workflow.secrets:
            secret = workflow.secrets[trigger_id]
            if secret is not None:
                changes[trigger_id] = SecretChange(action="set", ciphertext=encrypt(secret))
            elif not creating:
                changes[trigger_id] = SecretChange(action="remove")
        elif not creating:
            changes[trigger_id] = SecretChange(action="keep")
    return changes
