"""The operator console: the dashboard, the task inspector (filters, messages, live text, cancel,
retry, end as FAILED), and who may see and do what (non-staff, restricted staff)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import PASSWORD
from console import selectors
from kinds.tests.factories import bot_stack
from subscriptions.models import BackgroundExecution
from subscriptions.tests.factories import make_subscription
from tasks import statuses
from tasks.models import Subtask, SubtaskContext, TaskResource
from tasks.services import lifecycle

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/dashboard/"
TASKS = "/admin/tasks/taskresource/"


def _login(user: User) -> Client:
    client = Client()
    assert client.login(username=user.user_name, password=PASSWORD)
    return client


@pytest.fixture
def console(admin_user) -> Client:
    return _login(admin_user)


def restricted_admin(make_user: Any, *perms: str) -> User:
    """A system admin whose console is limited to ``perms`` (``app_label.codename``)."""
    staff = make_user("operator", role="admin")
    staff.console_restricted = True
    staff.save()
    for perm in perms:
        app_label, codename = perm.split(".")
        staff.console_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return staff


def _inspector(task: TaskResource) -> str:
    return reverse("admin:tasks_taskresource_change", args=[task.pk])


def _answer_url(task: TaskResource, subtask: Subtask, operation: str) -> str:
    return reverse("admin:console_task_answer", args=[task.pk, subtask.pk, operation])


# --- the dashboard -----------------------------------------------------------------------------


def _figures(page: str) -> dict[str, str]:
    """label -> (value, link) pairs read back from the rendered page."""
    import re

    pattern = r'<span class="label">([^<]*)</span><a class="value" href="([^"]*)">([^<]*)</a>'
    return {label: (value, href) for label, href, value in re.findall(pattern, page)}


def _listed(client: Client, link: str) -> list[int]:
    response = client.get(link.replace("&amp;", "&"))
    assert response.status_code == 200 and "?e=1" not in response.get("Location", "")
    return sorted(row.pk for row in response.context["cl"].result_list)


def test_dashboard_counts_and_links_to_the_rows(console, admin_user, user, other_user, team, make_task):
    streaming = make_task(user, team, answer=None)
    lifecycle.claim_subtask(streaming.assistant_subtask.pk, "chat:test-worker")
    lapsed = make_task(user, team, answer=None)
    lifecycle.claim_subtask(lapsed.assistant_subtask.pk, "chat:dead-worker")
    Subtask.objects.filter(pk=lapsed.assistant_subtask.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(minutes=10)
    )
    on_device = make_task(user, team, answer=None)
    lifecycle.update_subtask(
        on_device.assistant_subtask.pk,
        lifecycle.SubtaskChanges(status=statuses.RUNNING, executor_name="laptop-1"),
    )
    failed = make_task(user, team, answer=None)
    lifecycle.claim_subtask(failed.assistant_subtask.pk, "chat:test-worker")
    lifecycle.update_subtask(failed.assistant_subtask.pk, lifecycle.SubtaskChanges(status=statuses.FAILED))
    make_task(user, team)  # completed: counted nowhere below
    other_user.is_active = False
    other_user.save()

    response = console.get(DASHBOARD)
    assert response.status_code == 200
    figures = _figures(response.content.decode())
    assert figures["Users"][0] == "3" and figures["Disabled"][0] == "1" and figures["Active"][0] == "2"
    assert figures["Running"][0] == "3"
    assert figures["Chat streams running now (all workers)"][0] == "1"
    assert figures["Chat streams whose worker stopped renewing"][0] == "1"
    assert figures["Answers running on devices or executors"][0] == "1"
    assert figures["Answers"][0] == "1"
    assert figures["Subscription runs"][0] == "0"
    assert figures["Devices online (of 0)"][0] == "0"

    # Each number's link lists exactly the rows it counts.
    tasks = [streaming.task.pk, lapsed.task.pk, on_device.task.pk]
    assert _listed(console, figures["Running"][1]) == sorted(tasks)
    assert _listed(console, figures["Chat streams running now (all workers)"][1]) == [
        streaming.assistant_subtask.pk
    ]
    assert _listed(console, figures["Chat streams whose worker stopped renewing"][1]) == [
        lapsed.assistant_subtask.pk
    ]
    assert _listed(console, figures["Answers running on devices or executors"][1]) == [
        on_device.assistant_subtask.pk
    ]
    assert _listed(console, figures["Answers"][1]) == [failed.assistant_subtask.pk]
    assert _listed(console, figures["Disabled"][1]) == [other_user.pk]

    # The admin index links to the dashboard.
    assert DASHBOARD in console.get("/admin/").content.decode()


def test_dashboard_lists_failed_runs_and_due_schedules(console, admin_user, user, team):
    now = timezone.now()
    sections = {section.title: section for section in selectors.dashboard(admin_user, now)}
    assert sections["Schedules due next"].note == "Nothing is scheduled."
    subscription = make_subscription(user, team)
    off = make_subscription(user, team, name="paused", enabled=False)
    BackgroundExecution.objects.create(
        user=user, subscription=subscription, trigger_type="cron", status="FAILED", fire_key="k1"
    )
    stale = BackgroundExecution.objects.create(
        user=user, subscription=subscription, trigger_type="cron", status="FAILED", fire_key="k2"
    )
    BackgroundExecution.objects.filter(pk=stale.pk).update(updated_at=now - dt.timedelta(days=2))
    page = console.get(DASHBOARD).content.decode()
    figures = _figures(page)
    assert figures["Subscription runs"][0] == "1"
    link = figures["Subscription runs"][1].replace("&amp;", "&")
    assert console.get(link).context["cl"].result_count == 1
    # The next fire (09:00 Asia/Shanghai) of the enabled one, linked to it; not the paused one.
    due = {
        label: value for label, value in figures.items() if value[1].endswith(f"/{subscription.pk}/change/")
    }
    assert len(due) == 1
    assert not [value for value in figures.values() if value[1].endswith(f"/{off.pk}/change/")]
    assert figures["Enabled beat entries (all)"][0] == "1"


def test_dashboard_lists_the_platform_jobs_due_next(console):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    now = timezone.now()
    every = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES)
    job = PeriodicTask.objects.create(
        name="Sweep stale runs", task="subscriptions.recover_stale", interval=every, last_run_at=now
    )
    PeriodicTask.objects.create(name="Switched off", task="x", interval=every, enabled=False)
    figures = _figures(console.get(DASHBOARD).content.decode())
    value, link = figures["Sweep stale runs"]
    # Due about ten minutes after its last run.
    due = dt.datetime.strptime(value.rsplit(" ", 1)[0], "%Y-%m-%d %H:%M")
    expected = timezone.localtime(now + dt.timedelta(minutes=10)).replace(tzinfo=None)
    assert abs((due - expected).total_seconds()) <= 60
    assert link == reverse("admin:django_celery_beat_periodictask_change", args=[job.pk])
    assert "Switched off" not in figures and figures["Enabled beat entries (all)"][0] == "1"


def test_dashboard_shows_only_what_the_operator_may_view(make_user, user):
    staff = restricted_admin(make_user, "tasks.view_taskresource")
    page = _login(staff).get(DASHBOARD).content.decode()
    figures = _figures(page)
    assert "Running" in figures and "Users" not in figures and "Answers" not in figures
    blind = make_user("blind", role="admin")
    blind.console_restricted = True
    blind.save()
    assert "You may not view any of the figures" in _login(blind).get(DASHBOARD).content.decode()


@pytest.mark.parametrize("who", ["anonymous", "user"])
def test_dashboard_needs_staff(who, user):
    client = Client() if who == "anonymous" else _login(user)
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- the task inspector ------------------------------------------------------------------------


def test_inspector_shows_messages_bots_tokens_and_attachments(console, user, team, make_task):
    turn = make_task(user, team, prompt="what is two plus two", answer=None)
    lifecycle.claim_subtask(turn.assistant_subtask.pk, "chat-test-worker")
    lifecycle.update_subtask(
        turn.assistant_subtask.pk,
        lifecycle.SubtaskChanges(
            status=statuses.COMPLETED,
            result={"value": "four", "usage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}},
        ),
    )
    SubtaskContext.objects.create(user=user, subtask=turn.user_subtask, name="notes.txt", status="ready")
    page = console.get(_inspector(turn.task)).content.decode()
    assert "what is two plus two" in page and "four" in page
    assert "12 / 3" in page  # tokens in / out
    assert "notes.txt" in page
    bot_names = [bot for bot in selectors.task_messages(turn.task)[1].bots]
    assert bot_names == ["t-bot"] and "t-bot" in page
    # Read-only rows: nothing to submit but the operator's own buttons.
    assert 'name="_save"' not in page


def test_inspector_list_filters(console, user, other_user, team, make_task):
    chat = make_task(user, team, source="chat_shell")
    api = make_task(user, team, source="api")
    subscription = make_task(user, team, type="subscription")
    device = make_task(user, team, device_id="laptop-1")
    executor = make_task(user, team, source="web")
    other_team = bot_stack(other_user, "o")["team"]
    expected = {
        "chat": chat,
        "api": api,
        "subscription": subscription,
        "device": device,
        "executor": executor,
    }
    for source, turn in expected.items():
        listing = console.get(TASKS, {"source": source})
        assert listing.status_code == 200
        assert [row.pk for row in listing.context["cl"].result_list] == [turn.task.pk], source
        assert selectors.source_of(turn.task) == source
    by_team = console.get(TASKS, {"team": str(team.pk)})
    assert by_team.context["cl"].result_count == 5
    assert console.get(TASKS, {"team": str(other_team.pk)}).context["cl"].result_count == 0
    by_owner = console.get(TASKS, {"owner__id__exact": str(user.pk), "kind__exact": "Task"})
    assert by_owner.context["cl"].result_count == 5
    today = console.get(
        TASKS,
        {"created_at__gte": (timezone.now() - dt.timedelta(hours=1)).isoformat(), "kind__exact": "Task"},
    )
    assert today.context["cl"].result_count == 5
    assert console.get(TASKS, {"status__exact": "COMPLETED"}).context["cl"].result_count == 5
    # Nonsense filter values leave the list as it is (never a 500).
    assert console.get(TASKS, {"team": "x"}).status_code == 200
    assert console.get(TASKS, {"source": "nowhere"}).status_code == 200


def test_end_a_stuck_answer_as_failed(console, admin_user, user, team, make_task):
    turn = make_task(user, team, answer=None)
    lifecycle.claim_subtask(turn.assistant_subtask.pk, "chat-dead-worker")
    response = console.post(_answer_url(turn.task, turn.assistant_subtask, "fail"))
    assert response.status_code == 302
    answer = Subtask.objects.get(pk=turn.assistant_subtask.pk)
    assert answer.status == statuses.FAILED and answer.error_message == "Ended by an operator"
    assert TaskResource.objects.get(pk=turn.task.pk).status == statuses.FAILED
    entry = LogEntry.objects.get(object_id=str(turn.task.pk))
    assert entry.user_id == admin_user.pk and "Ended as FAILED answer" in entry.get_change_message()
    # Again: it ended, so the operator is told and nothing changes or is logged.
    again = console.post(_answer_url(turn.task, turn.assistant_subtask, "fail"), follow=True)
    assert "Cannot end an answer in FAILED state" in again.content.decode()
    assert LogEntry.objects.count() == 1


def test_retry_refused_for_an_answer_that_did_not_fail(console, user, team, make_task):
    turn = make_task(user, team, answer="fine")
    page = console.post(_answer_url(turn.task, turn.assistant_subtask, "retry"), follow=True).content.decode()
    assert "Answer" in page and Subtask.objects.get(pk=turn.assistant_subtask.pk).status == statuses.COMPLETED
    assert not LogEntry.objects.exists()


def test_inspector_bad_input(console, user, other_user, team, make_task):
    turn = make_task(user, team, answer=None)
    other = make_task(other_user, bot_stack(other_user, "o")["team"], answer=None)
    assert console.post(_answer_url(turn.task, turn.assistant_subtask, "explode")).status_code == 404
    assert console.post(reverse("admin:console_task_cancel", args=[999999])).status_code == 404
    assert console.get(reverse("admin:console_task_cancel", args=[turn.task.pk])).status_code == 405
    # An answer of another task is not this task's answer.
    page = console.post(_answer_url(turn.task, other.assistant_subtask, "fail"), follow=True).content.decode()
    assert "AI subtask not found" in page
    assert Subtask.objects.get(pk=other.assistant_subtask.pk).status == statuses.PENDING
    assert console.get(reverse("admin:console_task_live", args=[999999])).status_code == 404


def test_cancel_a_waiting_task_from_the_inspector(console, admin_user, user, team, make_task):
    turn = make_task(user, team, answer=None)
    assert console.post(reverse("admin:console_task_cancel", args=[turn.task.pk])).status_code == 302
    assert TaskResource.objects.get(pk=turn.task.pk).status == statuses.CANCELLED
    assert "Cancelled the task" in LogEntry.objects.get().get_change_message()
    # Cancelling an ended task is refused with the service's reason.
    page = console.post(
        reverse("admin:console_task_cancel", args=[turn.task.pk]), follow=True
    ).content.decode()
    assert "already CANCELLED" in page


def test_live_view_returns_the_saved_text_of_ended_answers(console, user, team, make_task):
    turn = make_task(user, team, answer="all done")
    body = console.get(reverse("admin:console_task_live", args=[turn.task.pk])).json()
    assert body["answers"] == [
        {"subtask_id": turn.assistant_subtask.pk, "status": "COMPLETED", "text": "all done", "live": False}
    ]


# --- permissions -------------------------------------------------------------------------------


def test_operator_without_change_permission_cannot_act(make_user, user, team, make_task):
    staff = restricted_admin(make_user, "tasks.view_taskresource")
    client = _login(staff)
    turn = make_task(user, team, answer=None)
    page = client.get(_inspector(turn.task))
    assert page.status_code == 200
    assert "Cancel task" not in page.content.decode() and "End as FAILED" not in page.content.decode()
    listing = client.get(TASKS)
    assert "cancel_tasks" not in listing.content.decode()
    assert client.post(reverse("admin:console_task_cancel", args=[turn.task.pk])).status_code == 403
    assert client.post(_answer_url(turn.task, turn.assistant_subtask, "fail")).status_code == 403
    # The bulk action, posted anyway, does nothing.
    client.post(TASKS, {"action": "cancel_tasks", "_selected_action": [turn.task.pk]})
    assert TaskResource.objects.get(pk=turn.task.pk).status == statuses.PENDING
    assert client.get(reverse("admin:console_task_live", args=[turn.task.pk])).status_code == 200
    assert not LogEntry.objects.exists()


def test_operator_without_view_permission_does_not_see_the_model(make_user, user, team, make_task):
    staff = restricted_admin(make_user, "accounts.view_user")
    client = _login(staff)
    turn = make_task(user, team, answer=None)
    index = client.get("/admin/").content.decode()
    assert "/admin/accounts/user/" in index and TASKS not in index and "/admin/kinds/" not in index
    assert client.get(TASKS).status_code == 403
    assert client.get(_inspector(turn.task)).status_code == 403
    assert client.get(reverse("admin:console_task_live", args=[turn.task.pk])).status_code == 403
    assert client.post(reverse("admin:console_task_cancel", args=[turn.task.pk])).status_code == 403
    assert client.get("/admin/accounts/user/").status_code == 200


def test_operator_with_change_permission_can_act(make_user, user, team, make_task):
    staff = restricted_admin(make_user, "tasks.view_taskresource", "tasks.change_taskresource")
    turn = make_task(user, team, answer=None)
    client = _login(staff)
    assert "Cancel task" in client.get(_inspector(turn.task)).content.decode()
    assert client.post(reverse("admin:console_task_cancel", args=[turn.task.pk])).status_code == 302
    assert TaskResource.objects.get(pk=turn.task.pk).status == statuses.CANCELLED


def test_non_staff_get_no_console_pages(user, team, make_task):
    turn = make_task(user, team, answer=None)
    client = _login(user)
    for url in (
        DASHBOARD,
        TASKS,
        _inspector(turn.task),
        reverse("admin:console_task_live", args=[turn.task.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    response = client.post(reverse("admin:console_task_cancel", args=[turn.task.pk]))
    assert response.status_code == 302
    assert TaskResource.objects.get(pk=turn.task.pk).status == statuses.PENDING
