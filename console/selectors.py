"""Reads of the operator console: the dashboard's figures and the task inspector's messages.

Every figure says which model permission it needs to be seen and links to the admin list that
shows exactly the rows it counts, so an operator can go from a number to the rows behind it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.models import User
from chat.streams import WORKER_PREFIX
from devices import selectors as devices
from kinds import selectors as kinds
from subscriptions.models import BackgroundExecution, Subscription
from subscriptions.services import schedules
from tasks import statuses
from tasks.models import Subtask, SubtaskContext, TaskResource
from tasks.services import messages

FAILED_WINDOW = dt.timedelta(hours=24)
SCHEDULES_SHOWN = 5
# Enough for any real instance's list of timed subscriptions; the next fires are computed from
# each beat entry, so the dashboard reads at most this many.
SCHEDULES_READ = 500


def changelist(model: str, **params: Any) -> str:
    """The admin list of ``app_label.model`` filtered by ``params`` (admin query parameters)."""
    app_label, model_name = model.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


# --- where a task came from --------------------------------------------------------------------

SOURCES = ("chat", "api", "subscription", "device", "executor")


def _marked(query: Q) -> QuerySet[TaskResource]:
    """The ids of tasks matching a label/spec test, for exclusions: a JSON key that is missing
    reads as NULL, and NOT NULL is not true, so ``~Q`` on a key would drop unlabelled rows."""
    return TaskResource.objects.filter(query).values("pk")


def tasks_from(rows: QuerySet[TaskResource], source: str) -> QuerySet[TaskResource]:
    """Tasks by source, from their labels and spec: a subscription run, an API call (Responses
    API, ``/api/chat``), a device's run, a direct chat from the web, else the executor manager."""
    subscription = Q(task_mode="subscription")
    api = Q(document__metadata__labels__is_api_call="true")
    device = Q(document__spec__device_id__isnull=False) & ~Q(document__spec__device_id=None)
    chat = Q(document__metadata__labels__source="chat_shell")
    rows = rows.filter(kind="Task")
    if source == "subscription":
        return rows.filter(subscription)
    rows = rows.exclude(subscription)
    if source == "api":
        return rows.filter(api)
    rows = rows.exclude(pk__in=_marked(api))
    if source == "device":
        return rows.filter(device)
    rows = rows.exclude(pk__in=_marked(device))
    if source == "chat":
        return rows.filter(chat)
    if source == "executor":
        return rows.exclude(pk__in=_marked(chat))
    return rows


def source_of(task: TaskResource) -> str:
    labels = task.labels
    spec = task.document.get("spec") if isinstance(task.document, dict) else None
    if task.task_mode == "subscription":
        return "subscription"
    if labels.get("is_api_call") == "true":
        return "api"
    if isinstance(spec, dict) and spec.get("device_id"):
        return "device"
    return "chat" if labels.get("source") == "chat_shell" else "executor"


def teams_used(limit: int = 50) -> list[tuple[int, str]]:
    """The teams that answered in tasks (newest first), for the task list's team filter."""
    ids = list(
        Subtask.objects.filter(role=Subtask.ASSISTANT, team_id__gt=0)
        .order_by("-id")
        .values_list("team_id", flat=True)
        .distinct()[: limit * 4]
    )
    unique = list(dict.fromkeys(ids))[:limit]
    names = {pk: f"{row.namespace}/{row.name}" for pk, row in kinds.rows_by_id("Team", set(unique)).items()}
    return [(team_id, names.get(team_id, f"#{team_id}")) for team_id in unique]


def tasks_of_team(rows: QuerySet[TaskResource], team_id: int) -> QuerySet[TaskResource]:
    return rows.filter(pk__in=Subtask.objects.filter(team_id=team_id).values("task_id"))


# --- the dashboard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    label: str
    value: int | str
    url: str
    permission: str  # the view permission an operator needs to see it (app_label.view_model)


@dataclass
class Section:
    title: str
    figures: list[Figure] = field(default_factory=list)
    note: str = ""


def _users() -> Section:
    perm = "accounts.view_user"
    rows = User.objects.aggregate(total=Count("id"), active=Count("id", filter=Q(is_active=True)))
    return Section(
        "Users",
        [
            Figure("Users", rows["total"], changelist("accounts.user"), perm),
            Figure("Active", rows["active"], changelist("accounts.user", is_active__exact=1), perm),
            Figure(
                "Disabled",
                rows["total"] - rows["active"],
                changelist("accounts.user", is_active__exact=0),
                perm,
            ),
        ],
    )


def _active_tasks() -> Section:
    perm = "tasks.view_taskresource"
    counted = dict(
        TaskResource.objects.filter(
            kind="Task", is_active=True, status__in=statuses.ACTIVE | {statuses.CANCELLING}
        )
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    figures = [
        Figure(
            status.title(),
            counted.get(status, 0),
            changelist("tasks.taskresource", status__exact=status, kind__exact="Task", is_active__exact=1),
            perm,
        )
        for status in (statuses.RUNNING, statuses.PENDING, statuses.CANCELLING)
    ]
    return Section("Active tasks", figures)


def _streams_and_devices() -> Section:
    """Chat streams hold a lease on their answer (``worker_id`` ``chat:...``, ``heartbeat_at``
    renewed as they save), so the database says what every worker streams now; answers a
    device or the executor manager runs are RUNNING without a chat lease."""
    perm = "tasks.view_subtask"
    fresh = timezone.now() - dt.timedelta(seconds=settings.CHAT_STREAM_LEASE_SECONDS)
    running = {"status__exact": statuses.RUNNING, "role__exact": Subtask.ASSISTANT}
    chat = {**running, "worker_id__startswith": WORKER_PREFIX}
    live = {**chat, "heartbeat_at__gte": fresh.isoformat()}
    lapsed = {**chat, "heartbeat_at__lt": fresh.isoformat()}
    rows = Subtask.objects.filter(role=Subtask.ASSISTANT, status=statuses.RUNNING)
    # A device or the executor manager that took an answer names itself in executor_name.
    elsewhere = {**running, "executor_name__gt": ""}
    online, total = devices.online_count()
    return Section(
        "Streams and devices",
        [
            Figure(
                "Chat streams running now (all workers)",
                rows.filter(worker_id__startswith=WORKER_PREFIX, heartbeat_at__gte=fresh).count(),
                changelist("tasks.subtask", **live),
                perm,
            ),
            Figure(
                "Chat streams whose worker stopped renewing",
                rows.filter(worker_id__startswith=WORKER_PREFIX, heartbeat_at__lt=fresh).count(),
                changelist("tasks.subtask", **lapsed),
                perm,
            ),
            Figure(
                "Answers running on devices or executors",
                rows.filter(executor_name__gt="").count(),
                changelist("tasks.subtask", **elsewhere),
                perm,
            ),
            Figure(
                f"Devices online (of {total})",
                online,
                changelist("kinds.kind", kind__exact="Device"),
                "kinds.view_kind",
            ),
        ],
    )


def _failed_runs(now: dt.datetime) -> Section:
    since = (now - FAILED_WINDOW).isoformat()
    answers = Subtask.objects.filter(
        role=Subtask.ASSISTANT, status=statuses.FAILED, updated_at__gte=now - FAILED_WINDOW
    ).count()
    executions = BackgroundExecution.objects.filter(
        status="FAILED", updated_at__gte=now - FAILED_WINDOW
    ).count()
    return Section(
        "Failed in the last 24 h",
        [
            Figure(
                "Answers",
                answers,
                changelist(
                    "tasks.subtask",
                    status__exact=statuses.FAILED,
                    role__exact=Subtask.ASSISTANT,
                    updated_at__gte=since,
                ),
                "tasks.view_subtask",
            ),
            Figure(
                "Subscription runs",
                executions,
                changelist(
                    "subscriptions.backgroundexecution", status__exact="FAILED", updated_at__gte=since
                ),
                "subscriptions.view_backgroundexecution",
            ),
        ],
    )


def _beat_next(entry: PeriodicTask, now: dt.datetime) -> dt.datetime | None:
    """When beat runs a platform job next, from its schedule and last run (None: unknown)."""
    try:
        if entry.one_off and entry.total_run_count:
            return None
        remaining = entry.schedule.remaining_estimate(entry.last_run_at or now)
    except Exception:  # noqa: BLE001 - an odd schedule leaves the job out, never the page
        return None
    return max(now + remaining, now)


def _schedules(now: dt.datetime) -> Section:
    """The next fires of enabled subscriptions (from their beat entries) and of the platform's
    own periodic jobs, soonest first."""
    upcoming: list[tuple[dt.datetime, Figure]] = []
    rows = (
        Subscription.objects.filter(is_active=True, enabled=True, periodic_task__enabled=True)
        .select_related("periodic_task__crontab", "periodic_task__interval", "periodic_task__clocked")
        .order_by("id")[:SCHEDULES_READ]
    )
    for row in rows:
        when = schedules.next_fire_time(row, now)
        if when is not None and when >= now - dt.timedelta(minutes=1):
            url = reverse("admin:subscriptions_subscription_change", args=[row.pk])
            upcoming.append((when, Figure(str(row), _at(when), url, "subscriptions.view_subscription")))
    jobs = (
        PeriodicTask.objects.filter(enabled=True, subscription__isnull=True)
        .select_related("crontab", "interval", "clocked", "solar")
        .order_by("id")[:SCHEDULES_READ]
    )
    for entry in jobs:
        when = _beat_next(entry, now)
        if when is not None:
            url = reverse("admin:django_celery_beat_periodictask_change", args=[entry.pk])
            upcoming.append(
                (when, Figure(entry.name, _at(when), url, "django_celery_beat.view_periodictask"))
            )
    upcoming.sort(key=lambda pair: pair[0])
    figures = [figure for _, figure in upcoming[:SCHEDULES_SHOWN]]
    figures.append(
        Figure(
            "Enabled beat entries (all)",
            PeriodicTask.objects.filter(enabled=True).count(),
            changelist("django_celery_beat.periodictask", enabled__exact=1),
            "django_celery_beat.view_periodictask",
        )
    )
    return Section("Schedules due next", figures, note="" if upcoming else "Nothing is scheduled.")


def _at(when: dt.datetime) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d %H:%M %Z")


def dashboard(user: User, now: dt.datetime | None = None) -> list[Section]:
    """The sections and figures ``user`` may see (each figure needs its model's view permission)."""
    now = now or timezone.now()
    sections = [_users(), _active_tasks(), _streams_and_devices(), _failed_runs(now), _schedules(now)]
    shown = []
    for section in sections:
        section.figures = [figure for figure in section.figures if user.has_perm(figure.permission)]
        if section.figures:
            shown.append(section)
    return shown


# --- the task inspector ------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageView:
    row: Subtask
    bots: list[str]
    text: str
    live: bool
    tokens: dict[str, int] | None
    attachments: list[SubtaskContext]

    @property
    def duration(self) -> str:
        """How long the answer took (or has been running), e.g. ``"2.5 s"``."""
        if self.row.role != Subtask.ASSISTANT:
            return ""
        end = self.row.completed_at or (timezone.now() if self.live else None)
        if end is None:
            return ""
        return f"{max((end - self.row.created_at).total_seconds(), 0.0):.1f} s"


def _tokens(result: Any) -> dict[str, int] | None:
    usage = result.get("usage") if isinstance(result, dict) else None
    if not isinstance(usage, dict):
        return None
    return {key: int(value) for key, value in usage.items() if isinstance(value, int)}


def task_messages(task: TaskResource) -> list[MessageView]:
    """The task's messages in order, with their bots' names, text (live for a running answer),
    token usage (from the providers' usage reports stored with the answer) and attachments."""
    rows = list(Subtask.objects.filter(task=task).select_related("sender_user").order_by("message_id", "id"))
    bot_ids = {bot_id for row in rows for bot_id in (row.bot_ids or []) if isinstance(bot_id, int)}
    names = {pk: bot.name for pk, bot in kinds.rows_by_id("Bot", bot_ids).items()}
    contexts: dict[int, list[SubtaskContext]] = {}
    for context in SubtaskContext.objects.filter(subtask__task=task).order_by("id"):
        contexts.setdefault(context.subtask_id, []).append(context)
    views = []
    for row in rows:
        live = row.role == Subtask.ASSISTANT and row.status == statuses.RUNNING
        if row.role == Subtask.USER:
            text = row.prompt
        else:
            text = messages.live_text(row) if live else _saved_text(row)
        views.append(
            MessageView(
                row=row,
                bots=[
                    names.get(bot_id, f"#{bot_id}")
                    for bot_id in (row.bot_ids or [])
                    if isinstance(bot_id, int)
                ],
                text=text,
                live=live,
                tokens=_tokens(row.result),
                attachments=contexts.get(row.pk, []),
            )
        )
    return views


def _saved_text(row: Subtask) -> str:
    value = row.result.get("value") if isinstance(row.result, dict) else None
    return value if isinstance(value, str) else ""


def live_answers(task: TaskResource) -> list[dict[str, Any]]:
    """The task's answers as the inspector polls them: status and text so far (the stream's live
    text from the stream state every worker shares, else the saved text)."""
    rows = Subtask.objects.filter(task=task, role=Subtask.ASSISTANT).order_by("message_id", "id")
    found = []
    for row in rows:
        live = row.status == statuses.RUNNING
        text = messages.live_text(row) if live else _saved_text(row)
        found.append({"subtask_id": row.pk, "status": row.status, "text": text, "live": live})
    return found
