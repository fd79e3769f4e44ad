"""Projects in the operator console: listed with their owner, filterable by owner and state."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PASSWORD
from tasks.services import projects
from tasks.tests.factories import make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    assert client.login(username=admin_user.user_name, password=PASSWORD)
    return client


def test_project_pages_render_and_filter_by_owner(console, user, other_user):
    mine = make_project(user, name="alice-folder")
    make_project(other_user, name="bob-folder")
    listing = console.get(reverse("admin:tasks_project_changelist"))
    assert listing.status_code == 200
    assert b"alice-folder" in listing.content and b"bob-folder" in listing.content
    filtered = console.get(reverse("admin:tasks_project_changelist"), {"user__id__exact": user.pk})
    assert filtered.status_code == 200
    assert b"alice-folder" in filtered.content and b"bob-folder" not in filtered.content
    page = console.get(reverse("admin:tasks_project_change", args=[mine.pk]))
    assert page.status_code == 200


def test_project_rows_change_only_through_the_service(console, user, team, make_task):
    project = make_project(user, name="keep")
    task = make_task(user, team).task
    projects.add_task(actor=user, project_id=project.pk, task_id=task.pk)
    assert console.get(reverse("admin:tasks_project_add")).status_code == 403
    console.post(reverse("admin:tasks_project_change", args=[project.pk]), {"name": "x"})
    project.refresh_from_db()
    assert project.name == "keep"
    # Deleting from the console goes through the service: soft, and its tasks are unassigned.
    console.post(
        reverse("admin:tasks_project_changelist"),
        {"action": "delete_projects", "_selected_action": [project.pk]},
    )
    project.refresh_from_db()
    assert project.is_active is False
    task.refresh_from_db()
    assert task.project_id == 0
