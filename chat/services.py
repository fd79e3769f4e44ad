"""The rules behind the ``/chat`` events. Synchronous (ORM); the namespace runs them in threads.

Each function takes the acting user and a validated payload and returns what the namespace
needs: the acknowledgement, events to emit, and an answer to start streaming.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accounts.exceptions import InvalidToken
from accounts.models import User
from accounts.services import auth as auth_service
from chat import config, protocol, stream_state
from chat.streams import WORKER_ID, Answer
from kinds.adapters import can_read_row, rows_by_id
from kinds.adapters.teams import TeamContext
from kinds.models import Kind
from tasks import documents, selectors, shapes, statuses
from tasks.models import Subtask, SubtaskContext, TaskResource
from tasks.services import lifecycle, turns
from wegent.errors import DomainError

ACCESS_DENIED = "Access denied"


@dataclass
class Emit:
    event: str
    payload: dict[str, Any]
    room: str
    skip_sender: bool = False


@dataclass
class Outcome:
    """An event's result: the ack, rooms to enter first, events to send, answers to stream."""

    ack: Any
    rooms: list[str] = field(default_factory=list)
    emits: list[Emit] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)


def failed(message: str) -> Outcome:
    return Outcome(ack=protocol.error(message))


# --- connecting ---------------------------------------------------------------------------------


def authenticate(token: Any) -> tuple[User, float | None]:
    """The user of a JWT and its expiry; ``InvalidToken`` otherwise."""
    import jwt

    if not isinstance(token, str) or not token:
        raise InvalidToken("Missing authentication token")
    raw = token.removeprefix("Bearer ").strip()
    user = auth_service.user_from_jwt(raw)
    claims = jwt.decode(raw, options={"verify_signature": False})
    exp = claims.get("exp")
    return user, float(exp) if isinstance(exp, int | float) else None


# --- reading ------------------------------------------------------------------------------------------


def _accessible(actor: User, task_id: Any) -> TaskResource | None:
    if not isinstance(task_id, int) or isinstance(task_id, bool) or not 0 < task_id <= protocol.MAX_ID:
        return None
    task = selectors.task_row(task_id)
    return task if task is not None and selectors.can_access(actor, task) else None


def _incremental(rows: list[Subtask]) -> list[dict[str, Any]]:
    """The short message shape of ``task:join`` with ``after_message_id``."""
    contexts = shapes.subtasks_in_db(rows)
    items = []
    for row, shown in zip(rows, contexts, strict=True):
        sender = row.sender_user if row.role == Subtask.USER else None
        items.append(
            {
                "id": row.pk,
                "message_id": row.message_id,
                "role": row.role,
                "prompt": row.prompt,
                "result": row.result,
                "status": row.status,
                "progress": row.progress,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "completed_at": row.completed_at,
                "contexts": shown["contexts"],
                "sender": {"user_id": sender.pk, "user_name": sender.user_name, "avatar": None}
                if sender is not None
                else None,
            }
        )
    return items


def streaming_info(task: TaskResource) -> dict[str, Any] | None:
    """``{subtask_id, offset, cached_content}`` of the task's running answer, if any."""
    live = stream_state.streaming(task.pk)
    if live is not None:
        text = stream_state.text(live["subtask_id"]) or ""
        return {"subtask_id": live["subtask_id"], "offset": len(text), "cached_content": text}
    running = (
        Subtask.objects.filter(task=task, role=Subtask.ASSISTANT, status=statuses.RUNNING)
        .order_by("-message_id")
        .first()
    )
    if running is None:
        return None
    value = running.result.get("value") if isinstance(running.result, dict) else None
    text = value if isinstance(value, str) else ""
    return {"subtask_id": running.pk, "offset": len(text), "cached_content": text}


def join_data(actor: User, task_id: int, after_message_id: int | None) -> dict[str, Any]:
    """The ``task:join`` ack, read after the socket entered the room (so nothing falls between)."""
    task = _accessible(actor, task_id)
    if task is None:
        return protocol.error(ACCESS_DENIED)
    rows = shapes.visible_subtasks(task, actor).exclude(status=statuses.DELETE)
    if after_message_id is None:
        subtasks = shapes.detail_subtasks(shapes.latest_messages(rows))
    else:
        subtasks = _incremental(list(rows.filter(message_id__gt=after_message_id).order_by("message_id")))
    return {"streaming": streaming_info(task), "subtasks": subtasks}


def can_join(actor: User, task_id: Any) -> bool:
    return _accessible(actor, task_id) is not None


def history_since(actor: User, payload: protocol.HistorySync) -> dict[str, Any]:
    task = _accessible(actor, payload.task_id)
    if task is None:
        return protocol.error(ACCESS_DENIED)
    rows = shapes.visible_subtasks(task, actor).filter(message_id__gt=payload.after_message_id)
    messages = []
    for row in rows.exclude(status=statuses.DELETE).order_by("message_id"):
        value = row.result.get("value") if isinstance(row.result, dict) else None
        messages.append(
            {
                "subtask_id": row.pk,
                "message_id": row.message_id,
                "role": row.role,
                "content": row.prompt if row.role == Subtask.USER else (value or ""),
                "status": row.status,
                "created_at": row.created_at,
            }
        )
    return {"messages": messages}


def resume_text(actor: User, payload: protocol.ChatResume) -> tuple[dict[str, Any], str | None]:
    """The ack of ``chat:resume`` and the text the client missed (None when nothing)."""
    task = _accessible(actor, payload.task_id)
    if task is None:
        return protocol.error(ACCESS_DENIED), None
    text = stream_state.text(payload.subtask_id)
    if text is None or not Subtask.objects.filter(pk=payload.subtask_id, task=task).exists():
        return {"success": True}, None
    return {"success": True}, text[payload.offset :] or None


# --- sending ----------------------------------------------------------------------------------------


def _mentions(team: Kind, message: str) -> bool:
    return f"@{team.name}" in message


def _task_type(payload: protocol.ChatSend) -> str:
    return payload.task_type or ("code" if payload.git_url else "chat")


def answer_for(
    task: TaskResource,
    answer: Subtask,
    requester: User,
    setup: config.ChatSetup,
    *,
    first_message: str | None = None,
) -> Answer:
    # A new conversation's history is its first message (no need to read it back).
    history = (
        [{"role": "user", "content": first_message}]
        if first_message is not None
        else selectors.history(task, before_message_id=answer.message_id)
    )
    return Answer(
        task_id=task.pk,
        subtask_id=answer.pk,
        message_id=answer.message_id,
        owner_id=task.owner_id,
        owner_name=task.owner.user_name,
        shell_type=setup.shell_type,
        bot_name=setup.bot.name,
        system_prompt=setup.system_prompt,
        messages=history,
        model=setup.model,
    )


def _message_event(task: TaskResource, row: Subtask, sender: User, *, with_contexts: bool = True) -> Emit:
    rows = SubtaskContext.objects.filter(subtask=row).order_by("id") if with_contexts else []
    contexts = [shapes.context_brief(c) for c in rows]
    payload = protocol.chat_message(
        task_id=task.pk,
        subtask_id=row.pk,
        message_id=row.message_id,
        content=row.prompt,
        sender_id=sender.pk,
        sender_name=sender.user_name,
        created_at=row.created_at.isoformat(),
        contexts=contexts,
    )
    return Emit(protocol.CHAT_MESSAGE, payload, f"task:{task.pk}", skip_sender=True)


def _prepare_answer(
    task: TaskResource,
    turn: turns.Turn,
    actor: User,
    payload: protocol.ChatSend,
    context: TeamContext | None = None,
    setup: config.ChatSetup | None = None,
) -> Outcome | Answer:
    """The answer to stream, or the failure ending it at once (bad model setup). ``setup``:
    already resolved (the model call may be under way with it)."""
    assert turn.assistant_subtask is not None
    try:
        setup = setup or config.resolve(
            task,
            turn.team,
            actor,
            model_name=payload.force_override_bot_model,
            model_type=payload.force_override_bot_model_type,
            context=context,
        )
    except DomainError as exc:
        message = str(exc.detail)
        lifecycle.update_subtask(
            turn.assistant_subtask.pk,
            lifecycle.SubtaskChanges(
                status=statuses.FAILED, error_message=message, result={"value": "", "error": message}
            ),
        )
        error = protocol.chat_error(
            task_id=task.pk,
            subtask_id=turn.assistant_subtask.pk,
            error_text=message,
            message_id=turn.assistant_subtask.message_id,
        )
        return Outcome(ack=None, emits=[Emit(protocol.CHAT_ERROR, error, f"task:{task.pk}")])
    simple = turn.created and not task.is_group_chat and not payload.all_attachment_ids()
    return answer_for(
        task, turn.assistant_subtask, actor, setup, first_message=payload.message if simple else None
    )


@dataclass
class SendPlan:
    """What ``chat:send`` found before writing anything (read-only)."""

    existing: TaskResource | None
    team: Kind
    context: TeamContext
    direct: bool
    with_answer: bool
    # The model call of a new conversation's first answer, known before the turn is written:
    # the namespace opens the model stream while the turn is stored (see Runner.start_early).
    early_setup: config.ChatSetup | None = None


def plan_send(actor: User, payload: protocol.ChatSend, *, accepting: bool = True) -> SendPlan | Outcome:
    """``chat:send``'s checks and lookups; a failed Outcome when the message is refused."""
    planned = plan_sends([(actor, payload)], accepting=accepting)[0]
    if isinstance(planned, BaseException):
        raise planned
    return planned


def plan_sends(
    requests: list[tuple[User, protocol.ChatSend]], *, accepting: bool = True
) -> list[SendPlan | Outcome | Exception]:
    """``plan_send`` for many messages at once: their new conversations' teams, the teams' bots
    and the bots' components are read in three queries in all, not three each.

    One entry per request, in order; an unexpected error in one request's own checks is its
    entry, so it fails that message only.
    """
    checked = [_checked(actor, payload) for actor, payload in requests]
    wanted = {
        payload.team_id
        for (_, payload), found in zip(requests, checked, strict=True)
        if found is None and payload.task_id is None
    }
    teams = rows_by_id("Team", wanted)
    resolved: list[Found | Outcome | Exception] = []
    for (actor, payload), found in zip(requests, checked, strict=True):
        if found is not None:
            resolved.append(found)
            continue
        try:
            resolved.append(_team_of_send(actor, payload, teams))
        except Exception as exc:  # noqa: BLE001 - one message's fault is its own ack
            resolved.append(exc)
    # Loaded once for the shell checks, the turns and the models of every message here.
    context = TeamContext(
        list({found[1].pk: found[1] for found in resolved if isinstance(found, tuple)}.values())
    )
    plans: list[SendPlan | Outcome | Exception] = []
    for (actor, payload), found in zip(requests, resolved, strict=True):
        try:
            plans.append(_finish_plan(actor, payload, found, context, accepting))
        except Exception as exc:  # noqa: BLE001 - as above
            plans.append(exc)
    return plans


def _checked(actor: User, payload: protocol.ChatSend) -> Outcome | Exception | None:
    """The refusal of a message that fails before its team is looked at (None: it passed)."""
    try:
        if not payload.message.strip():
            return failed("Message cannot be empty")
        turns.check_prompt(payload.message)  # before any model call starts with it
    except DomainError as exc:
        return failed(str(exc.detail))
    except Exception as exc:  # noqa: BLE001 - one message's fault is its own ack
        return exc
    return None


Found = tuple[TaskResource | None, Kind]  # a message's task (None: a new one) and its team


def _team_of_send(actor: User, payload: protocol.ChatSend, teams: dict[int, Kind]) -> Found | Outcome:
    """The message's task and the team it talks to."""
    existing = _accessible(actor, payload.task_id) if payload.task_id is not None else None
    if payload.task_id is not None and existing is None:
        return failed(ACCESS_DENIED)
    # A follow-up talks to the task's team (as its owner sees it: members of a group chat need
    # not be able to read the owner's team themselves).
    if existing is not None:
        team = turns.team_of(existing)
    else:
        team = teams.get(payload.team_id)
        team = team if team is not None and can_read_row(actor, team) else None
    if team is None:
        return failed("Team not found")
    return existing, team


def _finish_plan(
    actor: User,
    payload: protocol.ChatSend,
    found: Found | Outcome | Exception,
    context: TeamContext,
    accepting: bool,
) -> SendPlan | Outcome | Exception:
    if not isinstance(found, tuple):
        return found
    existing, team = found
    is_group = existing.is_group_chat if existing is not None else payload.is_group_chat
    direct = config.supports_direct_chat(team, context)
    with_answer = (not is_group or _mentions(team, payload.message)) and direct
    if with_answer and not accepting:
        return failed("Server is shutting down")
    plan = SendPlan(existing=existing, team=team, context=context, direct=direct, with_answer=with_answer)
    if with_answer and _first_message_only(payload):
        try:
            plan.early_setup = config.resolve(
                None,
                team,
                actor,
                model_name=payload.force_override_bot_model,
                model_type=payload.force_override_bot_model_type,
                context=context,
            )
        except DomainError:
            pass  # the answer fails after the turn is stored, as without an early start
    return plan


def _first_message_only(payload: protocol.ChatSend) -> bool:
    """A new one-to-one conversation without attachments: its answer's history is the message."""
    return payload.task_id is None and not payload.is_group_chat and not payload.all_attachment_ids()


def send(
    actor: User, payload: protocol.ChatSend, *, accepting: bool = True, plan: SendPlan | None = None
) -> Outcome:
    """``chat:send``: store the message, then (for direct chat) an answer to stream.

    ``plan``: the result of ``plan_send`` for this payload, when the caller already has it.
    """
    if plan is None:
        planned = plan_send(actor, payload, accepting=accepting)
        if isinstance(planned, Outcome):
            return planned
        plan = planned
    team, context, direct, with_answer = plan.team, plan.context, plan.direct, plan.with_answer
    options = turns.TurnOptions(
        prompt=payload.message,
        title=payload.title,
        team_id=team.pk,
        git_url=payload.git_url,
        git_repo=payload.git_repo,
        git_repo_id=payload.git_repo_id,
        git_domain=payload.git_domain,
        branch_name=payload.branch_name,
        type="offline" if _task_type(payload) == "code" else "online",
        task_type=_task_type(payload),
        source="chat_shell" if direct else "web",
        model_id=payload.force_override_bot_model,
        force_override_bot_model=bool(payload.force_override_bot_model),
        force_override_bot_model_type=payload.force_override_bot_model_type,
        additional_skills=[skill.model_dump() for skill in payload.additional_skills or []],
        is_group_chat=payload.is_group_chat,
        device_id=payload.device_id,
        attachment_ids=payload.all_attachment_ids(),
        with_answer=with_answer or not direct,
        path=turns.CHAT if direct else turns.EXECUTOR,
        team=team,
        team_context=context,
        claim_by=WORKER_ID if direct and with_answer else None,
    )
    try:
        turn = turns.start_turn(actor=actor, task_id=payload.task_id, options=options)
    except DomainError as exc:
        return failed(str(exc.detail))
    task = turn.task
    if task.labels.get("type") == "subscription" and task.labels.get("userInteracted") != "true":
        task.document = documents.with_labels(task.document, {"userInteracted": "true"})
        task.save(update_fields=["document", "updated_at"])
    created = protocol.task_created(
        task_id=task.pk,
        title=task.spec.get("title") or "",
        team_id=team.pk,
        team_name=team.name,
        is_group_chat=task.is_group_chat,
    )
    outcome = Outcome(
        ack={
            "task_id": task.pk,
            "subtask_id": turn.user_subtask.pk,
            "message_id": turn.user_subtask.message_id,
        },
        rooms=[f"task:{task.pk}"],
        emits=[
            Emit(protocol.TASK_CREATED, created, f"user:{actor.pk}"),
            _message_event(task, turn.user_subtask, actor, with_contexts=bool(options.attachment_ids)),
        ],
    )
    if direct and turn.assistant_subtask is not None:
        prepared = _prepare_answer(task, turn, actor, payload, context, plan.early_setup)
        if isinstance(prepared, Outcome):
            outcome.emits += prepared.emits
        else:
            prepared.claimed = True  # in the turn (options.claim_by)
            outcome.answers.append(prepared)
    return outcome


def claim(answer: Answer) -> bool:
    """This worker takes the answer (PENDING -> RUNNING) before its stream starts."""
    answer.claimed = lifecycle.claim_subtask(answer.subtask_id, WORKER_ID)
    return answer.claimed


# --- cancel and retry ------------------------------------------------------------------------------


def cancellable_answer(actor: User, payload: protocol.ChatCancel) -> Subtask | dict[str, str]:
    """The answer ``chat:cancel`` may stop, or the reference's error ack."""
    row = Subtask.objects.filter(pk=payload.subtask_id).select_related("task").first()
    if row is None or not row.task.is_active or not selectors.can_access(actor, row.task):
        return protocol.error("Subtask not found")
    if row.status not in statuses.ACTIVE:
        return protocol.error(f"Cannot cancel subtask in {row.status} state")
    return row


def end_unclaimed(row: Subtask) -> bool:
    """Ends an answer no stream has claimed yet (PENDING) or whose stream died; True if done."""
    if row.status == statuses.PENDING:
        try:
            lifecycle.update_subtask(
                row.pk, lifecycle.SubtaskChanges(status=statuses.CANCELLED, progress=100)
            )
        except DomainError:
            return False
        return True
    return False


def retry(actor: User, payload: protocol.ChatRetry, *, accepting: bool = True) -> Outcome:
    """``chat:retry``: the failed answer is reset in place and streamed again."""
    task = _accessible(actor, payload.task_id)
    if task is None:
        return failed("Task not found")
    answer = Subtask.objects.filter(pk=payload.subtask_id, task=task, role=Subtask.ASSISTANT).first()
    if answer is None:
        return failed("AI subtask not found")
    if not Subtask.objects.filter(task=task, role=Subtask.USER, message_id=answer.parent_id).exists():
        return failed("User message not found")
    team = turns.team_of(task)
    if team is None:
        return failed("Team not found")
    if not accepting:
        return failed("Server is shutting down")
    try:
        lifecycle.update_subtask(
            answer.pk, lifecycle.SubtaskChanges(status=statuses.PENDING, progress=0, error_message="")
        )
    except DomainError as exc:
        return failed(str(exc.detail))
    Subtask.objects.filter(pk=answer.pk).update(result=None, completed_at=None)
    answer.refresh_from_db()
    model_name = payload.force_override_bot_model if payload.use_model_override else None
    model_type = payload.force_override_bot_model_type if payload.use_model_override else None
    try:
        setup = config.resolve(task, team, actor, model_name=model_name, model_type=model_type)
    except DomainError as exc:
        lifecycle.update_subtask(
            answer.pk, lifecycle.SubtaskChanges(status=statuses.FAILED, error_message=str(exc.detail))
        )
        return failed(str(exc.detail))
    task.refresh_from_db()
    prepared = answer_for(task, answer, actor, setup)
    answers = [prepared] if claim(prepared) else []
    return Outcome(ack={"success": True}, rooms=[f"task:{task.pk}"], answers=answers)


# --- answers whose worker died -----------------------------------------------------------------------


def interrupted_answers(lease_seconds: int, worker_prefix: str) -> list[dict[str, Any]]:
    """Fails RUNNING answers whose stream's lease ran out, keeping their partial text; returns
    the ``chat:error`` payloads to send."""
    ended = []
    for row in lifecycle.stale_answers(lease_seconds=lease_seconds, worker_prefix=worker_prefix):
        stored = row.result.get("value") if isinstance(row.result, dict) else None
        live = stream_state.text(row.pk)
        text = max((t for t in (stored, live) if isinstance(t, str)), key=len, default="")
        message = "The answer was interrupted because the server producing it stopped"
        try:
            lifecycle.update_subtask(
                row.pk,
                lifecycle.SubtaskChanges(
                    status=statuses.FAILED, error_message=message, result={"value": text, "error": message}
                ),
            )
        except DomainError:
            continue
        ended.append(
            protocol.chat_error(
                task_id=row.task_id, subtask_id=row.pk, error_text=message, message_id=row.message_id
            )
        )
    return ended


# --- task status events ------------------------------------------------------------------------------


def status_recipients(task: TaskResource) -> list[int]:
    """Who hears about a task's status: the owner, and the members of a group chat."""
    recipients = [task.owner_id]
    if task.is_group_chat:
        recipients += list(selectors.approved_members(task.pk).values_list("user_id", flat=True))
    return list(dict.fromkeys(recipients))


def status_payload(task: TaskResource) -> dict[str, Any]:
    state = task.state
    return protocol.task_status(
        task_id=task.pk,
        status=task.status,
        progress=state.get("progress"),
        completed_at=state.get("completedAt"),
    )
