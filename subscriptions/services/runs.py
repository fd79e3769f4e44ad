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
from chat.services.sending import answer_for
from chat.streams import WORKER_ID, Answer, runner
from kinds import model_clients
from kinds import selectors as kind_selectors
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

logger = logging.getLogger(__name__)
SUMMARY_CHARS = 2000
TITLE_CHARS = 40


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
    title = f"{subscription.display_name}: {execution.prompt}"[:TITLE_CHARS]
    git = (source or subscription).spec.get("git") or {}
    options = turns.TurnOptions(
        prompt=execution.prompt,
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
    BackgroundExecution.objects.filter(pk=execution.pk).update(task_id=task.pk, updated_at=timezone.now())
    if spec.get("preserveHistory"):
        Subscription.objects.filter(pk=subscription.pk).update(bound_task_id=task.pk)
    execution.refresh_from_db()
    if not direct or turn.assistant_subtask is None:
        # Executor teams: the answer waits in the dispatch queue; the execution stays RUNNING
        # until the executor reports (the executor callback path, not built here).
        return execution.status
    setup = config.resolve(task, team, owner, model_name=model_name, context=context)
    answer = answer_for(
        task, turn.assistant_subtask, owner, setup, first_message=None if bound else execution.prompt
    )
    answer.claimed = True
    if bound:
        keep = int(spec.get("historyMessageCount", 10)) + 1
        answer.messages = answer.messages[-keep:]
    timeout = float(spec.get("timeoutSeconds") or 600)
    tools.silenceable[answer.subtask_id] = execution.pk
    try:
        timed_out = _stream(answer, timeout)
    finally:
        tools.silenceable.pop(answer.subtask_id, None)
    return _finish(execution, turn.assistant_subtask.pk, timed_out=timed_out)


def _bound_task(subscription: Subscription, owner: Any) -> int | None:
    if not subscription.spec.get("preserveHistory") or not subscription.bound_task_id:
        return None
    try:
        task = task_selectors.accessible_task(owner, subscription.bound_task_id)
    except DomainError:
        return None  # the bound task was deleted: a new one is made and bound
    return task.pk if task.status != task_statuses.DELETE else None


async def _stream_with_timeout(answer: Answer, timeout: float) -> bool:
    """Streams the answer; past ``timeout`` the stream is stopped (returns True)."""
    running = asyncio.ensure_future(runner.run(answer))
    done, _ = await asyncio.wait({running}, timeout=timeout)
    if done:
        running.result()
        return False
    runner.stop(answer.subtask_id)
    await running
    return True


def _stream(answer: Answer, timeout: float) -> bool:
    coroutine = _stream_with_timeout(answer, timeout)
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


def _finish(execution: BackgroundExecution, answer_id: int, *, timed_out: bool) -> str:
    answer = Subtask.objects.get(pk=answer_id)
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
    elif answer.status == task_statuses.COMPLETED and execution.silent_reason:
        executions.transition(execution, statuses.COMPLETED_SILENT, result_summary=execution.silent_reason)
    elif answer.status == task_statuses.COMPLETED:
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
    if target == statuses.FAILED:
        changes["error_message"] = (answer.error_message if answer is not None else "") or "Task failed"
    try:
        executions.transition(execution, target, **changes)
    except DomainError:
        pass  # changed meanwhile (cancelled, or another worker ended it)
