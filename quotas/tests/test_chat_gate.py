"""``chat:send``'s plan refuses a message over quota before anything is written, for Chat teams
(before the early model stream) and executor teams alike; group-chat messages that no answer
follows pass; the refusal is an ack with the reset time."""

from __future__ import annotations

import pytest

from chat import protocol
from chat.services import sending
from devices.tests.factories import make_code_team
from quotas.tests.factories import make_quota
from tasks.models import Subtask, TaskResource
from tasks.tests.factories import make_task

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, int]:
    return TaskResource.objects.count(), Subtask.objects.count()


@pytest.mark.parametrize("executor", [False, True])
def test_send_over_quota_is_refused_with_the_reset_and_writes_nothing(user, team, executor):
    target = make_code_team(user) if executor else team
    make_quota(user=user, period="day", max_requests=1)
    make_task(user, target)
    before = _counts()
    outcome = sending.send(user, protocol.ChatSend(team_id=target.pk, message="again"))
    assert _counts() == before and outcome.answers == [] and outcome.emits == []
    ack = outcome.ack
    assert ack["error"].startswith("Quota exceeded") and ack["error_code"] == "quota_exceeded"
    assert ack["reset_at"].endswith("T00:00:00+00:00") and ack["retry_after"] > 0


def test_the_conversation_owner_is_charged_for_a_members_follow_up(user, other_user, team):
    turn = make_task(user, team)
    make_quota(user=user, period="day", max_requests=1)  # the owner's, not the sender's
    from kinds.models import ResourceMember

    ResourceMember.objects.create(
        resource_type=ResourceMember.TASK,
        resource_id=turn.task.pk,
        user=other_user,
        status=ResourceMember.APPROVED,
        permission_level="edit",
    )
    outcome = sending.send(other_user, protocol.ChatSend(team_id=team.pk, task_id=turn.task.pk, message="hi"))
    assert outcome.ack["error_code"] == "quota_exceeded"
