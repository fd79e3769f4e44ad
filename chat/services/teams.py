"""Multi-bot teams in direct chat: how a Team's members answer one message, by its
``collaborationModel``, when all of them run on the Chat shell.

- ``pipeline``: members answer in order, each stage reading the previous stage's output; a stage
  whose member has ``requireConfirmation`` (and a stage after it) ends PENDING_CONFIRMATION and
  the task waits for ``POST /tasks/{id}/confirm-stage``, whose confirmed text the next stage reads.
- ``route``: the leader (the first member with role ``leader``, else the first member) picks one
  member to answer, through a ``route_to_member`` tool; the answer is that member's.
- ``coordinate``: the leader answers with an ``ask_team_member`` tool; each question is answered
  by the member as its own message (replying to the leader's), and the leader composes the answer.
- ``collaborate``: members answer in turn, each reading the answers given before it.

Every member's answer is its own ASSISTANT message (``bot_ids`` = its bot) that the runner
streams with ``chat:start``/``chat:chunk``/``chat:done`` and ``chat:bot_complete``. One member,
or any other mode: the first member answers alone, as before. The runner knows nothing of this:
each answer carries a ``TeamConductor`` (``chat.streams.Conductor``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from accounts.models import User
from chat import config, history, protocol
from chat.providers.base import ProviderError, ToolCallRequest, ToolOffer
from chat.streams import WORKER_ID, Answer, FollowUp, Routed, Runner
from chat.tools.base import Problem, ToolError, ToolSpec
from kinds import selectors as kind_selectors
from kinds.models import Kind
from kinds.selectors import TeamContext
from kinds.specs.team import MemberView, TeamView
from tasks import selectors, statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle, turns
from wegent.errors import DomainError
from wegent.realtime import emitter
from wegent.realtime.db import run_sync
from wegent.realtime.rooms import task_room

logger = logging.getLogger(__name__)

PIPELINE, ROUTE, COORDINATE, COLLABORATE = "pipeline", "route", "coordinate", "collaborate"
TEAM_MODES = frozenset({PIPELINE, ROUTE, COORDINATE, COLLABORATE})
# What an answer is in its team's turn.
MEMBER = "member"  # a pipeline stage, a collaborator
ROUTER = "router"  # the leader's choice is still to be made (route)
LEADER = "leader"  # a coordinating leader (has the ask tool)
ASKED = "asked"  # a member answering the leader's question (coordinate)
ROUTE_TOOL, ASK_TOOL = "route_to_member", "ask_team_member"
DESCRIPTION_CHARS = 300


def mode_of(team: Kind, context: TeamContext) -> str:
    """The team's mode when several members answer in chat; "" when the first answers alone."""
    mode = TeamView.of(team.spec).collaboration_model
    return mode if mode in TEAM_MODES and len(context.members(team)) > 1 else ""


def leader_index(team: Kind, context: TeamContext) -> int:
    views = context.member_views(team)
    return next((i for i, (member, _) in enumerate(views) if member.role == "leader"), 0)


def first_member(team: Kind, context: TeamContext) -> int:
    """Which member's setup the turn's first answer streams with."""
    return leader_index(team, context) if mode_of(team, context) in (ROUTE, COORDINATE) else 0


def opens_early(team: Kind, context: TeamContext) -> bool:
    """Whether the first answer's model call may open before the turn is stored: not when the
    leader must choose first (route) or needs its tools declared (coordinate)."""
    return mode_of(team, context) not in (ROUTE, COORDINATE)


@dataclass(frozen=True)
class TeamTurn:
    """What every answer of one multi-bot turn shares."""

    mode: str
    task_id: int
    team_id: int
    user_message_id: int
    requester: User
    model_name: str | None = None
    model_type: str | None = None


def _role_of_first(mode: str) -> str:
    return {ROUTE: ROUTER, COORDINATE: LEADER}.get(mode, MEMBER)


def conduct(
    answer: Answer,
    task: TaskResource,
    team: Kind,
    context: TeamContext,
    requester: User,
    *,
    user_message_id: int,
    model_name: str | None = None,
    model_type: str | None = None,
) -> Answer:
    """The turn's first answer with its team's conductor (unchanged for a one-bot team)."""
    mode = mode_of(team, context)
    if not mode:
        return answer
    turn = TeamTurn(mode, task.pk, team.pk, user_message_id, requester, model_name, model_type)
    index = first_member(team, context)
    answer.conductor = TeamConductor(turn, _role_of_first(mode), index)
    return answer


# --- the conductor ------------------------------------------------------------------------------


@dataclass
class TeamConductor:
    turn: TeamTurn
    role: str
    index: int  # the answering member (among the team's members whose bots resolve)

    async def before(self, answer: Answer, open_stream: Callable[..., AsyncIterator[Any]]) -> Routed:
        if self.role != ROUTER:
            return Routed(answer)
        return await _route(self, answer, open_stream)

    def tools(self, answer: Answer, runner: Runner) -> list[Any]:
        if self.role != LEADER:
            return []
        return [AskMember(self, answer, runner)]

    async def after(self, answer: Answer, text: str) -> FollowUp:
        if self.role != MEMBER or self.turn.mode not in (PIPELINE, COLLABORATE):
            return FollowUp()
        return await run_sync(_next_member, self, answer, text)


@dataclass
class _Loaded:
    task: TaskResource
    team: Kind
    context: TeamContext
    views: list[tuple[MemberView, Kind]]


def _load(turn: TeamTurn) -> _Loaded | None:
    task = selectors.task_row(turn.task_id)
    team = turns.team_of(task) if task is not None else None
    if task is None or team is None:
        return None
    context = TeamContext([team])
    return _Loaded(task, team, context, context.member_views(team))


def _member_answer(
    base: Answer, loaded: _Loaded, turn: TeamTurn, row: Subtask, index: int, role: str, note: str = ""
) -> Answer:
    """The answer ``row`` streams as member ``index``; ``ChatConfigError`` when that member
    cannot answer (no model...)."""
    setup = config.resolve(
        loaded.task,
        loaded.team,
        turn.requester,
        model_name=turn.model_name,
        model_type=turn.model_type,
        context=loaded.context,
        member_index=index,
    )
    messages = history.history(loaded.task, before_message_id=turn.user_message_id + 1)
    return dataclasses.replace(
        base,
        subtask_id=row.pk,
        message_id=row.message_id,
        shell_type=setup.shell_type,
        bot_name=setup.bot.name,
        system_prompt=setup.system_prompt,
        messages=_with_note(messages, note),
        model=setup.model,
        ghost=setup.ghost,
        # Rows this turn writes are claimed by this worker as they are written; a row read back
        # (retry, a confirmed stage) is PENDING and the runner claims it.
        claimed=row.status == statuses.RUNNING and row.worker_id == WORKER_ID[:64],
        prepared_at=time.monotonic(),
        conductor=TeamConductor(turn, role, index),
    )


def _with_note(messages: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """``note`` added after the last user message's text (what this member is to work on)."""
    if not note or not messages or messages[-1].get("role") != "user":
        return messages
    last = dict(messages[-1])
    content = last.get("content")
    if isinstance(content, list):
        last["content"] = [*content, {"type": "text", "text": note}]
    else:
        last["content"] = f"{content or ''}\n\n{note}"
    return [*messages[:-1], last]


def _stage_note(prompt: str) -> str:
    return f"[Output of the previous stage, your input]\n{prompt}" if prompt else ""


def _collaboration_note(task_id: int, turn: TeamTurn, before_message_id: int) -> str:
    """The answers the other members gave to this message so far, by bot name."""
    earlier = selectors.turn_answers(task_id, turn.user_message_id, before_message_id)
    if not earlier:
        return ""
    ids = {row.bot_ids[0] for row in earlier if row.bot_ids}
    names = {pk: bot.name for pk, bot in kind_selectors.rows_by_id("Bot", ids).items()}
    lines = []
    for row in earlier:
        value = row.result.get("value") if isinstance(row.result, dict) else ""
        name = names.get(row.bot_ids[0], "member") if row.bot_ids else "member"
        lines.append(f"[{name}]: {value or ''}")
    body = "\n\n".join(lines)
    return f"[Answers of the other team members so far; add what they missed]\n{body}"


def _failed(row: Subtask, message: str) -> dict[str, Any]:
    """Ends ``row`` FAILED (it could not start); the ``chat:error`` payload to send."""
    lifecycle.update_subtask(
        row.pk,
        lifecycle.SubtaskChanges(
            status=statuses.FAILED, error_message=message, result={"value": "", "error": message}
        ),
    )
    return protocol.chat_error(
        task_id=row.task_id, subtask_id=row.pk, error_text=message, message_id=row.message_id
    )


def _next_member(conductor: TeamConductor, answer: Answer, text: str) -> FollowUp:
    """After a pipeline stage or a collaborator: the next member's answer, written and claimed
    here, or (pipeline) the wait for a confirmation."""
    turn, index = conductor.turn, conductor.index
    loaded = _load(turn)
    if loaded is None or index + 1 >= len(loaded.views):
        return FollowUp()
    if turn.mode == PIPELINE and loaded.views[index][0].require_confirmation:
        return FollowUp(status=statuses.PENDING_CONFIRMATION)
    bot = loaded.views[index + 1][1]
    prompt = text if turn.mode == PIPELINE else ""
    row = turns.add_team_answer(
        loaded.task, loaded.team, bot, parent_id=turn.user_message_id, prompt=prompt, claim_by=WORKER_ID
    )
    if turn.mode == PIPELINE:
        note = _stage_note(prompt)
    else:  # the answer just finished is not stored as completed yet: added here
        note = _with_current(_collaboration_note(turn.task_id, turn, row.message_id), answer, text)
    try:
        return FollowUp(answer=_member_answer(answer, loaded, turn, row, index + 1, MEMBER, note))
    except DomainError as exc:
        return FollowUp(errors=[_failed(row, str(exc.detail))])


def _with_current(note: str, answer: Answer, text: str) -> str:
    line = f"[{answer.bot_name or 'member'}]: {text}"
    if note:
        return f"{note}\n\n{line}"
    return f"[Answers of the other team members so far; add what they missed]\n{line}"


# --- answers started from outside a chat turn (retry, confirm-stage) ------------------------------


def member_of(row: Subtask, views: list[tuple[MemberView, Kind]], earlier: int) -> int:
    """The member an answer is from: the first member with its bot at or after the position
    of the answer in its turn (a bot may serve several stages), else the first with its bot."""
    bot_id = row.bot_ids[0] if row.bot_ids and len(row.bot_ids) == 1 else None
    candidates = [i for i, (_, bot) in enumerate(views) if bot.pk == bot_id]
    if not candidates:
        return 0
    return next((i for i in candidates if i >= earlier), candidates[0])


def resumed(
    answer: Answer,
    task: TaskResource,
    team: Kind,
    row: Subtask,
    requester: User,
    *,
    model_name: str | None = None,
    model_type: str | None = None,
) -> Answer:
    """``answer`` (for an existing answer row: a retry, a confirmed pipeline stage) as its
    member in its team's turn, with what that member reads; unchanged for a one-bot team."""
    context = TeamContext([team])
    mode = mode_of(team, context)
    if not mode:
        return answer
    user_message_id = selectors.user_message_before(task, row.message_id)
    turn = TeamTurn(mode, task.pk, team.pk, user_message_id, requester, model_name, model_type)
    views = context.member_views(team)
    loaded = _Loaded(task, team, context, views)
    if row.reply_to_subtask_id:  # a member the leader asked: answered again alone
        note = f"[Question from the team leader]\n{row.prompt}" if row.prompt else ""
        return _member_answer(answer, loaded, turn, row, member_of(row, views, 0), ASKED, note)
    if mode == ROUTE and len(row.bot_ids or []) == 1:  # the leader chose: that member again
        return _member_answer(answer, loaded, turn, row, member_of(row, views, 0), MEMBER)
    if mode in (ROUTE, COORDINATE):
        role = ROUTER if mode == ROUTE else LEADER
        return _member_answer(answer, loaded, turn, row, leader_index(team, context), role)
    earlier = len(selectors.turn_answers(task.pk, user_message_id, row.message_id))
    index = member_of(row, views, earlier)
    stage = mode == PIPELINE
    note = _stage_note(row.prompt) if stage else _collaboration_note(task.pk, turn, row.message_id)
    return _member_answer(answer, loaded, turn, row, index, MEMBER, note)


# --- route ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    index: int
    name: str
    description: str


def _candidates(turn: TeamTurn) -> list[_Candidate]:
    loaded = _load(turn)
    if loaded is None:
        return []
    leader = leader_index(loaded.team, loaded.context)
    found = []
    for i, (member, bot) in enumerate(loaded.views):
        if i == leader:
            continue
        ghost = loaded.context.ghost(bot)
        parts = [member.prompt, (ghost.spec.get("systemPrompt") or "") if ghost is not None else ""]
        text = " ".join(str(part) for part in parts if part).strip()
        found.append(_Candidate(i, bot.name, text[:DESCRIPTION_CHARS]))
    return found


def _route_instructions(candidates: list[_Candidate]) -> str:
    lines = "\n".join(f"- {c.name}: {c.description or '(no description)'}" for c in candidates)
    return (
        "You are the leader of a team. Do not answer the user yourself: choose the one team member "
        f"best suited to answer the user's last message and call {ROUTE_TOOL} with its name.\n"
        f"Team members:\n{lines}"
    )


def _chosen(call: ToolCallRequest | None, said: str, candidates: list[_Candidate]) -> _Candidate | None:
    if call is not None:
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            arguments = {}
        name = arguments.get("member") if isinstance(arguments, dict) else None
        found = next((c for c in candidates if c.name == name), None)
        if found is not None:
            return found
    mentioned = [(said.find(c.name), c) for c in candidates if c.name in said]
    return min(mentioned, key=lambda pair: pair[0])[1] if mentioned else None


async def _ask_leader(
    answer: Answer, candidates: list[_Candidate], open_stream: Callable[..., AsyncIterator[Any]]
) -> tuple[ToolCallRequest | None, str]:
    """The leader's model call: the route call it made (if any) and the text it wrote."""
    names = [c.name for c in candidates]
    spec = ToolSpec(
        ROUTE_TOOL,
        "Hand the user's message to the team member who will answer it.",
        {
            "type": "object",
            "properties": {"member": {"type": "string", "enum": names, "description": "The member's name"}},
            "required": ["member"],
        },
    )
    system = "\n\n".join(part for part in (answer.system_prompt, _route_instructions(candidates)) if part)
    iterator = open_stream(answer.model, system, answer.messages, ToolOffer([spec]))
    said: list[str] = []
    try:
        async with asyncio.timeout(settings.CHAT_TOOL_TIMEOUT_SECONDS):
            async for item in iterator:
                if isinstance(item, ToolCallRequest) and item.name == ROUTE_TOOL:
                    return item, "".join(said)
                if type(item) is str:
                    said.append(item)
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
    return None, "".join(said)


async def _route(
    conductor: TeamConductor, answer: Answer, open_stream: Callable[..., AsyncIterator[Any]]
) -> Routed:
    """The leader chooses who answers; when its choice cannot be read (or its model fails),
    the first other member answers and a thinking step says why."""
    turn = conductor.turn
    candidates = await run_sync(_candidates, turn)
    if not candidates:
        return Routed(answer)
    problems: list[Problem] = []
    try:
        call, said = await _ask_leader(answer, candidates, open_stream)
        chosen = _chosen(call, said, candidates)
        reason = "the leader named no team member"
    except (ProviderError, TimeoutError) as exc:
        chosen, reason = None, f"the leader's model failed ({getattr(exc, 'message', None) or 'timeout'})"
    if chosen is None:
        chosen = candidates[0]
        problems.append(Problem("route", f"{chosen.name} answers because {reason}"))
    routed = await run_sync(_routed_answer, conductor, answer, chosen.index)
    return Routed(routed, problems)


def _routed_answer(conductor: TeamConductor, answer: Answer, index: int) -> Answer:
    loaded = _load(conductor.turn)
    row = selectors.subtask_row(answer.subtask_id)
    if loaded is None or row is None:
        return answer
    lifecycle.update_subtask(row.pk, lifecycle.SubtaskChanges(bot_ids=[loaded.views[index][1].pk]))
    try:
        return _member_answer(answer, loaded, conductor.turn, row, index, MEMBER)
    except DomainError:
        logger.info("routed member %s of task %s cannot answer; the leader does", index, row.task_id)
        return answer  # the leader's own setup answers (it resolved when the turn started)


# --- coordinate -----------------------------------------------------------------------------------


class AskMember:
    """The coordinating leader's tool: one member answers a question as its own message
    (streamed like any answer), and the leader reads that answer as the tool's result."""

    def __init__(self, conductor: TeamConductor, leader: Answer, runner: Runner) -> None:
        self.conductor, self.leader, self.runner = conductor, leader, runner
        # A member writes a whole answer: longer than the per-tool limit allows.
        self.timeout = float(settings.CHAT_MEMBER_TIMEOUT_SECONDS)
        self._names: list[str] | None = None
        self.spec = ToolSpec(
            ASK_TOOL,
            "Ask one member of your team a question; returns that member's answer. Ask several "
            "members at once when their parts are independent.",
            {
                "type": "object",
                "properties": {
                    "member": {"type": "string", "description": "The member's name"},
                    "question": {"type": "string", "description": "What the member should answer"},
                },
                "required": ["member", "question"],
            },
        )

    async def run(self, arguments: dict[str, Any]) -> str:
        name, question = arguments.get("member"), arguments.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ToolError("question must be a non-empty string")
        if not isinstance(name, str):
            raise ToolError("member must be a member's name")
        asked = await run_sync(_asked_answer, self.conductor, self.leader, name, question)
        if isinstance(asked, tuple):
            message, error = asked
            if error is not None:
                await emitter.emit(protocol.CHAT_ERROR, error, room=task_room(self.leader.task_id))
            raise ToolError(message)
        streaming = self.runner.start(asked)
        try:
            await asyncio.shield(streaming)
        except asyncio.CancelledError:
            # The leader was cancelled (or timed out): the member's answer stops with it.
            self.runner.stop(asked.subtask_id)
            await asyncio.wait([streaming], timeout=10)
            raise
        row = await run_sync(selectors.subtask_row, asked.subtask_id)
        result = row.result if row is not None and isinstance(row.result, dict) else {}
        if row is not None and row.status == statuses.COMPLETED:
            return str(result.get("value") or "")
        if row is not None and row.status == statuses.CANCELLED:
            self.runner.stop(self.leader.subtask_id)  # the user stopped the member: the turn ends
        status = row.status if row is not None else "gone"
        detail = result.get("error") or status.lower()
        raise ToolError(f"{name} did not answer ({detail})")


def _asked_answer(
    conductor: TeamConductor, leader: Answer, name: str, question: str
) -> Answer | tuple[str, dict[str, Any] | None]:
    """The asked member's answer (its row written and claimed here), or why there is none and
    the ``chat:error`` of a row that could not start."""
    loaded = _load(conductor.turn)
    if loaded is None:
        return "The task is gone", None
    lead = leader_index(loaded.team, loaded.context)
    members = {bot.name: i for i, (_, bot) in enumerate(loaded.views) if i != lead}
    if name not in members:
        known = ", ".join(members) or "none"
        return f"Unknown team member {name!r} (members: {known})", None
    try:
        turns.check_prompt(question)
    except DomainError as exc:
        return str(exc.detail), None
    index = members[name]
    row = turns.add_team_answer(
        loaded.task,
        loaded.team,
        loaded.views[index][1],
        parent_id=leader.message_id,
        prompt=question,
        reply_to=leader.subtask_id,
        claim_by=WORKER_ID,
    )
    note = f"[Question from the team leader]\n{question}"
    try:
        return _member_answer(leader, loaded, conductor.turn, row, index, ASKED, note)
    except DomainError as exc:
        message = str(exc.detail)
        return f"{name} cannot answer: {message}", _failed(row, message)
