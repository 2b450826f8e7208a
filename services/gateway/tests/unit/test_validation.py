"""Every 422 case of the spec, with the paths of its errors; secrets taken out of the spec."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from flowmatic_gateway.domain.connectors import SharedCatalog
from flowmatic_gateway.domain.validation import (
    ValidWorkflow,
    WorkflowInvalidError,
    path_of,
    secret_changes,
    validate_workflow,
)

CATALOG = SharedCatalog()


def chain(*ids: str) -> list[dict[str, str]]:
    return [{"from": a, "to": b} for a, b in itertools.pairwise(ids)]


def doc(nodes: list[dict[str, Any]], connections: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": "w", "nodes": nodes, "connections": connections or [], **extra}


def errors_of(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(WorkflowInvalidError) as raised:
        validate_workflow(document, CATALOG)
    return [(e.path, e.message) for e in raised.value.errors]


def paths_of(document: Any) -> list[str]:
    return [path for path, _ in errors_of(document)]


def valid(document: Any) -> ValidWorkflow:
    return validate_workflow(document, CATALOG)


WEBHOOK: dict[str, Any] = {"id": "t", "type": "webhook"}


def test_a_full_workflow_is_valid() -> None:
    result = valid(
        doc(
            [
                {"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST", "GET"]}},
                {"id": "check", "type": "if", "parameters": {"conditions": [{"left": "{{a}}", "operator": "gt", "right": 5}]}},
                {"id": "notify", "type": "http_request", "parameters": {"method": "POST", "url": "https://x.test"},
                 "retry": {"maxAttempts": 3, "backoffSeconds": 1}, "timeoutSeconds": 30},
                {"id": "reply", "type": "response", "parameters": {"statusCode": 200, "body": {"ok": True}}},
            ],
            [*chain("trigger", "check"), {"from": "check", "output": "true", "to": "notify"}, *chain("notify", "reply")],
        )
    )  # fmt: skip
    assert [n.id for n in result.spec.nodes] == ["trigger", "check", "notify", "reply"]
    assert result.spec.active is True
    assert result.webhook_triggers == ("trigger",)


def test_unknown_type() -> None:
    assert paths_of(doc([WEBHOOK, {"id": "x", "type": "teleport"}], chain("t", "x"))) == ["nodes[1].type"]


def test_duplicate_ids() -> None:
    assert paths_of(doc([WEBHOOK, {"id": "t", "type": "noop"}])) == ["nodes[1].id"]


def test_connection_to_a_missing_node() -> None:
    assert paths_of(doc([WEBHOOK], [{"from": "t", "to": "ghost"}])) == ["connections[0].to"]


def test_connection_from_a_missing_node() -> None:
    assert paths_of(doc([WEBHOOK], [{"from": "ghost", "to": "t"}])) == ["connections[0].from", "connections[0].to"]


def test_cycle_names_the_closing_connection() -> None:
    nodes = [WEBHOOK, {"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]
    found = errors_of(doc(nodes, [*chain("t", "a", "b"), {"from": "b", "to": "a"}]))
    assert found == [("connections[2]", "creates a cycle: a → b → a")]


def test_self_loop_is_a_cycle() -> None:
    assert paths_of(doc([WEBHOOK, {"id": "a", "type": "noop"}], [*chain("t", "a"), {"from": "a", "to": "a"}])) == [
        "connections[1]"
    ]


def test_a_long_chain_is_not_a_cycle_and_does_not_recurse() -> None:
    ids = [f"n{i}" for i in range(3000)]
    nodes = [WEBHOOK, *({"id": i, "type": "noop"} for i in ids)]
    assert len(valid(doc(nodes, chain("t", *ids))).spec.nodes) == 3001


def test_incoming_connection_to_a_trigger() -> None:
    assert paths_of(doc([WEBHOOK, {"id": "a", "type": "noop"}], chain("a", "t"))) == ["connections[0].to"]


def test_no_trigger() -> None:
    assert paths_of(doc([{"id": "a", "type": "noop"}])) == ["nodes"]
    assert paths_of(doc([])) == ["nodes"]


def test_bad_parameters_have_the_parameter_path() -> None:
    nodes = [WEBHOOK, {"id": "d", "type": "delay", "parameters": {"seconds": "soon"}}]
    assert paths_of(doc(nodes, chain("t", "d"))) == ["nodes[1].parameters.seconds"]


def test_missing_and_unknown_parameters() -> None:
    nodes = [WEBHOOK, {"id": "d", "type": "delay", "parameters": {"second": 1}}]
    assert sorted(paths_of(doc(nodes, chain("t", "d")))) == [
        "nodes[1].parameters.second",
        "nodes[1].parameters.seconds",
    ]


def test_nested_parameter_paths() -> None:
    nodes = [WEBHOOK, {"id": "i", "type": "if", "parameters": {"conditions": [{"left": 1, "operator": "bigger"}]}}]
    assert paths_of(doc(nodes, chain("t", "i"))) == ["nodes[1].parameters.conditions[0].operator"]


def test_unknown_output_is_the_only_error() -> None:
    """The acceptance case: an `exists` condition has no `right`, and that is fine."""
    nodes = [
        WEBHOOK,
        {"id": "i", "type": "if", "parameters": {"conditions": [{"left": "{{x}}", "operator": "exists"}]}},
        {"id": "a", "type": "noop"},
    ]
    found = errors_of(doc(nodes, [*chain("t", "i"), {"from": "i", "output": "maybe", "to": "a"}]))
    assert [p for p, _ in found] == ["connections[1].output"]
    assert "false, true" in found[0][1]


def test_plain_nodes_have_only_main() -> None:
    nodes = [WEBHOOK, {"id": "a", "type": "noop"}]
    assert paths_of(doc(nodes, [{"from": "t", "output": "true", "to": "a"}])) == ["connections[0].output"]


def test_switch_outputs_are_its_rules_and_fallback() -> None:
    switch = {
        "id": "s",
        "type": "switch",
        "parameters": {
            "rules": [{"output": "big", "conditions": [{"left": "{{n}}", "operator": "gt", "right": 9}]}],
            "fallback": "other",
        },
    }
    nodes = [WEBHOOK, switch, {"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]
    ok = [*chain("t", "s"), {"from": "s", "output": "big", "to": "a"}, {"from": "s", "output": "other", "to": "b"}]
    valid(doc(nodes, ok))
    bad = [*chain("t", "s"), {"from": "s", "output": "main", "to": "a"}]
    assert paths_of(doc(nodes, bad)) == ["connections[1].output"]


def test_expressions_stand_for_any_parameter_value() -> None:
    nodes = [
        WEBHOOK,
        {"id": "d", "type": "delay", "parameters": {"seconds": "{{ wait }}"}},
        {"id": "i", "type": "if", "parameters": {"conditions": "{{rules}}"}},
        {"id": "r", "type": "response", "parameters": {"statusCode": "{{code}}", "headers": {"x": "{{h}}"}}},
    ]
    valid(doc(nodes, chain("t", "d", "i")))


def test_read_only_fields_are_ignored_and_others_are_not() -> None:
    echoed = doc([WEBHOOK], id="wf_1", version=3, createdAt="x", updatedAt="y", webhooks=[{"webhookId": "w"}])
    assert valid(echoed).spec.name == "w"
    assert paths_of(doc([WEBHOOK], colour="blue")) == ["colour"]


def test_structural_errors() -> None:
    assert paths_of([1, 2]) == [""]
    assert paths_of({"nodes": [WEBHOOK]}) == ["name"]
    assert paths_of(doc([{"id": "bad id!", "type": "webhook"}])) == ["nodes[0].id"]
    assert paths_of(doc([WEBHOOK], [{"from": "t"}])) == ["connections[0].to"]


def test_several_problems_are_reported_together() -> None:
    nodes = [{"id": "a", "type": "teleport"}, {"id": "a", "type": "noop"}]
    assert sorted(paths_of(doc(nodes, [{"from": "a", "to": "zz"}]))) == [
        "connections[0].to",
        "nodes",
        "nodes[0].type",
        "nodes[1].id",
    ]


# ---- secrets -------------------------------------------------------------------------------------------------


def _webhook_doc(parameters: dict[str, Any] | None) -> dict[str, Any]:
    node: dict[str, Any] = {"id": "t", "type": "webhook"}
    if parameters is not None:
        node["parameters"] = parameters
    return doc([node, {"id": "a", "type": "noop"}], chain("t", "a"))


def test_secret_is_stripped_from_the_spec() -> None:
    result = valid(_webhook_doc({"secret": "s3cr3t", "methods": ["POST"]}))
    assert result.spec.nodes[0].parameters == {"methods": ["POST"]}
    assert "s3cr3t" not in result.spec.model_dump_json()
    assert result.secrets == {"t": "s3cr3t"}


def test_secret_changes_on_create_and_update() -> None:
    def encrypt(secret: str) -> str:
        return f"enc({secret})"

    set_ = valid(_webhook_doc({"secret": "s"}))
    omitted = valid(_webhook_doc(None))
    removed = valid(_webhook_doc({"secret": None}))
    assert {k: (v.action, v.ciphertext) for k, v in secret_changes(set_, encrypt, creating=True).items()} == {
        "t": ("set", "enc(s)")
    }
    assert secret_changes(omitted, encrypt, creating=True) == {}
    assert secret_changes(removed, encrypt, creating=True) == {}
    assert secret_changes(omitted, encrypt, creating=False)["t"].action == "keep"
    assert secret_changes(removed, encrypt, creating=False)["t"].action == "remove"
    assert removed.spec.nodes[0].parameters == {}


@pytest.mark.parametrize("secret", [123, "", ["a"]])
def test_a_secret_must_be_a_string_or_null(secret: Any) -> None:
    assert paths_of(_webhook_doc({"secret": secret})) == ["nodes[0].parameters.secret"]


def test_helpers() -> None:
    assert path_of(["nodes", 2, "parameters", "conditions", 0, "right"]) == "nodes[2].parameters.conditions[0].right"
