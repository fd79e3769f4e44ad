"""Starting work on a task: reserving ids, creating a task, appending a turn (messages).

Two callers start turns: the legacy REST route ``POST /api/tasks/{id}`` (executor path) and
the chat service (``chat:send``, direct chat). Both go through ``start_turn``; the ``path``
option picks the reference's row titles for each.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from kinds import selectors as kind_selectors
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.specs.team import TeamView
from tasks import documents, selectors, statuses
from tasks.exceptions import PromptTooLong, TaskBusy, TaskNotFound, TeamNotFound
from tasks.models import PLACEHOLDER, PLACEHOLDER_NAME, TASK, WORKSPACE, Subtask, SubtaskContext, TaskResource
from tasks.services import events
from wegent.errors import BadRequest
from wegent.hooks import Hook

MAX_PROMPT_BYTES = 60000
TITLE_CHARS = 50
EXECUTOR, CHAT = "executor", "chat"
PIPELINE, ROUTE, COORDINATE = "pipeline", "route", "coordinate"


@dataclass
class TurnOptions:
    """What a caller asks for; the defaults are the reference's ``TaskCreate`` defaults."""

    prompt: str
    title: str | None = None
    team_id: int | None = None
    team_name: str | None = None
    team_namespace: str = DEFAULT_NAMESPACE
    git_url: str = ""
    git_repo: str = ""
    git_repo_id: int = 0
    git_domain: str = ""
    branch_name: str = ""
    type: str = "online"
    task_type: str = "chat"
    auto_delete_executor: str = "false"
    source: str = "web"
    model_id: str | None = None
    force_override_bot_model: bool = False
    force_override_bot_model_type: str | None = None
    api_key_name: str | None = None
    # Labelled ``is_api_call`` (``/api/v1/responses``); source "api" always is.
    api_call: bool = False
    additional_skills: list[dict[str, Any]] = field(default_factory=list)
    is_group_chat: bool = False
    device_id: str | None = None
    attachment_ids: list[int] = field(default_factory=list)
    # The team and its loaded members when the caller already has them (saves queries): the
    # caller has checked the actor may use it.
    team: Kind | None = None
    team_context: kind_selectors.TeamContext | None = None
    # False for a group-chat message that does not address the team: stored, no answer.
    with_answer: bool = True
    path: Literal["executor", "chat"] = EXECUTOR
    # A chat worker that streams the answer itself takes it inside the turn (RUNNING under its
    # lease, task RUNNING): the separate claim cost seven more queries per message.
    claim_by: str | None = None

    @property
    def claimed(self) -> bool:
        return self.claim_by is not None and self.with_answer


@dataclass
class Turn:
    task: TaskResource
    team: Kind
    user_subtask: Subtask
    assistant_subtask: Subtask | None
    created: bool


def check_prompt(prompt: str) -> None:
    if len(prompt.encode("utf-8")) > MAX_PROMPT_BYTES:
        raise PromptTooLong()


def default_title(prompt: str) -> str:
    return prompt[:TITLE_CHARS] + ("..." if len(prompt) > TITLE_CHARS else "")


# --- ids ---------------------------------------------------------------------------------------


def reserve_task_id(actor: User) -> int:
    """The caller's unused reserved id, or a new one (an inactive placeholder row).

    Placeholders are never active and never of kind Task, so no list or lookup sees them.
    """
    existing = (
        TaskResource.objects.filter(owner=actor, kind=PLACEHOLDER)
        .order_by("id")
        .values_list("pk", flat=True)
        .first()
    )
    if existing is not None:
        return existing
    return _new_placeholder(actor).pk


def _new_placeholder(actor: User) -> TaskResource:
    return TaskResource.objects.create(owner=actor, kind=PLACEHOLDER, name=PLACEHOLDER_NAME, is_active=False)


# --- teams and bots ------------------------------------------------------------------------------


def team_for_new_task(actor: User, options: TurnOptions) -> Kind:
    """The team by id (own, group, public) or by name and namespace; 404 otherwise."""
    team: Kind | None = None
    if options.team_id is not None:
        team = kind_selectors.readable_row(actor, "Team", options.team_id)
    elif options.team_name:
        team = kind_selectors.resolve(
            actor, "Team", options.team_name, options.team_namespace or DEFAULT_NAMESPACE
        )
    if team is None:
        raise TeamNotFound()
    if team.deactivated:  # existing tasks keep their team; a new one may not choose it
        raise BadRequest(f"Public Team '{team.name}' is deactivated and cannot be chosen")
    return team


# A task may run a team its owner cannot see themselves: a rented subscription's run uses its
# publisher's team. resolver(task) -> that team, from the server's own records (never from what
# the task's document says), or None; asked only when the owner's view finds no team.
team_resolvers: Hook[Callable[[TaskResource], Kind | None]] = Hook(
    "tasks.team_resolvers", "the team a task runs when its owner cannot see it (a rental's run); first wins"
)


def team_of(task: TaskResource) -> Kind | None:
    """The task's team as its owner sees it (own, group, public), else as a resolver knows it."""
    ref = task.spec.get("teamRef")
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
        return None
    found = kind_selectors.resolve(task.owner, "Team", ref["name"], ref.get("namespace") or DEFAULT_NAMESPACE)
    if found is not None:
        return found
    for resolver in team_resolvers:
        found = resolver(task)
        if found is not None:
            return found
    return None


def team_bots(team: Kind, context: kind_selectors.TeamContext | None = None) -> list[Kind]:
    """The bots of the team's members that resolve; 400 when there are none."""
    bots = [bot for _, bot in (context or kind_selectors.TeamContext([team])).members(team)]
    if not bots:
        raise BadRequest("No valid bots found in team")
    return bots


def answering_bots(team: Kind, bots: list[Kind], *, chat: bool = False) -> list[Kind]:
    """A pipeline answers stage by stage, so a new turn starts with the first stage's bot. In
    direct chat every member's answer is its own message (chat/services/teams.py): the first
    one is the first member's, except that a routing team's leader has not chosen yet (all
    bots) and a coordinating team's first answer is its leader's."""
    mode = TeamView.of(team.spec).collaboration_model
    if mode == PIPELINE or (chat and mode not in (ROUTE, COORDINATE)):
        return bots[:1]
    if chat and mode == COORDINATE:
        return [leader_bot(team, bots)]
    return bots


def leader_bot(team: Kind, bots: list[Kind]) -> Kind:
    """The first member whose role is ``leader`` (``bots``: the members' resolved bots)."""
    names = [m.bot_name for m in TeamView.of(team.spec).members if m.role == "leader"]
    return next((bot for bot in bots if bot.name in names), bots[0])


# --- the turn ------------------------------------------------------------------------------------


def start_turn(*, actor: User, task_id: int | None, options: TurnOptions) -> Turn:
    """Creates the task (``task_id`` None or a reserved id) or appends a turn to it.

    Concurrency: the task row is locked for the whole turn, so of two racing appends the second
    sees the first one's unanswered message and is refused; message numbers are also unique
    per task in the database.
    """
    check_prompt(options.prompt)
    try:
        with transaction.atomic():
            turn = _start_turn_locked(actor=actor, task_id=task_id, options=options)
    except IntegrityError as exc:
        # Only a concurrent turn on the same task can collide on message numbers.
        raise TaskBusy() from exc
    events.task_changed(turn.task)
    return turn


def _start_turn_locked(*, actor: User, task_id: int | None, options: TurnOptions) -> Turn:
    row = _locked_target(actor, task_id)
    if row is None or row.kind == PLACEHOLDER:
        team = options.team or team_for_new_task(actor, options)
        bots = team_bots(team, options.team_context)
        task = _create_task(actor, row, team, options)
        created = True
    else:
        task = row
        _check_appendable(task, options)
        team = options.team or team_of(task)
        if team is None:
            raise TeamNotFound()
        bots = team_bots(team, options.team_context if options.team is team else None)
        task = _reopen(task, options)
        created = False
    user_row, answer_row = add_messages(actor, task, team, bots, options, first=created)
    link_attachments(actor, user_row, options.attachment_ids)
    return Turn(task=task, team=team, user_subtask=user_row, assistant_subtask=answer_row, created=created)


def _locked_target(actor: User, task_id: int | None) -> TaskResource | None:
    """The placeholder or task to use, locked; None to allocate a new id."""
    if task_id is None:
        return None
    invalid = BadRequest(f"Invalid task_id: {task_id} does not exist in session")
    if not 0 < task_id <= selectors.MAX_ID:
        raise invalid
    row = TaskResource.objects.select_for_update().filter(pk=task_id).first()
    if row is None:
        raise invalid
    if row.kind == PLACEHOLDER:
        if row.owner_id != actor.pk:
            raise invalid
        return row
    if row.kind != TASK:
        raise invalid
    if not row.is_active or row.status == statuses.DELETE:
        raise BadRequest("Task has been deleted, please create a new task")
    if not selectors.can_access(actor, row):
        raise invalid
    return row


def _labels(options: TurnOptions) -> dict[str, str]:
    labels = {
        "type": options.type,
        "taskType": options.task_type,
        "autoDeleteExecutor": options.auto_delete_executor,
        "source": options.source,
    }
    if options.source == "api" or options.api_call:
        labels["is_api_call"] = "true"
    if options.api_key_name:
        labels["api_key_name"] = options.api_key_name
    labels.update(_model_labels(options))
    if options.additional_skills:
        names = [s.get("name") for s in options.additional_skills if isinstance(s, dict) and s.get("name")]
        labels["additionalSkills"] = json.dumps(names)
    return labels


def _model_labels(options: TurnOptions) -> dict[str, str]:
    if not options.model_id:
        return {}
    labels = {"modelId": options.model_id}
    if options.force_override_bot_model:
        labels["forceOverrideBotModel"] = "true"
        if options.force_override_bot_model_type:
            labels["forceOverrideBotModelType"] = options.force_override_bot_model_type
    return labels


def _create_task(
    actor: User, placeholder: TaskResource | None, team: Kind, options: TurnOptions
) -> TaskResource:
    task = placeholder if placeholder is not None else _new_placeholder(actor)
    workspace_name = f"workspace-{task.pk}"
    TaskResource.objects.create(
        owner=actor,
        kind=WORKSPACE,
        name=workspace_name,
        document=documents.workspace_document(
            workspace_name,
            git_url=options.git_url,
            git_repo=options.git_repo,
            git_repo_id=options.git_repo_id,
            git_domain=options.git_domain,
            branch_name=options.branch_name,
        ),
    )
    name = f"task-{task.pk}"
    task.kind, task.name, task.is_active = TASK, name, True
    task.document = documents.task_document(
        name,
        title=options.title or default_title(options.prompt),
        prompt=options.prompt,
        team_ref={"name": team.name, "namespace": team.namespace, "user_id": team.user_id_or_zero},
        workspace_name=workspace_name,
        labels=_labels(options),
        is_group_chat=options.is_group_chat,
        now=timezone.now(),
        device_id=options.device_id,
    )
    if options.claimed:
        task.document = documents.changed(task.document, status=statuses.RUNNING)
    task.save()
    return task


def _expiry_hours(task: TaskResource) -> int:
    if task.labels.get("taskType") == "code" or task.labels.get("type") == "offline":
        return settings.APPEND_CODE_TASK_EXPIRE_HOURS
    return settings.APPEND_CHAT_TASK_EXPIRE_HOURS


def _check_appendable(task: TaskResource, options: TurnOptions) -> None:
    status = task.status
    if status in (statuses.RUNNING, statuses.CANCELLING) or selectors.has_active_answer(task):
        raise TaskBusy()
    if options.path == CHAT:
        return
    if status not in statuses.APPENDABLE:
        raise BadRequest("Task is in progress, please wait for it to complete")
    if task.labels.get("autoDeleteExecutor") == "true":
        raise BadRequest("task already clear, please create a new task")
    if task.labels.get("source") != "chat_shell":
        hours = _expiry_hours(task)
        if hours > 0 and task.updated_at < timezone.now() - dt.timedelta(hours=hours):
            kind = task.labels.get("taskType") or "chat"
            raise BadRequest(f"{kind} task has expired, please create a new task")


def _reopen(task: TaskResource, options: TurnOptions) -> TaskResource:
    """A new turn: the task is back to PENDING with the new prompt (and any new model choice).

    A group-chat message that asks for no answer only touches the task's update time.
    """
    stamp = documents.iso(timezone.now())
    if options.with_answer:
        # A follow-up sent to a device binds the task to it before anything may take the answer
        # (push mode takes a new executor answer as the turn commits, unless a device has it).
        device = {"device_id": options.device_id} if options.device_id else {}
        document = documents.changed(
            task.document,
            spec={"prompt": options.prompt, **device},
            status=statuses.RUNNING if options.claimed else statuses.PENDING,
            progress=0,
            errorMessage=None,
            updatedAt=stamp,
            completedAt=None,
        )
        document = documents.with_labels(document, dict(_model_labels(options)))
    else:
        document = documents.changed(task.document, updatedAt=stamp)
    task.document = document
    task.save(update_fields=["document", "updated_at"])
    return task


def mark_user_interacted(*, actor: User, task: TaskResource) -> None:
    """``actor`` wrote in a subscription's task: from now on it shows in their task lists
    (``listed``). Other tasks, and tasks already marked, are left as they are."""
    labels = task.labels
    if labels.get("type") != "subscription" or labels.get("userInteracted") == "true":
        return
    if not selectors.can_access(actor, task):
        raise TaskNotFound()
    task.document = documents.with_labels(task.document, {"userInteracted": "true"})
    task.save(update_fields=["document", "updated_at"])


def add_messages(
    actor: User,
    task: TaskResource,
    team: Kind,
    bots: list[Kind],
    options: TurnOptions,
    *,
    first: bool = False,
) -> tuple[Subtask, Subtask | None]:
    """The user's message and (unless none is wanted) the answer to it; ``first``: the task
    was created in this turn and has no messages yet."""
    last = 0 if first else selectors.last_message_id(task)
    chat = options.path == CHAT
    title = task.spec.get("title") or ""
    user_row = Subtask.objects.create(
        task=task,
        user_id=task.owner_id,
        team_id=team.pk,
        title="User message" if chat else f"{title} - User",
        bot_ids=[bot.pk for bot in bots],
        role=Subtask.USER,
        prompt=options.prompt,
        message_id=last + 1,
        parent_id=last,
        status=statuses.COMPLETED,
        progress=100 if chat else 0,
        completed_at=timezone.now(),
        sender_type="USER",
        sender_user=actor,
    )
    if not options.with_answer:
        return user_row, None
    previous = selectors.latest_answer(task) if not chat and not first else None
    claim = {"worker_id": options.claim_by[:64], "heartbeat_at": timezone.now()} if options.claim_by else {}
    answer_row = Subtask.objects.create(
        task=task,
        user_id=task.owner_id,
        team_id=team.pk,
        title="Assistant response" if chat else f"{title} - Assistant",
        bot_ids=[bot.pk for bot in answering_bots(team, bots, chat=chat)],
        role=Subtask.ASSISTANT,
        prompt="",
        message_id=last + 2,
        parent_id=last + 1,
        status=statuses.RUNNING if claim else statuses.PENDING,
        progress=0,
        sender_type="TEAM",
        **claim,
        executor_namespace=previous.executor_namespace if previous is not None else "",
        executor_name=previous.executor_name if previous is not None else "",
    )
    return user_row, answer_row


def link_attachments(actor: User, user_row: Subtask, attachment_ids: Iterable[int]) -> None:
    """Attaches the caller's unlinked uploads to the message; any other id is refused."""
    wanted = list(dict.fromkeys(attachment_ids))
    if not wanted:
        return
    linked = SubtaskContext.objects.filter(
        pk__in=[i for i in wanted if 0 < i <= selectors.MAX_ID],
        user=actor,
        subtask__isnull=True,
        context_type=SubtaskContext.ATTACHMENT,
    ).update(subtask=user_row)
    if linked != len(wanted):
        raise BadRequest("Attachment not found or already linked to a message")


def add_team_answer(
    task: TaskResource,
    team: Kind,
    bot: Kind,
    *,
    parent_id: int,
    prompt: str = "",
    reply_to: int = 0,
    claim_by: str | None = None,
) -> Subtask:
    """A further answer in the current turn of a multi-bot team (the next pipeline stage or
    collaborator, a member a coordinating leader asks: ``reply_to`` its answer), after every
    message so far; claimed by ``claim_by`` (RUNNING) when given, else PENDING.

    The task row is locked while the number is taken, so two answers never get the same one."""
    with transaction.atomic():
        TaskResource.objects.select_for_update().filter(pk=task.pk).first()
        last = selectors.last_message_id(task)
        claim = {"worker_id": claim_by[:64], "heartbeat_at": timezone.now()} if claim_by else {}
        return Subtask.objects.create(
            task=task,
            user_id=task.owner_id,
            team_id=team.pk,
            title="Assistant response",
            bot_ids=[bot.pk],
            role=Subtask.ASSISTANT,
            prompt=prompt,
            message_id=last + 1,
            parent_id=parent_id,
            status=statuses.RUNNING if claim else statuses.PENDING,
            progress=0,
            sender_type="TEAM",
            reply_to_subtask_id=reply_to,
            **claim,
        )
