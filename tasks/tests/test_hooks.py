"""What the tasks app adds to the agent routes: running tasks, delete guard, team renames."""

from __future__ import annotations

import pytest

from tasks.models import TaskResource

pytestmark = pytest.mark.django_db


def test_running_tasks_of_team_and_bot(api, user, team, make_task, bot_stack, other_user):
    idle = make_task(user, team)
    busy = make_task(user, team, prompt="working", answer=None)
    bobs = bot_stack(other_user, "t")  # same names, another owner: not alice's team
    make_task(other_user, bobs["team"], answer=None)
    body = api.get(f"/api/teams/{team.pk}/running-tasks").json()
    assert body == {
        "has_running_tasks": True,
        "running_tasks_count": 1,
        "running_tasks": [
            {
                "task_id": busy.task.pk,
                "task_name": busy.task.name,
                "task_title": "working",
                "status": "PENDING",
            }
        ],
    }
    bot_id = team.spec["members"][0]["botRef"]["name"]
    from kinds.models import Kind

    bot = Kind.objects.get(kind="Bot", name=bot_id, owner=user)
    by_bot = api.get(f"/api/bots/{bot.pk}/running-tasks").json()
    assert by_bot["running_tasks"][0]["team_name"] == team.name
    assert idle.task.pk not in [t["task_id"] for t in by_bot["running_tasks"]]


def test_team_with_running_task_is_deleted_only_with_force(api, user, team, make_task):
    make_task(user, team, answer=None)
    refused = api.delete(f"/api/teams/{team.pk}")
    assert refused.status_code == 400 and "running task" in refused.json()["detail"]
    assert api.delete(f"/api/teams/{team.pk}?force=true").status_code == 200


def test_renamed_team_keeps_its_tasks(api, user, team, make_task):
    turn = make_task(user, team)
    response = api.put(f"/api/teams/{team.pk}", {"name": "renamed-team"}, format="json")
    assert response.status_code == 200, response.json()
    task = TaskResource.objects.get(pk=turn.task.pk)
    assert task.spec["teamRef"]["name"] == "renamed-team"
    assert api.get("/api/tasks/lite").json()["items"][0]["team_id"] == team.pk
