"""``chat:send``'s service: what one message writes, and in how many queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import protocol
from chat.services import sending
from chat.services.outcome import ACCESS_DENIED
from chat.streams import WORKER_ID
from quotas import selectors as quota_selectors
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _quota_rules_loaded() -> None:
    """The quota rules are read once per process and kept (none are configured here): loaded
    first, so the counts below are a steady-state send's own."""
    quota_selectors.rules.get()


def test_send_takes_the_answer_inside_the_turn(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    team = chat_team(user)

    with CaptureQueriesContext(connection) as queries:
        outcome = sending.send(user, protocol.ChatSend(team_id=team.pk, message="hello"))

    assert outcome.ack is not None and [answer.claimed for answer in outcome.answers] == [True]
    answer = Subtask.objects.get(pk=outcome.answers[0].subtask_id)
    assert answer.status == "RUNNING" and answer.worker_id == WORKER_ID and answer.heartbeat_at is not None
    task = TaskResource.objects.get(pk=outcome.ack["task_id"])
    assert task.status == "RUNNING"
    # Team, its bots, their components; then one transaction: placeholder, workspace, task,
    # question and answer. The separate claim (7 more) and the empty task's message count are gone.
    statements = [q["sql"] for q in queries.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    statements = [s for s in statements if not s.startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]
    assert len(statements) <= 8, "\n".join(statements)


def test_follow_up_is_claimed_too(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    team = chat_team(user)
    first = sending.send(user, protocol.ChatSend(team_id=team.pk, message="hello"))
    task_id = first.ack["task_id"]
    done = lifecycle.SubtaskChanges(status="COMPLETED", progress=100, result={"value": "hi"})
    lifecycle.update_subtask(first.answers[0].subtask_id, done)
    assert TaskResource.objects.get(pk=task_id).status == "COMPLETED"

    follow = sending.send(user, protocol.ChatSend(team_id=team.pk, task_id=task_id, message="more"))

    assert follow.ack is not None and follow.ack["message_id"] == 3
    answer = Subtask.objects.get(pk=follow.answers[0].subtask_id)
    assert (answer.status, answer.message_id, answer.worker_id) == ("RUNNING", 4, WORKER_ID)
    assert TaskResource.objects.get(pk=task_id).document["status"]["status"] == "RUNNING"


def test_a_follow_up_in_a_subscription_task_lists_it(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    from tasks import documents

    team = chat_team(user)
    first = sending.send(user, protocol.ChatSend(team_id=team.pk, message="hello"))
    task = TaskResource.objects.get(pk=first.ack["task_id"])
    task.document = documents.with_labels(task.document, {"type": "subscription"})
    task.save()
    done = lifecycle.SubtaskChanges(status="COMPLETED", progress=100, result={"value": "hi"})
    lifecycle.update_subtask(first.answers[0].subtask_id, done)
    assert not TaskResource.objects.get(pk=task.pk).listed

    sending.send(user, protocol.ChatSend(team_id=team.pk, task_id=task.pk, message="more"))

    stored = TaskResource.objects.get(pk=task.pk)
    assert stored.listed and stored.labels["userInteracted"] == "true"


def test_messages_planned_together_share_their_lookups(make_user, chat_team) -> None:  # type: ignore[no-untyped-def]
    """A burst of new chats is checked in three queries in all (teams, their bots, the bots'
    components), each user's message resolving to that user's own agent, although every user
    names the agent the same."""
    users = [make_user(f"planner{i}") for i in range(4)]
    teams = [chat_team(u) for u in users]
    requests = [
        (u, protocol.ChatSend(team_id=t.pk, message=f"hi from {u.pk}"))
        for u, t in zip(users, teams, strict=True)
    ]

    with CaptureQueriesContext(connection) as queries:
        plans = sending.plan_sends(requests)

    assert len(queries.captured_queries) == 3, "\n".join(q["sql"] for q in queries.captured_queries)
    assert all(isinstance(plan, sending.SendPlan) for plan in plans)
    for plan, user, team in zip(plans, users, teams, strict=True):
        assert plan.team.pk == team.pk and plan.with_answer and plan.early_setup is not None
        model = plan.context.components.resolve("Model", {"name": "c-model"}, user.pk)
        assert model is not None and model.owner_id == user.pk


def test_a_refused_message_in_a_batch_does_not_touch_the_others(make_user, chat_team) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_user("batch-alice"), make_user("batch-bob")
    alice_team, bob_team = chat_team(alice), chat_team(bob)
    requests = [
        (alice, protocol.ChatSend(team_id=alice_team.pk, message="fine")),
        (alice, protocol.ChatSend(team_id=bob_team.pk, message="not my team")),
        (bob, protocol.ChatSend(team_id=bob_team.pk, message="   ")),
        (bob, protocol.ChatSend(team_id=bob_team.pk, task_id=999_999, message="no such task")),
        (bob, protocol.ChatSend(team_id=bob_team.pk, message="fine too")),
    ]

    plans = sending.plan_sends(requests)

    assert isinstance(plans[0], sending.SendPlan) and plans[0].team.pk == alice_team.pk
    assert [plan.ack for plan in plans[1:4]] == [  # type: ignore[union-attr]
        {"error": "Team not found"},
        {"error": "Message cannot be empty"},
        {"error": ACCESS_DENIED},
    ]
    assert isinstance(plans[4], sending.SendPlan) and plans[4].team.pk == bob_team.pk
    assert TaskResource.objects.count() == 0  # planning writes nothing


def test_an_unexpected_error_in_one_message_is_that_message_s_entry(
    make_user, chat_team, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_user("broken-alice"), make_user("broken-bob")
    alice_team, bob_team = chat_team(alice), chat_team(bob)
    real = sending.config.supports_direct_chat

    def flaky(team, context):  # type: ignore[no-untyped-def]
        if team.pk == alice_team.pk:
            raise RuntimeError("corrupt team document")
        return real(team, context)

    monkeypatch.setattr(sending.config, "supports_direct_chat", flaky)

    plans = sending.plan_sends(
        [
            (alice, protocol.ChatSend(team_id=alice_team.pk, message="one")),
            (bob, protocol.ChatSend(team_id=bob_team.pk, message="two")),
        ]
    )

    assert isinstance(plans[0], RuntimeError) and str(plans[0]) == "corrupt team document"
    assert isinstance(plans[1], sending.SendPlan) and plans[1].team.pk == bob_team.pk
    with pytest.raises(RuntimeError, match="corrupt team document"):
        sending.plan_send(alice, protocol.ChatSend(team_id=alice_team.pk, message="alone"))
