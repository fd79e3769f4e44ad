"""``chat:send``'s service: what one message writes, and in how many queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import protocol, services
from chat.streams import WORKER_ID
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle

pytestmark = pytest.mark.django_db(transaction=True)


def test_send_takes_the_answer_inside_the_turn(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    team = chat_team(user)

    with CaptureQueriesContext(connection) as queries:
        outcome = services.send(user, protocol.ChatSend(team_id=team.pk, message="hello"))

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
    first = services.send(user, protocol.ChatSend(team_id=team.pk, message="hello"))
    task_id = first.ack["task_id"]
    done = lifecycle.SubtaskChanges(status="COMPLETED", progress=100, result={"value": "hi"})
    lifecycle.update_subtask(first.answers[0].subtask_id, done)
    assert TaskResource.objects.get(pk=task_id).status == "COMPLETED"

    follow = services.send(user, protocol.ChatSend(team_id=team.pk, task_id=task_id, message="more"))

    assert follow.ack is not None and follow.ack["message_id"] == 3
    answer = Subtask.objects.get(pk=follow.answers[0].subtask_id)
    assert (answer.status, answer.message_id, answer.worker_id) == ("RUNNING", 4, WORKER_ID)
    assert TaskResource.objects.get(pk=task_id).document["status"]["status"] == "RUNNING"
