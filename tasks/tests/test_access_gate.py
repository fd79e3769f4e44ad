"""The one rule of who may see a task, its messages and its attachments (tasks.selectors)."""

from __future__ import annotations

import pytest

from kinds.models import ResourceMember
from tasks import selectors
from tasks.models import SubtaskContext

pytestmark = pytest.mark.django_db


def join(task, who, status=ResourceMember.APPROVED):  # type: ignore[no-untyped-def]
    ResourceMember.objects.create(
        resource_type=ResourceMember.TASK, resource_id=task.pk, user=who, status=status
    )


def test_for_user_is_can_access_as_a_query(user, other_user, make_user, team, make_task) -> None:  # type: ignore[no-untyped-def]
    mine = make_task(user, team).task
    shared = make_task(user, team, prompt="shared").task
    pending = make_task(user, team, prompt="pending").task
    gone = make_task(user, team, prompt="gone").task
    join(shared, other_user)
    join(pending, other_user, ResourceMember.PENDING)
    join(gone, other_user)
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    stranger = make_user("carol")

    assert set(selectors.for_user(user)) == {mine, shared, pending}
    assert set(selectors.for_user(other_user)) == {shared}
    assert list(selectors.for_user(stranger)) == []
    for who in (user, other_user, stranger):
        for task in (mine, shared, pending):
            assert (task in set(selectors.for_user(who))) == selectors.can_access(who, task)


def test_messages_and_attachments_follow_the_task_gate(user, other_user, make_user, team, make_task) -> None:  # type: ignore[no-untyped-def]
    turn = make_task(user, team)
    task = turn.task
    attachment = SubtaskContext.objects.create(
        subtask=turn.user_subtask, user=user, context_type=SubtaskContext.ATTACHMENT, name="a.txt"
    )
    stranger = make_user("carol")

    assert selectors.visible_subtasks(task, stranger).count() == 0
    assert not selectors.can_read_attachment(stranger, attachment)
    join(task, other_user)
    assert (
        selectors.visible_subtasks(task, other_user).count()
        == selectors.visible_subtasks(task, user).count()
        == 2
    )
    assert selectors.can_read_attachment(other_user, attachment)
    own_upload = SubtaskContext.objects.create(
        user=stranger, context_type=SubtaskContext.ATTACHMENT, name="b.txt"
    )
    assert selectors.can_read_attachment(stranger, own_upload)
