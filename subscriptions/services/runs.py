"""Running an execution: its Task through the tasks services chat uses, then the answer.

Chat-shell teams are answered by the chat runner (``chat.streams.runner``) inside the Celery
worker: in the embedded mode the worker is a thread of the server process, so the stream runs
on the server's event loop (``emitter.in_server_loop``), where the sockets are; a separate
worker process has no server loop and runs it with ``asyncio.run`` (its events reach the
servers over Redis). Executor teams are left PENDING for the executor dispatch queue, as a
``chat:send`` to such a team is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.utils import timezone

from chat import config
from chat.services import teams
from chat.services.sending import answer_for
from chat.streams import WORKER_ID, Answer, runner
from kinds import model_clients
from kinds import selectors as kind_selectors
from kinds.models import DEFAULT_NAMESPACE
from knowledge.services import turn_search
from subscriptions import statuses, tools
from subscriptions.models import BackgroundExecution, Subscription
from subscriptions.services import executions
from tasks import documents
from tasks import selectors as task_selectors
from tasks import statuses as task_statuses
from tasks.models import Subtask
from tasks.services import turns
from wegent.errors import DomainError
from wegent.realtime import emitter
from wegent.realtime.db import run_sync

logger = logging.getLogger(__name__)
SUMMARY_CHARS = 2000
TITLE_CHARS = 40
KNOWLEDGE_BASE = "KnowledgeBase"
# How long a run waits before looking again for the stream of a next member's answer (written,
# started on the same loop a moment later).
TURN_POLL_SECONDS = 0.05
# Endings of a turn's last answer that complete the run: a pipeline stage that waits for its
# owner's confirmation has done the run's work (the owner confirms it in the task).
SUCCEEDED = (task_statuses.COMPLETED, task_statuses.PENDING_CONFIRMATION)


def _fail(execution: BackgroundExecution, message: str) -> None:
    execution.refresh_from_db()
    if execution.status in statuses.TERMINAL:
        return
    if execution.status == statuses.PENDING:
        executions.transition(execution, statuses.RUNNING)
    executions.transition(execution, statuses.FAILED, error_message=message[:2000])


RUNNABLE = (statuses.PENDING, statuses.RETRYING)


def run(execution_id: int) -> str:
    """Runs one execution to its end; returns its status: final, or RETRYING when an
    unexpected error leaves attempts of ``retryCount`` (the caller queues the next one). A
    cancelled, running or finished execution is left alone (a duplicate message runs nothing).
    """
    execution = BackgroundExecution.objects.select_related("subscription").filter(pk=execution_id).first()
    if execution is None or execution.status not in RUNNABLE:
        return execution.status if execution else "missing"
    subscription = execution.subscription
    if not subscription.is_active:
        executions.transition(execution, statuses.CANCELLED, error_message="Subscription was deleted")
        return statuses.CANCELLED
    try:
        executions.transition(execution, statuses.RUNNING)
    except DomainError:
        return execution.status  # another worker took it
    try:
        return _run(execution, subscription)
    except DomainError as exc:
        _fail(execution, str(exc.detail))
    except Exception as exc:
        logger.exception("subscription execution %s failed", execution_id)
        execution.refresh_from_db()
        retries = int(subscription.spec.get("retryCount") or 0)
        if execution.status == statuses.RUNNING and execution.retry_attempt < retries:
            executions.transition(
                execution,
                statuses.RETRYING,
                retry_attempt=execution.retry_attempt + 1,
                error_message=f"Attempt {execution.retry_attempt + 1} failed: {type(exc).__name__}",
            )
        else:
            _fail(execution, "Internal server error")
    execution.refresh_from_db()
    return execution.status


def _run(execution: BackgroundExecution, subscription: Subscription) -> str:
    owner = subscription.owner
    if not owner.is_active:
        raise DomainError("The subscription's owner is not active")
    # A rental runs its source's team, as the source's owner may use it.
    source = subscription.source if subscription.is_rental else None
    team = (
        kind_selectors.readable_row(source.owner, "Team", source.team_id)
        if source is not None
        else kind_selectors.readable_row(owner, "Team", subscription.team_id)
    )
    if team is None:
        raise DomainError("The subscription's team is not available")
    context = kind_selectors.TeamContext([team])
    direct = config.supports_direct_chat(team, context)
    spec = subscription.spec
    model_name = (spec.get("modelRef") or {}).get("name")
    if source is not None and not model_name:
        model_name = (source.spec.get("modelRef") or {}).get("name")
    bound = _bound_task(subscription, owner)
    # A rental's task never holds its source's prompt (private to the source's owner): its
    # message shows a stand-in, its title only the name; the model reads the prompt in its place
    # (``private_prompts``).
    private = subscription.is_rental
    shown = private_stand_in(subscription) if private else execution.prompt
    title = (subscription.display_name if private else f"{subscription.display_name}: {shown}")[:TITLE_CHARS]
    git = (source or subscription).spec.get("git") or {}
    options = turns.TurnOptions(
        prompt=shown,
        title=title,
        team=team,
        team_context=context,
        type="subscription",
        task_type="chat" if direct else "code",
        # The chat path's source: a cancel of the task (REST or the execution's) stops the stream.
        source="chat_shell" if direct else "web",
        git_url=str(git.get("gitUrl") or ""),
        git_repo=str(git.get("gitRepo") or ""),
        git_repo_id=int(git.get("gitRepoId") or 0),
        git_domain=str(git.get("gitDomain") or ""),
        branch_name=str(git.get("branchName") or ""),
        model_id=model_name,
        force_override_bot_model=bool(model_name and spec.get("forceOverrideBotModel")),
        path=turns.CHAT if direct else turns.EXECUTOR,
        claim_by=WORKER_ID if direct else None,
    )
    turn = turns.start_turn(actor=owner, task_id=bound, options=options)
    task = turn.task
    task.document = documents.with_labels(
        task.document,
        {
            "userInteracted": "false",
            "subscriptionId": str(subscription.pk),
            "executionId": str(execution.pk),
            "backgroundExecutionId": str(execution.pk),
        },
    )
    task.save()
    BackgroundExecution.objects.filter(pk=execution.pk).update(
        task_id=task.pk, private_message_id=turn.user_subtask.pk if private else 0, updated_at=timezone.now()
    )
    if spec.get("preserveHistory"):
        Subscription.objects.filter(pk=subscription.pk).update(bound_task_id=task.pk)
    execution.refresh_from_db()
    knowledge_ids = _knowledge_base_ids(subscription, source)
    if knowledge_ids and turn.assistant_subtask is not None:
        # The knowledge bases become the run's message's ``knowledge_base`` contexts (reference
        # extras §2.5), whoever answers; a chat team's answer searches them.
        turn_search.for_turn(owner.pk, knowledge_ids, (), turn.assistant_subtask.pk)
    if not direct or turn.assistant_subtask is None:
        # Executor teams: the answer waits in the dispatch queue; the execution stays RUNNING
        # until the executor reports (the executor callback path, not built here).
        return execution.status
    setup = config.resolve(task, team, owner, model_name=model_name, context=context)
    answer = answer_for(
        task,
        turn.assistant_subtask,
        owner,
        setup,
        first_message=None if bound else execution.prompt,
        knowledge_base_ids=knowledge_ids,
    )
    answer.claimed = True
    if bound:
        keep = int(spec.get("historyMessageCount", 10)) + 1
        answer.messages = answer.messages[-keep:]
    # A multi-bot team answers as in chat: each member's answer is its own message.
    user_message_id = turn.user_subtask.message_id
    answer = teams.conduct(
        answer, task, team, context, owner, user_message_id=user_message_id, model_name=model_name
    )
    timeout = float(spec.get("timeoutSeconds") or 600)
    tools.silenceable[task.pk] = execution.pk
    try:
        timed_out = _stream(answer, user_message_id, timeout)
    finally:
        tools.silenceable.pop(task.pk, None)
    return _finish(execution, task.pk, user_message_id, timed_out=timed_out)


def private_stand_in(subscription: Subscription) -> str:
    return f"Scheduled run of {subscription.display_name} (its prompt is private to its publisher)"


def private_prompts(task: Any, user_messages: list[Subtask]) -> dict[int, str]:
    """``tasks.model_text_providers``: the prompts of rentals' runs, which the model reads in
    place of the stand-ins their tasks show. Other tasks return at the label check."""
    if task.labels.get("type") != "subscription":
        return {}
    rows = BackgroundExecution.objects.filter(
        task_id=task.pk, private_message_id__in=[row.pk for row in user_messages]
    ).values_list("private_message_id", "prompt")
    return {message_id: prompt for message_id, prompt in rows if message_id}


def rental_team(task: Any) -> Any:
    """``tasks.team_resolvers``: the team of a rental's run task (its source's team, as the
    source's owner sees it), found through the execution row that made the task for its owner;
    None for any other task (the label check costs no query)."""
    labels = task.labels
    execution_id = str(labels.get("backgroundExecutionId") or "")
    if labels.get("type") != "subscription" or not execution_id.isdigit():
        return None
    execution = (
        BackgroundExecution.objects.select_related("subscription")
        .filter(pk=int(execution_id), task_id=task.pk, user_id=task.owner_id)
        .first()
    )
    source = (
        execution.subscription.source if execution is not None and execution.subscription.is_rental else None
    )
    if source is None or not source.is_active:
        return None
    return kind_selectors.readable_row(source.owner, "Team", source.team_id)


def _knowledge_base_ids(subscription: Subscription, source: Subscription | None) -> tuple[int, ...]:
    """The run's ``knowledgeBaseRefs`` (a rental's are its source's, as its source's owner
    sees them); refs to knowledge bases that are gone now are left out."""
    holder = source or subscription
    refs = holder.spec.get("knowledgeBaseRefs") or []
    found = []
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict) or not ref.get("name"):
            continue
        namespace = str(ref.get("namespace") or DEFAULT_NAMESPACE)
        kb = kind_selectors.resolve(holder.owner, KNOWLEDGE_BASE, str(ref["name"]), namespace)
        if kb is not None and kb.pk not in found:
            found.append(kb.pk)
    return tuple(found)


def _bound_task(subscription: Subscription, owner: Any) -> int | None:
    if not subscription.spec.get("preserveHistory") or not subscription.bound_task_id:
        return None
    try:
        task = task_selectors.accessible_task(owner, subscription.bound_task_id)
    except DomainError:
        return None  # the bound task was deleted: a new one is made and bound
    return task.pk if task.status != task_statuses.DELETE else None


def _open_answers(task_id: int, user_message_id: int) -> list[int]:
    """The answers of the run's turn that have not ended (PENDING or RUNNING)."""
    return list(
        Subtask.objects.filter(
            task_id=task_id,
            role=Subtask.ASSISTANT,
            message_id__gt=user_message_id,
            status__in=(task_statuses.PENDING, task_statuses.RUNNING),
        )
        .order_by("message_id")
        .values_list("pk", flat=True)
    )


async def _whole_turn(answer: Answer, user_message_id: int) -> None:
    """Streams the turn's first answer, then waits for the answers its team adds (a pipeline's
    next stage, the next collaborator: the runner starts each as the one before ends)."""
    await runner.run(answer)
    while open_ids := await run_sync(_open_answers, answer.task_id, user_message_id):
        stream = runner.streams.get(open_ids[0])
        if stream is not None:
            await stream.done.wait()
        else:  # written, its stream about to start on this loop
            await asyncio.sleep(TURN_POLL_SECONDS)


async def _stream_with_timeout(answer: Answer, user_message_id: int, timeout: float) -> bool:
    """Streams the run's whole turn; past ``timeout`` its answers are stopped (returns True)."""
    running = asyncio.ensure_future(_whole_turn(answer, user_message_id))
    done, _ = await asyncio.wait({running}, timeout=timeout)
    if done:
        running.result()
        return False
    # Stopped answers end CANCELLED (and start no next member); one written meanwhile is
    # stopped on the next pass.
    while not running.done():
        for subtask_id in await run_sync(_open_answers, answer.task_id, user_message_id):
            runner.stop(subtask_id)
        await asyncio.wait({running}, timeout=1)
    running.result()
    return True


def _stream(answer: Answer, user_message_id: int, timeout: float) -> bool:
    coroutine = _stream_with_timeout(answer, user_message_id, timeout)
    if emitter.has_server_loop():
        result = emitter.in_server_loop(coroutine, timeout=timeout + 30)
        return bool(result)
    return asyncio.run(_then_close_clients(coroutine))


async def _then_close_clients(coroutine: Any) -> bool:
    # A loop of its own (a worker process): its pooled model client dies with it.
    try:
        return await coroutine
    finally:
        await model_clients.aclose_http_client()


def _final_answer(task_id: int, user_message_id: int) -> Subtask:
    """The answer the run's turn ended with: its newest answer, leaving out the answers of
    members a coordinating leader asked (they reply to the leader, whose answer is the turn's)."""
    rows = Subtask.objects.filter(
        task_id=task_id, role=Subtask.ASSISTANT, message_id__gt=user_message_id, reply_to_subtask_id=0
    )
    return (
        rows.order_by("-message_id").first()
        or Subtask.objects.filter(task_id=task_id, role=Subtask.ASSISTANT, message_id__gt=user_message_id)
        .order_by("-message_id")
        .get()
    )


def _finish(execution: BackgroundExecution, task_id: int, user_message_id: int, *, timed_out: bool) -> str:
    answer = _final_answer(task_id, user_message_id)
    result = answer.result if isinstance(answer.result, dict) else {}
    text = str(result.get("value") or "")
    execution.refresh_from_db()
    if execution.status in statuses.TERMINAL:
        return execution.status  # cancelled meanwhile
    if timed_out:
        executions.transition(
            execution,
            statuses.FAILED,
            error_message="Execution timed out",
            result_summary=text[:SUMMARY_CHARS],
        )
    elif answer.status in SUCCEEDED and execution.silent_reason:
        executions.transition(execution, statuses.COMPLETED_SILENT, result_summary=execution.silent_reason)
    elif answer.status in SUCCEEDED:
        executions.transition(execution, statuses.COMPLETED, result_summary=text[:SUMMARY_CHARS])
    else:
        message = answer.error_message or f"Answer ended {answer.status}"
        executions.transition(
            execution, statuses.FAILED, error_message=message[:2000], result_summary=text[:SUMMARY_CHARS]
        )
    return execution.status


# --- executor teams: the task's ending ends the execution ----------------------------------------------

_ENDINGS = {
    task_statuses.COMPLETED: statuses.COMPLETED,
    task_statuses.FAILED: statuses.FAILED,
    task_statuses.CANCELLED: statuses.CANCELLED,
    task_statuses.DELETE: statuses.CANCELLED,
}


def task_ended(task: Any) -> None:
    """After any task change: when an executor team's subscription task has ended, its
    execution ends the same way (chat runs are ended by ``_finish`` instead). Other tasks
    return at the label check, without a query."""
    labels = task.labels
    if labels.get("type") != "subscription" or labels.get("source") == "chat_shell":
        return
    target = _ENDINGS.get(task.status)
    execution_id = str(labels.get("backgroundExecutionId") or "")
    if target is None or not execution_id.isdigit():
        return
    execution = BackgroundExecution.objects.filter(pk=int(execution_id), task_id=task.pk).first()
    if execution is None or execution.status not in (statuses.RUNNING, statuses.RETRYING):
        return
    answer = task_selectors.latest_answer(task)
    result = answer.result if answer is not None and isinstance(answer.result, dict) else {}
    changes: dict[str, Any] = {"result_summary": str(result.get("value") or "")[:SUMMARY_CHARS]}
    if target == statuses.COMPLETED and result.get("silent_exit"):
        # The executor's agent called silent_exit: its result says so (reference realtime §5.2).
        target = statuses.COMPLETED_SILENT
        reason = str(result.get("silent_exit_reason") or "Nothing to report")[:500]
        changes = {"result_summary": reason}
    if target == statuses.FAILED:
        changes["error_message"] = (answer.error_message if answer is not None else "") or "Task failed"
    try:
        executions.transition(execution, target, **changes)
    except DomainError:
        pass  # changed meanwhile (cancelled, or another worker ended it)
