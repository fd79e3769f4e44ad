"""``/api/v1/responses``: an OpenAI Responses request as a chat turn of a Team (reference
realtime §6, rest §6.16), and the reads, cancel and delete of such a response.

A response is its task: ``resp_<task_id>``; its output is the task's latest answer. Chat-shell
teams are answered by the chat runner (the caller streams it, see ``chat.api.responses``);
executor teams get a normal executor task and the response is ``queued``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from accounts.models import User
from chat import config, stream_state
from chat import responses_protocol as rp
from chat.services.sending import answer_for
from chat.streams import WORKER_ID, Answer
from chat.tools import web_search as web_search_tool
from kinds import selectors as kind_selectors
from kinds.models import Kind
from kinds.selectors import TeamContext
from kinds.specs.ghost import GhostView
from quotas import services as quotas
from tasks import selectors, statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle, turns
from wegent.errors import BadRequest, DomainError, NotFound


class ResponseNotFound(NotFound):
    default_detail = "Response not found"


@dataclass
class Created:
    """What ``create`` stored: an answer to stream here, or a response already decided."""

    task: TaskResource
    model: str
    previous_response_id: str | None
    stream: bool
    background: bool
    answer: Answer | None = None
    response: dict[str, Any] | None = None

    @property
    def created_at(self) -> int:
        return int(self.task.created_at.timestamp())


# --- create ----------------------------------------------------------------------------------------


def _previous_task(actor: User, value: str | None) -> TaskResource | None:
    if value is None:
        return None
    task_id = rp.task_id_of(value)
    if task_id is None:
        raise BadRequest(f"Invalid previous_response_id format: '{value[:100]}'")
    task = selectors.task_row(task_id)
    if task is None or task.owner_id != actor.pk:
        raise NotFound(f"Previous response '{value}' not found")
    return task


def _team(actor: User, ref: rp.ModelRef) -> Kind:
    team = kind_selectors.resolve(actor, "Team", ref.team, ref.namespace)
    if team is None:
        raise NotFound(f"Team '{ref.namespace}#{ref.team}' not found or not accessible")
    if team.deactivated:
        raise BadRequest(f"Public Team '{team.name}' is deactivated and cannot be chosen")
    return team


def _check_models(actor: User, ref: rp.ModelRef, team: Kind, context: TeamContext) -> None:
    """400 for a model the request names that does not exist, or a bot without a model."""
    if ref.model_id:
        if kind_selectors.usable_model(actor, ref.model_id) is None:
            raise BadRequest(f"Model '{ref.model_id}' not found in namespace '{ref.namespace}' or 'default'")
        return
    bots = [bot for _, bot in context.members(team)]
    if not bots:
        raise BadRequest("No valid bots found in team")
    for bot in bots:
        if not bot.spec.get("modelRef"):
            raise BadRequest(
                f"Bot '{bot.name}' has no model configured; name one in the model string "
                "('namespace#team_name#model_id')"
            )


MAX_REQUEST_MCP_SERVERS = 20


def _request_mcp_servers(body: rp.ResponseCreate) -> dict[str, Any]:
    """The ``mcp`` tools' servers as one ``mcpServers`` map (``disabled`` ones skipped). They
    connect through the same outbound guard as a Ghost's; a command to run (stdio) is refused
    from a request whatever the operator allows for Ghosts."""
    servers: dict[str, Any] = {}
    for tool in body.tools_of("mcp"):
        given = tool.mcp_servers
        for entry in given if isinstance(given, list) else [given or {}]:
            for name, server in entry.items():
                if not isinstance(server, dict):
                    raise BadRequest(f"MCP server '{str(name)[:100]}' must be an object")
                if server.get("disabled"):
                    continue
                if str(server.get("type") or "").lower() == "stdio" or "command" in server:
                    raise BadRequest("stdio MCP servers cannot be given in a request")
                servers[str(name)[:100]] = {k: v for k, v in server.items() if k != "disabled"}
    if len(servers) > MAX_REQUEST_MCP_SERVERS:
        raise BadRequest(f"At most {MAX_REQUEST_MCP_SERVERS} MCP servers per request")
    return servers


def _with_servers(ghost: GhostView | None, servers: dict[str, Any]) -> GhostView | None:
    """The turn's Ghost as tool sources read it, with the request's MCP servers added."""
    if not servers:
        return ghost
    base = ghost or GhostView()
    return dataclasses.replace(base, mcp_servers={**base.mcp_servers, **servers})


@dataclass
class Plan:
    """What a request asks for, checked, before anything is written (read-only)."""

    body: rp.ResponseCreate
    ref: rp.ModelRef
    prompt: str
    previous: TaskResource | None
    team: Kind
    context: TeamContext
    direct: bool
    servers: dict[str, Any]
    skills: list[str]
    web_search: bool
    api_key_name: str | None
    # The model call of a new conversation that needs no tools, known before the turn is
    # stored: the caller may open the model stream meanwhile (``Runner.start_early``).
    early_setup: config.ChatSetup | None = None

    @property
    def first_messages(self) -> list[dict[str, Any]]:
        return [{"role": "user", "content": self.prompt}]


def plan(actor: User, data: Any, *, api_key_name: str | None) -> Plan:
    """Checks the request (400/404/422 as the reference); writes nothing."""
    body = rp.parse_create(data)
    ref = rp.parse_model(body.model)
    prompt = body.prompt()
    turns.check_prompt(prompt)
    previous = _previous_task(actor, body.previous_response_id)
    team = _team(actor, ref)
    context = TeamContext([team])
    _check_models(actor, ref, team, context)
    # 429 with the reset time before anything is written or a model stream opens.
    quotas.check(previous.owner_id if previous is not None else actor.pk)
    direct = config.supports_direct_chat(team, context)
    if not direct and body.stream:
        raise BadRequest("Streaming is only supported for teams whose bots all use the Chat shell")
    chat_bot = bool(body.tools_of("wegent_chat_bot"))
    planned = Plan(
        body=body,
        ref=ref,
        prompt=prompt,
        previous=previous,
        team=team,
        context=context,
        direct=direct,
        servers=_request_mcp_servers(body),
        skills=[name for tool in body.tools_of("skill") for name in tool.preload_skills or [] if name],
        web_search=chat_bot and web_search_tool.enabled(),
        api_key_name=api_key_name,
    )
    if direct and previous is None and not planned.servers and not planned.web_search:
        try:
            setup = config.resolve(None, team, actor, model_name=ref.model_id, context=context)
        except DomainError:
            setup = None  # the answer fails after the turn is stored, with this reason
        if setup is not None and not setup.may_use_tools(bool(planned.skills)):
            planned.early_setup = setup
    return planned


def create(actor: User, data: Any, *, api_key_name: str | None) -> Created:
    """Checks the request, stores the turn; the answer (if any) is the caller's to start."""
    return store(actor, plan(actor, data, api_key_name=api_key_name))


def store(actor: User, planned: Plan) -> Created:
    """Stores the planned turn; the answer (if any) is the caller's to start."""
    body, ref, previous, team, context, direct = (
        planned.body,
        planned.ref,
        planned.previous,
        planned.team,
        planned.context,
        planned.direct,
    )
    workspace = next((tool.workspace for tool in body.tools_of("wegent_code_bot") if tool.workspace), None)
    code = workspace is not None and bool(workspace.git_url)
    options = turns.TurnOptions(
        prompt=planned.prompt,
        team_id=team.pk,
        team=team if previous is None else None,
        team_context=context if previous is None else None,
        source="chat_shell" if direct else "api",
        api_call=True,
        api_key_name=planned.api_key_name,
        type="offline" if code else "online",
        task_type="code" if code else "chat",
        git_url=workspace.git_url if code and workspace else "",
        git_repo=workspace.git_repo if code and workspace else "",
        branch_name=workspace.branch if code and workspace else "",
        model_id=ref.model_id,
        force_override_bot_model=bool(ref.model_id),
        additional_skills=[{"name": name, "namespace": "default"} for name in planned.skills],
        path=turns.CHAT if direct else turns.EXECUTOR,
        claim_by=WORKER_ID if direct else None,
        gates_passed=True,  # ``plan`` checked the quotas
    )
    turn = turns.start_turn(actor=actor, task_id=previous.pk if previous else None, options=options)
    created = Created(
        task=turn.task,
        model=str(ref),
        previous_response_id=rp.response_id(previous.pk) if previous else None,
        stream=body.stream,
        background=body.background,
    )
    answer_row = turn.assistant_subtask
    if not direct or answer_row is None:
        # Executor teams: the task waits for an executor (reference: status ``queued``).
        created.response = response_for(turn.task, answer_row, model=created.model)
        return created
    try:
        setup = planned.early_setup or config.resolve(
            turn.task, turn.team, actor, model_name=ref.model_id, context=context
        )
    except DomainError as exc:
        message = str(exc.detail)
        lifecycle.update_subtask(
            answer_row.pk,
            lifecycle.SubtaskChanges(
                status=statuses.FAILED, error_message=message, result={"value": "", "error": message}
            ),
        )
        task = selectors.task_row(turn.task.pk) or turn.task
        created.response = response_for(task, selectors.latest_answer(task), model=created.model)
        return created
    answer = answer_for(
        turn.task,
        answer_row,
        actor,
        setup,
        first_message=planned.prompt if turn.created else None,
        additional_skills=planned.skills,
        web_search=planned.web_search,
    )
    answer.ghost = _with_servers(setup.ghost, planned.servers)
    answer.claimed = True  # in the turn (options.claim_by)
    created.answer = answer
    return created


# --- reads, cancel, delete ---------------------------------------------------------------------------


def owned_task(actor: User, response_id: str) -> TaskResource:
    """The caller's task behind ``resp_<task_id>``; 404 for anyone else's, or a bad id."""
    task_id = rp.task_id_of(response_id)
    task = selectors.task_row(task_id) if task_id is not None else None
    if task is None or task.owner_id != actor.pk:
        raise ResponseNotFound(f"Response '{response_id[:100]}' not found")
    return task


def model_string(task: TaskResource) -> str:
    """The request's model string, rebuilt from the team reference and the model label."""
    ref = task.spec.get("teamRef") if isinstance(task.spec.get("teamRef"), dict) else {}
    base = f"{ref.get('namespace') or 'default'}#{ref.get('name') or ''}"
    model_id = task.labels.get("modelId")
    return f"{base}#{model_id}" if model_id else base


def _answer_text(answer: Subtask) -> str:
    stored = answer.result.get("value") if isinstance(answer.result, dict) else None
    if answer.status in statuses.ACTIVE:
        live = stream_state.text(answer.pk)
        if live is not None and len(live) >= len(stored or ""):
            return live
    return stored if isinstance(stored, str) else ""


def response_for(task: TaskResource, answer: Subtask | None, *, model: str | None = None) -> dict[str, Any]:
    """The ``ResponseObject`` of the task as it is stored now (its latest answer as output)."""
    output = []
    error = None
    usage = None
    if answer is not None:
        output.append(rp.output_message(answer.pk, rp.message_status(answer.status), _answer_text(answer)))
        if answer.status == statuses.FAILED:
            error = rp.error_object(answer.error_message or "The answer failed")
        reported = answer.result.get("usage") if isinstance(answer.result, dict) else None
        if isinstance(reported, dict) and isinstance(reported.get("input_tokens"), int):
            usage = rp.usage(reported["input_tokens"], int(reported.get("output_tokens") or 0))
    follow_up = answer is not None and answer.message_id > 2
    # An ended answer says how the response ended (the task's own status follows it a moment
    # later, in a second transaction).
    ended = answer is not None and answer.status in statuses.FINAL
    return rp.response_object(
        task_id=task.pk,
        created_at=int(task.created_at.timestamp()),
        status=rp.response_status(answer.status if ended and answer else task.status),
        model=model or model_string(task),
        output=output,
        previous_response_id=rp.response_id(task.pk) if follow_up else None,
        error=error,
        usage=usage,
    )


def retrieve(actor: User, response_id: str) -> dict[str, Any]:
    task = owned_task(actor, response_id)
    return response_for(task, selectors.latest_answer(task))


def latest_answer_id(actor: User, response_id: str) -> tuple[int, int | None]:
    """(task id, its latest answer's id) for a reader of the response's events."""
    task = owned_task(actor, response_id)
    answer = selectors.latest_answer(task)
    return task.pk, answer.pk if answer is not None else None


def cancel(actor: User, response_id: str) -> dict[str, Any]:
    """Stops the running answer wherever it streams; it ends CANCELLED with its partial text
    (not the reference's COMPLETED). An ended response is returned as it is."""
    task = owned_task(actor, response_id)
    if task.status not in statuses.FINAL and task.status != statuses.CANCELLING:
        try:
            lifecycle.cancel_task(actor=actor, task_id=task.pk)
        except DomainError:
            pass  # it ended meanwhile: the response below says how
    task = selectors.task_row(task.pk) or task
    return response_for(task, selectors.latest_answer(task))


def delete(actor: User, response_id: str) -> dict[str, Any]:
    """Stops a running answer, then deletes the task (``{id, object, deleted}``)."""
    task = owned_task(actor, response_id)
    if task.status in statuses.ACTIVE:
        try:
            lifecycle.cancel_task(actor=actor, task_id=task.pk)
        except DomainError:
            pass
    lifecycle.delete_task(actor=actor, task_id=task.pk)
    return rp.deleted(task.pk)
