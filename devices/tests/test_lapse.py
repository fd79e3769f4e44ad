"""The periodic job that ends RUNNING device answers whose device stopped heartbeating: FAILED
with the reference's texts, and with several workers at once exactly one acts on each."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections

from devices import presence
from devices.services import lapse
from devices.tasks import end_lapsed_device_answers
from devices.tests.factories import make_code_team, make_device
from tasks import statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle


def _running_on(user, team, make_task, device_id: str) -> Subtask:
    turn = make_task(user, team, "long job", answer=None)
    return lifecycle.update_subtask(
        turn.assistant_subtask.pk,
        lifecycle.SubtaskChanges(
            status=statuses.RUNNING,
            executor_name=f"device-{device_id}",
            executor_namespace=f"user-{user.pk}",
            result={"value": "so far"},
        ),
    )


@pytest.mark.django_db
def test_only_answers_of_lapsed_devices_end(user, make_task):
    team = make_code_team(user)
    make_device(user, "hw-alive000000")
    make_device(user, "hw-gone0000000")
    alive = _running_on(user, team, make_task, "hw-alive000000")
    gone = _running_on(user, team, make_task, "hw-gone0000000")
    presence.mark_offline(user.pk, "hw-gone0000000", "test-hw-gone0000000")  # its TTL ran out
    assert end_lapsed_device_answers() == 1
    alive.refresh_from_db()
    gone.refresh_from_db()
    assert alive.status == statuses.RUNNING
    assert gone.status == statuses.FAILED
    assert gone.error_message == "Device connection lost (heartbeat timeout)"
    assert gone.result == {"value": "so far", "error": "Device connection lost (heartbeat timeout)"}
    assert TaskResource.objects.get(pk=gone.task_id).status == statuses.FAILED
    assert end_lapsed_device_answers() == 0  # nothing left to end


@pytest.mark.django_db(transaction=True)
def test_concurrent_jobs_end_each_answer_once(user, make_task):
    team = make_code_team(user)
    make_device(user, "hw-gone0000000", online=False)
    answers = [_running_on(user, team, make_task, "hw-gone0000000") for _ in range(3)]
    for answer in answers[1:]:  # only one answer per task may be active: each is its own task
        assert answer.task_id != answers[0].task_id
    ended: list[int] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            ended.extend(item.payload["subtask_id"] for item in lapse.end_lapsed())
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ended) == sorted(answer.pk for answer in answers)
    assert set(Subtask.objects.filter(pk__in=ended).values_list("status", flat=True)) == {statuses.FAILED}


@pytest.mark.django_db
def test_the_job_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["devices.end_lapsed_device_answers"]
    assert entry["task"] == "devices.end_lapsed_device_answers"
