"""What the tasks app plugs into the apps below it (installed by TasksConfig.ready)."""

from __future__ import annotations

from typing import Any

from kinds import events as kind_events
from kinds.models import Kind
from tasks import documents, kind_backend, statuses
from tasks.models import TASK, TaskResource
from tasks.services import attachments


def _refers_to(task: TaskResource, team: Kind, name: str | None = None) -> bool:
    """Whether the task's ``teamRef`` means ``team`` (by ``name``, default its current name)."""
    ref = task.spec.get("teamRef")
    if not isinstance(ref, dict):
        return False
    owner = ref.get("user_id")
    same_owner = owner == team.user_id_or_zero or (owner is None and task.owner_id == team.owner_id)
    return (
        ref.get("name") == (name or team.name)
        and (ref.get("namespace") or "default") == team.namespace
        and same_owner
    )


def running_tasks(teams: list[Kind]) -> list[dict[str, Any]]:
    """PENDING/RUNNING tasks of these teams (by team name in SQL, the exact match here)."""
    if not teams:
        return []
    active = TaskResource.objects.filter(
        kind=TASK,
        is_active=True,
        status__in=(statuses.PENDING, statuses.RUNNING),
        document__spec__teamRef__name__in=sorted({team.name for team in teams}),
    ).order_by("id")
    found = []
    for task in active:
        team = next((team for team in teams if _refers_to(task, team)), None)
        if team is not None:
            found.append(
                {
                    "task_id": task.pk,
                    "task_name": task.name,
                    "task_title": task.spec.get("title"),
                    "status": task.status,
                    "team_name": team.name,
                }
            )
    return found


_REFERRERS_SHOWN = 50


def team_tasks(row: Kind) -> list[TaskResource]:
    """Active tasks whose ``teamRef`` means this team (the newest first, at most 50)."""
    if row.kind != "Team":
        return []
    candidates = TaskResource.objects.filter(
        kind=TASK, is_active=True, document__spec__teamRef__name=row.name
    ).order_by("-id")
    found: list[TaskResource] = []
    for task in candidates.iterator():
        if _refers_to(task, row):
            found.append(task)
            if len(found) == _REFERRERS_SHOWN:
                break
    return found


def follow_team_rename(team: Kind, old_name: str) -> None:
    """Tasks keep pointing at a renamed team (their ``teamRef`` is by name)."""
    candidates = TaskResource.objects.filter(kind=TASK, document__spec__teamRef__name=old_name)
    for task in candidates.select_for_update():
        if _refers_to(task, team, old_name):
            ref = {**task.spec["teamRef"], "name": team.name}
            task.document = documents.changed(task.document, spec={"teamRef": ref})
            task.save(update_fields=["document", "updated_at"])


def install() -> None:
    kind_backend.register()
    attachments.connect_signals()
    kind_events.running_task_finders.register(running_tasks)
    kind_events.team_renamed.register(follow_team_rename)
    kind_events.referrer_finders.register(team_tasks)
