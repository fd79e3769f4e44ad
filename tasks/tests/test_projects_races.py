"""Filing tasks while their folder is deleted, with real threads on each leg's database: no task
is left filed in a deleted folder (the folder row is locked by both paths)."""

from __future__ import annotations

import pytest

from tasks.models import Project, TaskResource
from tasks.services import projects
from tasks.tests.factories import make_project
from tasks.tests.test_races import race

pytestmark = pytest.mark.django_db(transaction=True)
RACERS = 6


@pytest.mark.parametrize("round_", range(3))
def test_filing_races_a_folder_delete(user, team, make_task, round_):
    folder = make_project(user)
    tasks = [make_task(user, team, answer=None).task for _ in range(RACERS - 1)]

    def act(index: int) -> object:
        if index == RACERS // 2:
            return projects.delete_project(actor=user, project_id=folder.pk)
        task = tasks[index if index < RACERS // 2 else index - 1]
        return projects.add_task(actor=user, project_id=folder.pk, task_id=task.pk)

    race(act, RACERS)
    assert Project.objects.get(pk=folder.pk).is_active is False
    assert not TaskResource.objects.filter(project_id=folder.pk).exists()
