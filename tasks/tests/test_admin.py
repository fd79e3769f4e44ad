"""The tasks operator console: read-only pages, cancel and fail actions through the services."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PASSWORD
from tasks import statuses
from tasks.models import Subtask, SubtaskContext, TaskResource
from tasks.services import lifecycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    assert client.login(username=admin_user.user_name, password=PASSWORD)
    return client


def test_pages_render(console, user, team, make_task):
    turn = make_task(user, team, prompt="visible in admin")
    SubtaskContext.objects.create(user=user, subtask=turn.user_subtask, name="notes.txt", extracted_text="x")
    for name, pk in (
        ("taskresource", turn.task.pk),
        ("subtask", turn.user_subtask.pk),
        ("subtaskcontext", SubtaskContext.objects.get().pk),
    ):
        listing = console.get(reverse(f"admin:tasks_{name}_changelist"))
        assert listing.status_code == 200
        page = console.get(reverse(f"admin:tasks_{name}_change", args=[pk]))
        assert page.status_code == 200
    assert b"visible in admin" in console.get(reverse("admin:tasks_taskresource_changelist")).content


def test_rows_cannot_be_edited_or_added(console, user, team, make_task):
    turn = make_task(user, team)
    assert console.get(reverse("admin:tasks_taskresource_add")).status_code == 403
    response = console.post(reverse("admin:tasks_taskresource_change", args=[turn.task.pk]), {"title": "x"})
    assert response.status_code == 403
    assert TaskResource.objects.get(pk=turn.task.pk).title == "hello"


def test_cancel_and_fail_actions(console, user, team, make_task):
    waiting = make_task(user, team, answer=None)
    console.post(
        reverse("admin:tasks_taskresource_changelist"),
        {"action": "cancel_tasks", "_selected_action": [waiting.task.pk]},
    )
    assert TaskResource.objects.get(pk=waiting.task.pk).status == statuses.CANCELLED

    stuck = make_task(user, team, answer=None)
    lifecycle.claim_subtask(stuck.assistant_subtask.pk, "dead-worker")
    console.post(
        reverse("admin:tasks_subtask_changelist"),
        {"action": "fail_answers", "_selected_action": [stuck.assistant_subtask.pk]},
    )
    answer = Subtask.objects.get(pk=stuck.assistant_subtask.pk)
    assert answer.status == statuses.FAILED and answer.error_message == "Ended by an operator"
    assert TaskResource.objects.get(pk=stuck.task.pk).status == statuses.FAILED


def test_console_needs_staff(client_for, user):
    client = Client()
    assert client.login(username=user.user_name, password=PASSWORD)
    response = client.get(reverse("admin:tasks_taskresource_changelist"))
    assert response.status_code == 302


def test_share_links_hide_their_token(console, user):
    from kinds.models import ShareLink

    link = ShareLink.objects.create(
        resource_type="Task", resource_id=1, token="secret-token-value-123", created_by=user
    )
    for page in (
        reverse("admin:kinds_sharelink_changelist"),
        reverse("admin:kinds_sharelink_change", args=[link.pk]),
        reverse("admin:kinds_resourcemember_changelist"),
    ):
        response = console.get(page)
        assert response.status_code == 200
        assert b"secret-token-value-123" not in response.content
