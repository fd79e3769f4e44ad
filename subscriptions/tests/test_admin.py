"""The operator console: lists with filters, the beat entry link, run now, enable/disable."""

from __future__ import annotations

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask

from subscriptions.models import BackgroundExecution
from subscriptions.tests.factories import make_subscription

pytestmark = pytest.mark.django_db(transaction=True)
LIST = "/admin/subscriptions/subscription/"


@pytest.fixture
def console(admin_user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(admin_user)
    return client


def test_lists_filter_and_link_the_beat_entry(console, user, team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, team)
    page = console.get(LIST, {"enabled__exact": "1", "trigger_type": "cron"})
    assert page.status_code == 200
    text = page.content.decode()
    assert f"subscription:{sub.pk}" in text and "/admin/django_celery_beat/periodictask/" in text
    assert console.get(f"{LIST}{sub.pk}/change/").status_code == 200
    assert console.get("/admin/subscriptions/backgroundexecution/", {"status": "FAILED"}).status_code == 200


def test_disable_enable_and_run_now_actions(console, user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team)
    console.post(LIST, {"action": "disable", "_selected_action": [sub.pk]})
    sub.refresh_from_db()
    assert not sub.enabled and not PeriodicTask.objects.filter(task="subscriptions.fire").exists()
    console.post(LIST, {"action": "enable", "_selected_action": [sub.pk]})
    sub.refresh_from_db()
    assert sub.enabled and PeriodicTask.objects.filter(task="subscriptions.fire").count() == 1
    console.post(LIST, {"action": "run_now", "_selected_action": [sub.pk]})
    (execution,) = BackgroundExecution.objects.filter(subscription=sub)
    assert execution.trigger_type == "manual" and execution.status == "COMPLETED"
    page = console.get(f"/admin/subscriptions/backgroundexecution/{execution.pk}/change/")
    assert (
        page.status_code == 200 and f"/admin/tasks/taskresource/{execution.task_id}/" in page.content.decode()
    )


def test_editing_the_beat_schedule_in_admin_moves_next_execution_time(api, user, team) -> None:  # type: ignore[no-untyped-def]
    from django_celery_beat.models import CrontabSchedule

    sub = make_subscription(user, team, trigger_config={"expression": "0 9 * * *", "timezone": "UTC"})
    entry = PeriodicTask.objects.get(task="subscriptions.fire")
    entry.crontab = CrontabSchedule.objects.create(minute="30", hour="7", timezone="UTC")
    entry.save()
    assert api.get(f"/api/subscriptions/{sub.pk}").json()["next_execution_time"].endswith("T07:30:00Z")


def test_subscription_monitor_is_for_admins(admin_api, api, anon_client, user, team) -> None:  # type: ignore[no-untyped-def]
    from subscriptions import statuses
    from subscriptions.services import executions

    sub = make_subscription(user, team)
    failed = executions.trigger_now(sub)
    executions.transition(failed, statuses.RUNNING)
    executions.transition(
        BackgroundExecution.objects.get(pk=failed.pk), statuses.FAILED, error_message="boom"
    )
    executions.trigger_now(sub)
    stats = admin_api.get("/api/admin/subscription-monitor/stats").json()
    assert stats["total_subscriptions"] == 1 and stats["scheduled_subscriptions"] == 1
    assert (
        stats["by_status"]["FAILED"] == 1
        and stats["by_status"]["PENDING"] == 1
        and stats["success_rate"] == 0
    )
    errors = admin_api.get("/api/admin/subscription-monitor/errors").json()
    assert errors["total"] == 1 and errors["items"][0]["error_message"] == "boom"
    assert admin_api.get("/api/admin/subscription-monitor/stats", {"hours": 0}).status_code == 422
    assert api.get("/api/admin/subscription-monitor/stats").status_code == 403
    assert api.get("/api/admin/subscription-monitor/errors").status_code == 403
    assert anon_client.get("/api/admin/subscription-monitor/errors").status_code == 401


def test_deleting_the_beat_entry_in_admin_disables_the_subscription(console, user, team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, team)
    entry = PeriodicTask.objects.get(task="subscriptions.fire")
    response = console.post(f"/admin/django_celery_beat/periodictask/{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    sub.refresh_from_db()
    assert not sub.enabled and sub.periodic_task_id is None and sub.spec["enabled"] is False


def test_a_deleted_account_takes_its_beat_entries_along(user, team) -> None:  # type: ignore[no-untyped-def]
    make_subscription(user, team)
    assert PeriodicTask.objects.filter(task="subscriptions.fire").count() == 1
    user.delete()
    assert not PeriodicTask.objects.filter(task="subscriptions.fire").exists()
