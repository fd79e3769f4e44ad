"""Projects: a user's folders of tasks (reference extras §4 "Projects").

Rules: folders are per user (anyone else's is "Project not found"); a task sits in at most one
folder, recorded in its ``project_id``; only the task's owner files it, because the one column
is shared by everyone who sees the task and a group-chat member filing the owner's task would
take it out of the owner's folder. Deleting a folder is soft and unfiles its tasks; deleting a
task unfiles it (``lifecycle.delete_task``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.db import transaction
from django.db.models import Max

from accounts.models import User
from tasks import selectors
from tasks.exceptions import TaskNotFound, TaskNotInProject
from tasks.models import NO_PROJECT, TASK, Project, TaskResource
from wegent.errors import InvalidInput


@dataclass(frozen=True)
class ProjectChanges:
    """Fields to set; None leaves a field as it is (on create: its default)."""

    name: str | None = None
    description: str | None = None
    color: str | None = None
    sort_order: int | None = None
    is_expanded: bool | None = None

    def given(self) -> dict[str, object]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def create_project(*, actor: User, changes: ProjectChanges) -> Project:
    """A new folder, placed after the actor's others unless a ``sort_order`` is given."""
    fields = changes.given()
    if not fields.get("name"):
        raise InvalidInput([{"loc": ["body", "name"], "msg": "This field is required.", "type": "missing"}])
    with transaction.atomic():
        if "sort_order" not in fields:
            last = selectors.projects_for(actor).aggregate(last=Max("sort_order"))["last"]
            fields["sort_order"] = (last or 0) + 1
        return Project.objects.create(user=actor, **fields)


def update_project(*, actor: User, project_id: int, changes: ProjectChanges) -> Project:
    with transaction.atomic():
        project = selectors.owned_project(actor, project_id, lock=True)
        fields = changes.given()
        for key, value in fields.items():
            setattr(project, key, value)
        project.save(update_fields=[*fields, "updated_at"])
    return project


def delete_project(*, actor: User, project_id: int) -> None:
    """Soft delete; the folder's tasks stay, unfiled."""
    with transaction.atomic():
        project = selectors.owned_project(actor, project_id, lock=True)
        TaskResource.objects.filter(project_id=project.pk).update(project_id=NO_PROJECT)
        project.is_active = False
        project.save(update_fields=["is_active", "updated_at"])


def add_task(*, actor: User, project_id: int, task_id: int) -> TaskResource:
    """Files one of the actor's live tasks in the folder (moving it out of any other)."""
    with transaction.atomic():
        # The folder stays locked until commit, so a concurrent delete cannot leave the task
        # filed in a deleted folder.
        project = selectors.owned_project(actor, project_id, lock=True)
        task = selectors.task_row(task_id)
        if task is None or task.owner_id != actor.pk:
            raise TaskNotFound()
        filed = TaskResource.objects.filter(pk=task.pk, kind=TASK, is_active=True).update(
            project_id=project.pk
        )
        if not filed:  # deleted since it was read
            raise TaskNotFound()
    task.project_id = project.pk
    return task


def remove_task(*, actor: User, project_id: int, task_id: int) -> None:
    """Unfiles a task from the folder; the task itself stays."""
    with transaction.atomic():
        project = selectors.owned_project(actor, project_id, lock=True)
        if not 0 < task_id <= selectors.MAX_ID:
            raise TaskNotInProject()
        unfiled = TaskResource.objects.filter(
            pk=task_id, project_id=project.pk, owner=actor, kind=TASK, is_active=True
        ).update(project_id=NO_PROJECT)
        if not unfiled:
            raise TaskNotInProject()
