"""The `{{ … }}` language: parsing (including malformed templates) and rendering against a context."""

from __future__ import annotations

from typing import Any

import pytest

from flowmatic_contracts.expressions import (
    ExpressionContext,
    ExpressionError,
    PathExpression,
    context_from_step,
    find_errors,
    is_template,
    parse,
    render,
    render_step,
    render_string,
    step_context,
)

INPUT: dict[str, Any] = {
    "event": "order.created",
    "customer_id": "cust_123",
    "data": {"amount": 99.99, "currency": "USD", "flags": [True, False], "none": None},
    "items": [{"sku": "a"}, {"sku": "b"}],
    "meta": {"a.b": "dotted", "with space": "spaced", "ключ": "значение", 'q"uote': "quoted", "0": "zero-key"},
    "_webhook": {"headers": {"user-agent": "MyApp/1.0", "x-b3-span-id": "s"}, "query": {"tag": ["x", "y"]}},
    "emoji": "🎉 ünïcode \u0000 kept",
}
CONTEXT = ExpressionContext(
    execution_input=INPUT,
    node_input={"total": 99.99, "list": [1, 2, 3]},
    node_outputs={"first": {"total": 99.99}, "my-node": {"ok": True}},
    execution_id="ex_1",
    workflow_id="wf_1",
    workflow_version=3,
    now="2026-02-08T12:00:00Z",
)


# ---- parsing ----------------------------------------------------------------------------------------------------


def test_plain_text_is_one_literal() -> None:
    assert parse("hello").parts == ("hello",)
    assert parse("").parts == ()
    assert not is_template("a } b }} c {")


def test_parse_splits_text_and_expressions() -> None:
    template = parse("Order {{event}} for {{ customer_id }}!")
    assert template.parts[0] == "Order "
    assert template.parts[2] == " for "
    assert template.parts[4] == "!"
    first = template.parts[1]
    assert isinstance(first, PathExpression)
    assert (first.root, first.steps, first.source) == ("execution_input", ("event",), "{{event}}")
    assert not template.is_single_expression
    assert parse("{{ x }}").is_single_expression


@pytest.mark.parametrize(
    ("text", "root", "steps"),
    [
        ("{{_webhook.headers.user-agent}}", "execution_input", ("_webhook", "headers", "user-agent")),
        ("{{items[1].sku}}", "execution_input", ("items", 1, "sku")),
        ('{{meta["a.b"]}}', "execution_input", ("meta", "a.b")),
        ("{{meta['a.b']}}", "execution_input", ("meta", "a.b")),
        ('{{meta["q\\"uote"]}}', "execution_input", ("meta", 'q"uote')),
        ('{{meta["\\u043a"]}}', "execution_input", ("meta", "к")),
        ('{{["top"]}}', "execution_input", ("top",)),
        ("{{meta.ключ}}", "execution_input", ("meta", "ключ")),
        ("{{a[0][1]}}", "execution_input", ("a", 0, 1)),
        ("{{$input}}", "input", ()),
        ("{{$input.total}}", "input", ("total",)),
        ("{{$node.my-node.ok}}", "node", ("my-node", "ok")),
        ("{{$execution.id}}", "execution", ("id",)),
        ("{{$workflow.version}}", "workflow", ("version",)),
        ("{{$now}}", "now", ()),
        ("{{ \t$now\n }}", "now", ()),
        ("{{a$b}}", "execution_input", ("a$b",)),
    ],
)
def test_path_syntax(text: str, root: str, steps: tuple[str | int, ...]) -> None:
    (expression,) = parse(text).expressions
    assert expression.root == root
    assert expression.steps == steps


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{{x", "unclosed"),
        ("a {{ x.y ", "unclosed"),
        ("{{}}", "empty"),
        ("{{   }}", "empty"),
        ("{{ a b }}", "unexpected 'b'"),
        ("{{a..b}}", "expected a name"),
        ("{{a.}}", "expected a name"),
        ("{{.a}}", "expected a name"),
        ("{{a[}}", "expected an index"),
        ("{{a[x]}}", "expected an index"),
        ("{{a[-1]}}", "expected an index"),
        ("{{a[0}}", "expected ']'"),
        ("{{a[0", "unclosed"),
        ('{{a["b}}', "unterminated"),
        ('{{a["b"}}', "expected ']'"),
        ('{{a["\\x"]}}', "bad escape"),
        ("{{a]}}", "unexpected ']'"),
        ("{{a{b}}", "unexpected '{'"),
        ("{{ {{a}} }}", "expected a name"),
        ("{{$env.HOME}}", "unknown root '$env'"),
        ("{{a + b}}", "unexpected '+'"),
        ("ok {{a}} then {{", "unclosed"),
    ],
)
def test_malformed_templates_are_rejected_with_a_message(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert fragment in caught.value.message
    assert 0 <= caught.value.position <= len(text)


def test_nothing_in_an_expression_runs_code() -> None:
    # Any run of characters other than `.[]{}` and white space is just a key to look up.
    (expression,) = parse("{{__import__('os')}}").expressions
    assert expression.steps == ("__import__('os')",)
    assert render_string("{{__import__('os')}}", CONTEXT) is None
    assert render_string("{{$input.list.__len__}}", CONTEXT) is None
    assert render_string("{{event.upper}}", CONTEXT) is None


def test_a_closing_brace_inside_a_quoted_key_does_not_end_the_expression() -> None:
    (expression,) = parse('{{meta["}}"]}}').expressions
    assert expression.steps == ("meta", "}}")


def test_find_errors_names_every_malformed_string_by_path() -> None:
    value = {"fields": {"ok": "{{a}}", "bad": "x {{"}, "list": ["fine", "{{ }}"], "n": 5}
    errors = find_errors(value, "nodes[1].parameters")
    assert [path for path, _ in errors] == ["nodes[1].parameters.fields.bad", "nodes[1].parameters.list[1]"]
    assert "unclosed" in errors[0][1] and "empty" in errors[1][1]
    assert find_errors({"a": "{{b}}"}) == []


# ---- rendering --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{data.amount}}", 99.99),
        ("{{data.flags}}", [True, False]),
        ("{{data.flags[0]}}", True),
        ("{{data}}", INPUT["data"]),
        ("{{data.none}}", None),
        ("{{nope.nothing}}", None),
        ("{{items[1].sku}}", "b"),
        ("{{items[2].sku}}", None),
        ("{{items[99]}}", None),
        ("{{items.1.sku}}", "b"),
        ("{{event[0]}}", None),
        ("{{customer_id.length}}", None),
        ('{{meta["a.b"]}}', "dotted"),
        ('{{meta["with space"]}}', "spaced"),
        ("{{meta.ключ}}", "значение"),
        ("{{meta[0]}}", "zero-key"),
        ("{{_webhook.headers.user-agent}}", "MyApp/1.0"),
        ("{{_webhook.query.tag[1]}}", "y"),
        ("{{emoji}}", "🎉 ünïcode \u0000 kept"),
        ("{{$input.total}}", 99.99),
        ("{{$input.list[2]}}", 3),
        ("{{$node.first.total}}", 99.99),
        ("{{$node.my-node.ok}}", True),
        ("{{$node.ghost.total}}", None),
        ("{{$execution.id}}", "ex_1"),
        ("{{$workflow.id}}", "wf_1"),
        ("{{$workflow.version}}", 3),
        ("{{$now}}", "2026-02-08T12:00:00Z"),
        ("{{ data.amount }}", 99.99),
    ],
)
def test_a_lone_expression_keeps_its_json_type(text: str, expected: Any) -> None:
    assert render_string(text, CONTEXT) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Order {{event}} for {{customer_id}}: {{data.amount}}", "Order order.created for cust_123: 99.99"),
        ("x{{nope}}y", "xy"),
        ("null: {{data.none}}", "null: null"),
        ("flags={{data.flags}}", "flags=[true,false]"),
        ("{{items[0]}}!", '{"sku":"a"}!'),
        ("{{meta.ключ}} ✓", "значение ✓"),
        (" {{data.amount}}", " 99.99"),
        ("{{$workflow.version}}{{$workflow.version}}", "33"),
        ("a } b }}", "a } b }}"),
        ("no templates", "no templates"),
    ],
)
def test_text_with_expressions_renders_as_a_string(text: str, expected: str) -> None:
    assert render_string(text, CONTEXT) == expected


def test_render_walks_dicts_and_lists_and_leaves_other_values_alone() -> None:
    value = {
        "total": "{{data.amount}}",
        "nested": {"list": ["{{customer_id}}", 1, None, True, {"deep": "{{items[0].sku}}"}]},
        "{{keys}}": "are not rendered",
    }
    assert render(value, CONTEXT) == {
        "total": 99.99,
        "nested": {"list": ["cust_123", 1, None, True, {"deep": "a"}]},
        "{{keys}}": "are not rendered",
    }


def test_render_raises_on_a_malformed_template() -> None:
    with pytest.raises(ExpressionError, match="unclosed"):
        render({"a": ["{{oops"]}, CONTEXT)


def test_values_that_look_like_expressions_are_not_rendered_again() -> None:
    context = ExpressionContext(execution_input={"evil": "{{$execution.id}}"}, execution_id="ex_1")
    assert render_string("{{evil}}", context) == "{{$execution.id}}"
    assert render_string("say {{evil}}", context) == "say {{$execution.id}}"


def test_a_non_dict_input_can_be_indexed() -> None:
    context = ExpressionContext(execution_input=["a", "b"])
    assert render_string("{{[1]}}", context) == "b"
    assert render_string("{{x}}", context) is None


def test_step_context_round_trips_through_the_wire_form() -> None:
    wire = step_context(execution_input=INPUT, node_outputs={"first": {"total": 1}})
    context = context_from_step(
        wire, node_input={"n": 2}, execution_id="ex_9", workflow_id="wf_9", workflow_version=2, now="T"
    )
    assert render_string("{{$node.first.total}}-{{$input.n}}-{{event}}", context) == "1-2-order.created"
    assert render_string("{{$now}}", context) == "T"
    assert render_string("{{$execution.id}}/{{$workflow.id}}@{{$workflow.version}}", context) == "ex_9/wf_9@2"
    from_wire = context_from_step(
        step_context(execution_input={}, node_outputs={}, execution_id="e1", workflow_id="w1", workflow_version=4),
        node_input=None,
        now="T",
    )
    assert render_string("{{$execution.id}}/{{$workflow.id}}@{{$workflow.version}}", from_wire) == "e1/w1@4"
    pinned = context_from_step(
        step_context(execution_input={}, node_outputs={}, now="fixed"),
        node_input=None,
        execution_id="e",
        workflow_id="w",
        workflow_version=1,
        now="T",
    )
    assert render_string("{{$now}}", pinned) == "fixed"


def test_render_step_is_the_orchestrators_resolver() -> None:
    wire = step_context(execution_input={"a": 1}, node_outputs={"n": {"b": 2}}, execution_id="e", workflow_id="w")
    value = {"x": "{{a}}/{{$node.n.b}}/{{$input.c}}/{{$execution.id}}", "t": "{{$now}}"}
    assert render_step(value, wire, {"c": 3}) == {"x": "1/2/3/e", "t": None}
    assert render_step("{{$now}}", wire, None, "T") == "T"
    with pytest.raises(ExpressionError):
        render_step("{{", wire, None)
