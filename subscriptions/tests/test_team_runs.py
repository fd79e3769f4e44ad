"""A run of a multi-bot team answers as chat does (every member, by the team's mode) and the
execution ends with the turn's last answer; the subscription's knowledge bases are the run's
message contexts and the answer's knowledge tools. Fake LLM over HTTP, one model per member (the
model id tells members apart: ``fake-n3`` answers "w0 w1 w2"). Celery runs eagerly here."""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests.factories import model_doc_for
from chat.tests.fake_llm import FakeLLMServer
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, make_kind, shell_doc
from knowledge.tests import factories as kf
from subscriptions import statuses
from subscriptions.models import BackgroundExecution
from subscriptions.tests.factories import make_subscription
from tasks.models import Subtask, SubtaskContext, TaskResource

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/subscriptions"


def make_team(
    owner: Any, llm: FakeLLMServer, mode: str, members: list[tuple[str, str, dict[str, Any]]]
) -> Kind:
    """``members``: (name, model id, member fields such as role/requireConfirmation)."""
    entries = []
    for name, model_id, fields in members:
        make_kind(owner, ghost_doc(f"{name}-ghost", f"You are {name}."))
        make_kind(owner, shell_doc(f"{name}-shell"))
        make_kind(owner, model_doc_for(llm, f"{name}-model", model_id))
        make_kind(owner, bot_doc(f"{name}-bot", f"{name}-ghost", f"{name}-shell", f"{name}-model"))
        entries.append({"botRef": {"name": f"{name}-bot", "namespace": "default"}, "prompt": "", **fields})
    document = {
        "kind": "Team",
        "metadata": {"name": f"{mode}-team"},
        "spec": {"members": entries, "collaborationModel": mode, "bind_mode": ["chat"]},
    }
    return make_kind(owner, document)


def answers(task_id: int) -> list[tuple[str, str, str]]:
    names = dict(Kind.objects.filter(kind="Bot").values_list("pk", "name"))
    rows = Subtask.objects.filter(task_id=task_id, role=Subtask.ASSISTANT).order_by("message_id")
    return [(names[row.bot_ids[0]], row.status, (row.result or {}).get("value")) for row in rows]


def models_asked(llm: FakeLLMServer) -> list[str]:
    return [r.body["model"] for r in llm.requests if isinstance(r.body, dict) and "model" in r.body]


def test_a_pipeline_run_goes_through_every_stage_and_ends_with_the_last(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    team = make_team(
        user,
        fake_llm,
        "pipeline",
        [("plan", "fake-n2", {}), ("build", "fake-n3", {}), ("test", "fake-n4", {})],
    )
    sub = make_subscription(user, team, name="piped", prompt_template="Do the job")
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "COMPLETED", run
    assert answers(run["task_id"]) == [
        ("plan-bot", "COMPLETED", "w0 w1"),
        ("build-bot", "COMPLETED", "w0 w1 w2"),
        ("test-bot", "COMPLETED", "w0 w1 w2 w3"),
    ]
    assert run["result_summary"] == "w0 w1 w2 w3"
    assert models_asked(fake_llm) == ["fake-n2", "fake-n3", "fake-n4"]
    # Each stage read the previous stage's output.
    last = next(r.body for r in fake_llm.requests if r.body.get("model") == "fake-n4")
    assert "w0 w1 w2" in str(last["messages"][-1]["content"])
    assert TaskResource.objects.get(pk=run["task_id"]).status == "COMPLETED"


def test_a_stage_waiting_for_confirmation_completes_the_run_there(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    team = make_team(
        user,
        fake_llm,
        "pipeline",
        [("plan", "fake-n2", {"requireConfirmation": True}), ("build", "fake-n3", {})],
    )
    sub = make_subscription(user, team, name="gated")
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "COMPLETED" and run["result_summary"] == "w0 w1", run
    assert answers(run["task_id"]) == [("plan-bot", "PENDING_CONFIRMATION", "w0 w1")]
    assert TaskResource.objects.get(pk=run["task_id"]).status == "PENDING_CONFIRMATION"


def test_a_collaborate_run_hears_every_member(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    team = make_team(user, fake_llm, "collaborate", [("first", "fake-n2", {}), ("second", "fake-n3", {})])
    sub = make_subscription(user, team, name="together")
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "COMPLETED", run
    assert answers(run["task_id"]) == [
        ("first-bot", "COMPLETED", "w0 w1"),
        ("second-bot", "COMPLETED", "w0 w1 w2"),
    ]
    assert run["result_summary"] == "w0 w1 w2"


def test_a_failing_later_stage_fails_the_run(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    team = make_team(user, fake_llm, "pipeline", [("plan", "fake-n2", {}), ("build", "fake-error-500", {})])
    sub = make_subscription(user, team, name="broken")
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "FAILED" and run["error_message"], run
    assert [status for _, status, _ in answers(run["task_id"])] == ["COMPLETED", "FAILED"]


def test_a_timeout_stops_the_stage_running_and_no_stage_follows(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    team = make_team(
        user,
        fake_llm,
        "pipeline",
        [("plan", "fake-n2", {}), ("build", "fake-hang", {}), ("test", "fake-n3", {})],
    )
    sub = make_subscription(user, team, name="slow")
    document = {**sub.document, "spec": {**sub.spec, "timeoutSeconds": 2}}
    type(sub).objects.filter(pk=sub.pk).update(document=document)
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "FAILED" and run["error_message"] == "Execution timed out"
    assert [(name, status) for name, status, _ in answers(run["task_id"])] == [
        ("plan-bot", "COMPLETED"),
        ("build-bot", "CANCELLED"),
    ]


def test_knowledge_base_refs_are_the_runs_message_contexts_and_its_tools(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    from chat.tests.factories import make_chat_team

    kb = kf.make_kb(user, "Handbook")
    team = make_chat_team(user, fake_llm, "fake-n3", "kb")
    sub = make_subscription(user, team, name="grounded", knowledge_base_refs=[{"name": kb.name}])
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "COMPLETED", run
    message = Subtask.objects.get(task_id=run["task_id"], role=Subtask.USER)
    contexts = SubtaskContext.objects.filter(subtask=message, context_type=SubtaskContext.KNOWLEDGE_BASE)
    assert [c.type_data["knowledge_id"] for c in contexts] == [kb.pk]
    body = fake_llm.requests[-1].body
    tools = [tool["function"]["name"] for tool in body.get("tools") or []]
    assert "kb_ls" in tools and "kb_head" in tools
    assert "Handbook" in str(body["messages"][0]["content"])
    # A knowledge base deleted since is left out; the run still goes.
    from knowledge.services import bases

    bases.delete(actor=user, kb_id=kb.pk)
    again = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert again["status"] == "COMPLETED", again
    message = Subtask.objects.get(task_id=again["task_id"], role=Subtask.USER)
    assert not SubtaskContext.objects.filter(
        subtask=message, context_type=SubtaskContext.KNOWLEDGE_BASE
    ).exists()
    assert BackgroundExecution.objects.filter(subscription=sub, status=statuses.COMPLETED).count() == 2


def test_a_coordinate_run_ends_with_the_leaders_composed_answer(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    import json

    team = make_team(
        user, fake_llm, "coordinate", [("lead", "fake-tools-n2", {"role": "leader"}), ("x", "fake-n3", {})]
    )
    ask = json.dumps({"member": "x-bot", "question": "What is x?"})
    sub = make_subscription(user, team, name="led", prompt_template=f"Explain x\n@call ask_team_member {ask}")
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "COMPLETED", run
    assert answers(run["task_id"]) == [
        ("lead-bot", "COMPLETED", "Tool results: w0 w1 w2\nw0 w1"),
        ("x-bot", "COMPLETED", "w0 w1 w2"),
    ]
    # The member answered last in message order; the run's result is the leader's.
    assert run["result_summary"] == "Tool results: w0 w1 w2\nw0 w1"
