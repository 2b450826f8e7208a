"""decide/evolve of the workflow aggregate: every rule of create, update and delete."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow, StartExecution, UpdateWorkflow
from flowmatic_contracts.envelope import Actor, Envelope, Payload, new_envelope
from flowmatic_contracts.events import (
    CommandAccepted,
    CommandRejected,
    WorkflowCreated,
    WorkflowDeleted,
    WorkflowUpdated,
)
from flowmatic_contracts.workflow import NodeSpec, SecretChange, WorkflowSpec
from flowmatic_orchestrator.domain import (
    Decision,
    DecisionContext,
    UnsupportedCommandError,
    WorkflowState,
    decide,
    evolve,
)

WORKFLOW_ID = "wf_1"
ACTOR = Actor(kind="apiKey", id="key_1")
NOW = datetime(2026, 2, 8, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 2, 8, 13, 0, tzinfo=UTC)


def context(now: datetime = NOW, webhook_prefix: str = "wh") -> DecisionContext:
    hooks = itertools.count(1)
    messages = itertools.count(1)
    return DecisionContext(
        now=now,
        new_webhook_id=lambda: f"{webhook_prefix}_{next(hooks)}",
        new_message_id=lambda: f"msg_{next(messages)}",
    )


def spec(*nodes: NodeSpec, name: str = "flow") -> WorkflowSpec:
    return WorkflowSpec(name=name, nodes=list(nodes) or [hook("trigger"), NodeSpec(id="pass", type="noop")])


def hook(node_id: str, **parameters: Any) -> NodeSpec:
    return NodeSpec(id=node_id, type="webhook", parameters=parameters)


def command(payload: Payload, *, aggregate_id: str = WORKFLOW_ID) -> Envelope:
    return new_envelope(payload, aggregate_id=aggregate_id, actor=ACTOR, correlation_id="cor_1", message_id="cmd_1")


def apply(state: WorkflowState | None, decision: Decision) -> WorkflowState | None:
    for event in decision.events:
        state = evolve(state, event)
    return state


def created(workflow: WorkflowSpec | None = None, secrets: dict[str, SecretChange] | None = None) -> WorkflowState:
    decision = decide(None, command(CreateWorkflow(spec=workflow or spec(), secrets=secrets or {})), context())
    state = apply(None, decision)
    assert state is not None
    return state


def rejection(decision: Decision) -> CommandRejected:
    assert not decision.events
    return decision.outcome.payload_as(CommandRejected)


# ---- create ----------------------------------------------------------------------------------------------------


def test_create_appends_workflow_created_at_sequence_1_with_the_commands_envelope_fields() -> None:
    cmd = command(CreateWorkflow(spec=spec()))
    decision = decide(None, cmd, context())

    [event] = decision.events
    assert isinstance(event.payload, WorkflowCreated)
    assert event.sequence == 1 and event.aggregate_id == WORKFLOW_ID
    assert event.causation_id == cmd.id and event.correlation_id == "cor_1" and event.actor == ACTOR
    assert event.occurred_at == NOW and event.id not in {cmd.id, decision.outcome.id}
    assert event.payload.spec == spec()


def test_create_outcome_is_accepted_with_version_1() -> None:
    decision = decide(None, command(CreateWorkflow(spec=spec())), context())
    assert decision.accepted
    outcome = decision.outcome
    assert outcome.payload == CommandAccepted(
        command_id="cmd_1", command_type="CreateWorkflow", aggregate_id=WORKFLOW_ID, version=1
    )
    assert outcome.correlation_id == "cor_1" and outcome.causation_id == "cmd_1" and outcome.actor == ACTOR


def test_create_binds_one_webhook_per_webhook_trigger_with_upper_cased_methods() -> None:
    workflow = spec(
        hook("a", methods=["post", "put", "POST"]),
        hook("b"),
        NodeSpec(id="m", type="manual"),
        NodeSpec(id="n", type="noop"),
    )
    state = created(workflow)
    assert [(w.webhook_id, w.trigger_id, w.methods, w.has_secret) for w in state.webhooks] == [
        ("wh_1", "a", ["POST", "PUT"], False),
        ("wh_2", "b", ["POST", "GET"], False),
    ]


def test_create_without_webhook_triggers_has_no_bindings() -> None:
    assert created(spec(NodeSpec(id="m", type="manual"))).webhooks == []


def test_create_stores_set_secrets_as_ciphertext_and_marks_has_secret() -> None:
    state = created(
        spec(hook("a"), hook("b")),
        {"a": SecretChange(action="set", ciphertext="gAAA-a"), "b": SecretChange(action="keep")},
    )
    assert state.encrypted_secrets == {"a": "gAAA-a"}
    assert [w.has_secret for w in state.webhooks] == [True, False]


def test_create_ignores_secrets_for_nodes_that_are_not_webhook_triggers() -> None:
    state = created(spec(hook("a"), NodeSpec(id="x", type="noop")), {"x": SecretChange(action="set", ciphertext="c")})
    assert state.encrypted_secrets == {}


def test_create_of_an_existing_workflow_is_409() -> None:
    state = created()
    assert rejection(decide(state, command(CreateWorkflow(spec=spec())), context())).status == 409


def test_create_of_a_deleted_workflow_is_still_409() -> None:
    state = apply(created(), decide(created(), command(DeleteWorkflow()), context()))
    assert rejection(decide(state, command(CreateWorkflow(spec=spec())), context())).status == 409


def test_rejection_carries_the_command_and_correlation() -> None:
    decision = decide(created(), command(CreateWorkflow(spec=spec())), context())
    outcome = rejection(decision)
    assert (outcome.command_id, outcome.command_type, outcome.aggregate_id) == ("cmd_1", "CreateWorkflow", WORKFLOW_ID)
    assert outcome.title and WORKFLOW_ID in outcome.detail
    assert decision.outcome.correlation_id == "cor_1" and decision.outcome.causation_id == "cmd_1"
    assert not decision.accepted


def test_a_clear_secret_in_the_spec_is_422_and_never_logged() -> None:
    decision = decide(None, command(CreateWorkflow(spec=spec(hook("t", secret="clear")))), context())
    outcome = rejection(decision)
    assert outcome.status == 422 and [e.path for e in outcome.errors] == ["nodes[0].parameters.secret"]


def test_a_set_secret_without_ciphertext_is_422() -> None:
    decision = decide(
        None, command(CreateWorkflow(spec=spec(), secrets={"trigger": SecretChange(action="set")})), context()
    )
    assert rejection(decision).status == 422


# ---- update ----------------------------------------------------------------------------------------------------


def update(state: WorkflowState | None, payload: UpdateWorkflow, now: datetime = LATER) -> Decision:
    # fresh ids of an update must not collide with those handed out on create
    return decide(state, command(payload), context(now, webhook_prefix="wh_later"))


def test_update_appends_workflow_updated_at_version_plus_one() -> None:
    state = created()
    decision = update(state, UpdateWorkflow(spec=spec(name="renamed")))
    [event] = decision.events
    assert isinstance(event.payload, WorkflowUpdated) and event.sequence == 2 and event.occurred_at == LATER
    assert decision.outcome.payload_as(CommandAccepted).version == 2
    after = apply(state, decision)
    assert after is not None
    assert (after.version, after.spec.name, after.created_at, after.updated_at) == (2, "renamed", NOW, LATER)


def test_update_with_the_current_expected_version_is_accepted() -> None:
    assert update(created(), UpdateWorkflow(spec=spec(), expected_version=1)).accepted


def test_update_with_a_stale_expected_version_is_412() -> None:
    state = apply(created(), update(created(), UpdateWorkflow(spec=spec())))
    outcome = rejection(update(state, UpdateWorkflow(spec=spec(), expected_version=1)))
    assert outcome.status == 412 and "version 2" in outcome.detail


def test_update_of_a_missing_workflow_is_404() -> None:
    assert rejection(update(None, UpdateWorkflow(spec=spec()))).status == 404


def test_update_of_a_deleted_workflow_is_404() -> None:
    state = apply(created(), decide(created(), command(DeleteWorkflow()), context()))
    assert rejection(update(state, UpdateWorkflow(spec=spec()))).status == 404


def test_webhook_ids_are_stable_for_the_life_of_their_trigger_node() -> None:
    state = created(spec(hook("a"), hook("b")))
    ids_before = {w.trigger_id: w.webhook_id for w in state.webhooks}

    # b is removed, c is new, a stays (with other methods): a keeps its id, c gets a fresh one
    after = apply(state, update(state, UpdateWorkflow(spec=spec(hook("a", methods=["PUT"]), hook("c")))))
    assert after is not None
    ids_after = {w.trigger_id: w.webhook_id for w in after.webhooks}
    assert ids_after["a"] == ids_before["a"] and set(ids_after) == {"a", "c"}
    assert ids_after["c"] not in ids_before.values()
    assert after.webhook_for("a") is not None and after.webhook_for("a").methods == ["PUT"]  # type: ignore[union-attr]

    # and across yet another update
    again = apply(after, update(after, UpdateWorkflow(spec=spec(hook("c"), hook("a")))))
    assert again is not None
    assert {w.trigger_id: w.webhook_id for w in again.webhooks} == ids_after


def test_a_node_that_becomes_a_webhook_trigger_gets_a_new_id() -> None:
    state = created(spec(NodeSpec(id="t", type="manual")))
    after = apply(state, update(state, UpdateWorkflow(spec=spec(hook("t")))))
    assert after is not None and [w.trigger_id for w in after.webhooks] == ["t"]


def test_secret_keep_remove_and_set_on_update() -> None:
    state = created(
        spec(hook("keep"), hook("omitted"), hook("remove"), hook("replace")),
        {
            name: SecretChange(action="set", ciphertext=f"old-{name}")
            for name in ("keep", "omitted", "remove", "replace")
        },
    )
    changes = {
        "keep": SecretChange(action="keep"),
        "remove": SecretChange(action="remove"),
        "replace": SecretChange(action="set", ciphertext="new-replace"),
    }
    decision = update(
        state,
        UpdateWorkflow(spec=spec(hook("keep"), hook("omitted"), hook("remove"), hook("replace")), secrets=changes),
    )
    event = decision.events[0].payload_as(WorkflowUpdated)
    assert event.encrypted_secrets == {"keep": "old-keep", "omitted": "old-omitted", "replace": "new-replace"}
    assert {w.trigger_id: w.has_secret for w in event.webhooks} == {
        "keep": True,
        "omitted": True,
        "remove": False,
        "replace": True,
    }


def test_keep_on_a_trigger_without_a_secret_keeps_none() -> None:
    state = created(spec(hook("a")))
    decision = update(state, UpdateWorkflow(spec=spec(hook("a")), secrets={"a": SecretChange(action="keep")}))
    assert decision.events[0].payload_as(WorkflowUpdated).encrypted_secrets == {}


def test_a_removed_trigger_loses_its_secret() -> None:
    state = created(spec(hook("a"), hook("b")), {"a": SecretChange(action="set", ciphertext="c")})
    decision = update(state, UpdateWorkflow(spec=spec(hook("b"))))
    assert decision.events[0].payload_as(WorkflowUpdated).encrypted_secrets == {}


# ---- delete ----------------------------------------------------------------------------------------------------


def test_delete_appends_workflow_deleted_with_its_webhook_ids() -> None:
    state = created(spec(hook("a"), hook("b")))
    decision = decide(state, command(DeleteWorkflow()), context(LATER))
    [event] = decision.events
    assert event.payload == WorkflowDeleted(webhook_ids=["wh_1", "wh_2"]) and event.sequence == 2
    assert decision.outcome.payload_as(CommandAccepted).version == 2
    after = apply(state, decision)
    assert after is not None and after.deleted and after.version == 2 and after.spec == state.spec


def test_delete_of_a_missing_workflow_is_404() -> None:
    assert rejection(decide(None, command(DeleteWorkflow()), context())).status == 404


def test_delete_twice_is_404() -> None:
    state = apply(created(), decide(created(), command(DeleteWorkflow()), context()))
    assert rejection(decide(state, command(DeleteWorkflow()), context())).status == 404


def test_delete_with_a_stale_expected_version_is_412() -> None:
    assert rejection(decide(created(), command(DeleteWorkflow(expected_version=7)), context())).status == 412


def test_delete_with_the_current_expected_version_is_accepted() -> None:
    assert decide(created(), command(DeleteWorkflow(expected_version=1)), context()).accepted


# ---- other messages and evolve's invariants ----------------------------------------------------------------------


def test_a_command_of_another_aggregate_is_unsupported() -> None:
    start = StartExecution(workflow_id=WORKFLOW_ID, workflow_version=1, spec=spec(), trigger_id="trigger")
    with pytest.raises(UnsupportedCommandError):
        decide(None, command(start, aggregate_id="ex_1"), context())


def test_evolve_refuses_an_event_out_of_sequence() -> None:
    state = created()
    event = decide(state, command(UpdateWorkflow(spec=spec())), context()).events[0]
    with pytest.raises(ValueError, match="sequence"):
        evolve(evolve(state, event), event)


def test_evolve_refuses_an_update_of_nothing() -> None:
    updated = decide(created(), command(UpdateWorkflow(spec=spec())), context()).events[0]
    with pytest.raises(ValueError, match="sequence"):
        evolve(None, updated)
    with pytest.raises(ValueError, match="does not exist"):
        evolve(None, updated.model_copy(update={"sequence": 1}))


def test_evolve_refuses_a_second_create() -> None:
    first = decide(None, command(CreateWorkflow(spec=spec())), context()).events[0]
    with pytest.raises(ValueError, match="created twice"):
        evolve(created(), first.model_copy(update={"sequence": 2}))
