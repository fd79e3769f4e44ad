"""``chat:send``: the checks and lookups of many messages at once (``plan_sends``), storing a
message, and the answer to stream with it."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from chat import config, executors, history, protocol
from chat.services import teams
from chat.services.outcome import ACCESS_DENIED, Emit, Outcome, failed, over_quota, visible_task
from chat.streams import WORKER_ID, Answer
from chat.tools import web_search as web_search_tool
from kinds import access
from kinds import selectors as kind_selectors
from kinds.models import Kind
from kinds.selectors import TeamContext
from quotas import services as quotas
from quotas.exceptions import QuotaExceeded
from tasks import selectors, shapes, statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle, task_knowledge, turns
from wegent import telemetry
from wegent.errors import DomainError
from wegent.realtime.rooms import task_room, user_room


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
    sender: User | None = None,
    attachment_ids: list[int] | None = None,
    additional_skills: list[str] | None = None,
    web_search: bool = False,
    search_engine: str | None = None,
    knowledge_base_ids: tuple[int, ...] = (),
    document_scopes: tuple[protocol.DocumentScope, ...] = (),
) -> Answer:
    # A new conversation's history is its first message (no need to read it back).
    messages = (
        [{"role": "user", "content": first_message}]
        if first_message is not None
        else history.history(task, before_message_id=answer.message_id)
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
        messages=messages,
        model=setup.model,
        ghost=setup.ghost,
        sender_id=(sender or requester).pk,
        sender_name=(sender or requester).user_name,
        team_name=setup.team.name,
        team_namespace=setup.team.namespace,
        attachment_ids=tuple(attachment_ids or ()),
        additional_skills=tuple(additional_skills or ()),
        web_search=web_search,
        search_engine=search_engine or "",
        knowledge_base_ids=knowledge_base_ids,
        bound_knowledge_base_ids=task_knowledge.bound_ids(task),
        document_scopes=document_scopes,
    )


def _message_event(task: TaskResource, row: Subtask, sender: User, *, with_contexts: bool = True) -> Emit:
    rows = selectors.contexts_by_message([row.pk]).get(row.pk, []) if with_contexts else []
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
    return Emit(protocol.CHAT_MESSAGE, payload, task_room(task.pk), skip_sender=True)


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
    context = context or TeamContext([turn.team])
    try:
        setup = setup or config.resolve(
            task,
            turn.team,
            actor,
            model_name=payload.force_override_bot_model,
            model_type=payload.force_override_bot_model_type,
            context=context,
            member_index=teams.first_member(turn.team, context),
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
        return Outcome(ack=None, emits=[Emit(protocol.CHAT_ERROR, error, task_room(task.pk))])
    simple = turn.created and not task.is_group_chat and not payload.all_attachment_ids()
    answer = answer_for(
        task,
        turn.assistant_subtask,
        actor,
        setup,
        first_message=payload.message if simple else None,
        attachment_ids=payload.all_attachment_ids(),
        additional_skills=[skill.name for skill in payload.additional_skills or []],
        web_search=payload.enable_web_search,
        search_engine=payload.search_engine,
        knowledge_base_ids=payload.knowledge_base_ids(),
        document_scopes=payload.document_scopes(),
    )
    return teams.conduct(
        answer,
        task,
        turn.team,
        context,
        actor,
        user_message_id=turn.user_subtask.message_id,
        model_name=payload.force_override_bot_model,
        model_type=payload.force_override_bot_model_type,
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
    teams = kind_selectors.rows_by_id("Team", wanted)
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
    existing = visible_task(actor, payload.task_id) if payload.task_id is not None else None
    if payload.task_id is not None and existing is None:
        return failed(ACCESS_DENIED)
    # A follow-up talks to the task's team (as its owner sees it: members of a group chat need
    # not be able to read the owner's team themselves).
    if existing is not None:
        team = turns.team_of(existing)
    else:
        team = teams.get(payload.team_id)
        team = team if team is not None and kind_selectors.can(actor, team, access.READ) else None
        if team is not None and team.deactivated:  # a new chat may not choose it
            return failed(f"Public Team '{team.name}' is deactivated and cannot be chosen")
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
    if with_answer or not direct:  # an executor team's turn always gets an answer (``send``)
        # Before anything is written or the model stream opens; the conversation's owner pays.
        try:
            quotas.check(existing.owner_id if existing is not None else actor.pk)
        except QuotaExceeded as exc:
            return over_quota(exc)
    plan = SendPlan(existing=existing, team=team, context=context, direct=direct, with_answer=with_answer)
    if with_answer and _first_message_only(payload) and teams.opens_early(team, context):
        try:
            early_setup = config.resolve(
                None,
                team,
                actor,
                model_name=payload.force_override_bot_model,
                model_type=payload.force_override_bot_model_type,
                context=context,
            )
            # The model stream opens before the turn is stored only when it will need no tools
            # (a tool turn's first call must declare them).
            searching = payload.enable_web_search and web_search_tool.enabled()
            asks = bool(payload.additional_skills) or searching or bool(payload.knowledge_base_ids())
            if not early_setup.may_use_tools(asks):
                plan.early_setup = early_setup
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
        gates_passed=True,  # the plan checked the quotas
    )
    try:
        turn = turns.start_turn(actor=actor, task_id=payload.task_id, options=options)
    except DomainError as exc:
        return failed(str(exc.detail))
    task = turn.task
    turns.mark_user_interacted(actor=actor, task=task)
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
        rooms=[task_room(task.pk)],
        emits=[
            Emit(protocol.TASK_CREATED, created, user_room(actor.pk)),
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
    elif turn.assistant_subtask is not None:  # an executor team: its device or executor runs it
        executor_turn = executors.ExecutorTurn(actor, task, turn.assistant_subtask, team, payload.device_id)
        # Telemetry: the device's or executor's reports on this answer join this turn's trace.
        telemetry.remember(turn.assistant_subtask.pk)
        outcome.emits += executors.dispatch(executor_turn)
    return outcome


def claim(answer: Answer) -> bool:
    """This worker takes the answer (PENDING -> RUNNING) before its stream starts."""
    answer.claimed = lifecycle.claim_subtask(answer.subtask_id, WORKER_ID)
    return answer.claimed
