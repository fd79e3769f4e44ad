"""A run: manual trigger and a beat fire create the execution and its Task through the tasks
services, the chat runner answers it (fake LLM over HTTP), the execution ends COMPLETED with
the answer. Celery runs eagerly here; real workers are in test_celery.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from subscriptions import statuses
from subscriptions.models import BackgroundExecution, Subscription
from subscriptions.services import executions, schedules
from subscriptions.tasks import fire
from subscriptions.tests.factories import make_subscription
from tasks.models import Subtask, TaskResource

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/subscriptions"


def test_manual_trigger_runs_the_chat_team_and_completes(api, user, chat_team, fake_llm) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team, prompt_template="Report for {{subscription_name}}")
    response = api.post(f"{URL}/{sub.pk}/trigger")
    assert response.status_code == 200, response.content
    execution = BackgroundExecution.objects.get(pk=response.json()["id"])
    assert execution.status == statuses.COMPLETED, execution.error_message
    assert execution.trigger_type == "manual" and execution.prompt == "Report for Daily digest"
    assert execution.result_summary == "w0 w1 w2 w3 w4"
    assert execution.started_at and execution.completed_at and execution.version > 1
    task = TaskResource.objects.get(pk=execution.task_id)
    labels = task.labels
    assert labels["type"] == "subscription" and labels["userInteracted"] == "false"
    assert labels["backgroundExecutionId"] == str(execution.pk) and labels["subscriptionId"] == str(sub.pk)
    assert not task.listed  # hidden from the task list until the user opens it
    answer = Subtask.objects.get(task=task, role=Subtask.ASSISTANT)
    assert answer.status == "COMPLETED"
    assert fake_llm.requests[-1].body["messages"][-1]["content"] == "Report for Daily digest"
    sub.refresh_from_db()
    assert sub.execution_count == 1 and sub.success_count == 1 and sub.last_execution_status == "COMPLETED"
    # The timeline and the one-execution route show it.
    timeline = api.get(f"{URL}/executions").json()
    assert timeline["total"] == 1 and timeline["items"][0]["status"] == "COMPLETED"
    one = api.get(f"{URL}/executions/{execution.pk}").json()
    assert one["task_id"] == task.pk and one["can_delete"] is True


def test_a_failing_model_fails_the_execution(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    from chat.tests.factories import make_chat_team

    team = make_chat_team(user, fake_llm, "fake-error-500", "e")
    sub = make_subscription(user, team, name="failing")
    execution_id = api.post(f"{URL}/{sub.pk}/trigger").json()["id"]
    execution = BackgroundExecution.objects.get(pk=execution_id)
    assert execution.status == statuses.FAILED and execution.error_message
    sub.refresh_from_db()
    assert sub.failure_count == 1 and sub.success_count == 0


def test_preserve_history_reuses_the_bound_task(api, user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team, preserve_history=True, history_message_count=2)
    first = api.post(f"{URL}/{sub.pk}/trigger").json()
    second = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert first["status"] == second["status"] == "COMPLETED"
    assert first["task_id"] == second["task_id"]
    assert Subtask.objects.filter(task_id=first["task_id"]).count() == 4
    sub.refresh_from_db()
    assert sub.bound_task_id == first["task_id"]


def test_a_beat_fire_creates_one_execution_even_when_delivered_twice(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(
        user, chat_team, name="every", trigger_type="interval", trigger_config={"value": 1, "unit": "minutes"}
    )
    first = fire.apply(args=[sub.pk]).result
    again = fire.apply(args=[sub.pk]).result  # a duplicated or retried message for the same fire
    assert first is not None and again is None
    assert BackgroundExecution.objects.filter(subscription=sub).count() == 1
    assert BackgroundExecution.objects.get(pk=first).status == statuses.COMPLETED
    # The next interval slot is a new fire.
    later = timezone.now() + timedelta(minutes=1, seconds=1)
    assert executions.fire_scheduled(sub.pk, now=later) is not None
    assert BackgroundExecution.objects.filter(subscription=sub).count() == 2


def test_cron_fire_key_is_the_tick(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team, trigger_config={"expression": "*/5 * * * *", "timezone": "UTC"})
    sub = Subscription.objects.select_related("periodic_task__crontab").get(pk=sub.pk)
    now = datetime(2030, 1, 1, 10, 7, 12, tzinfo=UTC)
    assert schedules.fire_time(sub, now) == datetime(2030, 1, 1, 10, 5, tzinfo=UTC)
    assert executions.fire_scheduled(sub.pk, now=now) is not None
    assert executions.fire_scheduled(sub.pk, now=now + timedelta(minutes=2)) is None
    assert executions.fire_scheduled(sub.pk, now=now + timedelta(minutes=3)) is not None


def test_a_one_time_fire_disables_the_subscription_and_removes_its_entry(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    at = (timezone.now() + timedelta(hours=1)).isoformat()
    sub = make_subscription(
        user, chat_team, name="once", trigger_type="one_time", trigger_config={"execute_at": at}
    )
    assert executions.fire_scheduled(sub.pk) is not None
    sub.refresh_from_db()
    assert not sub.enabled and sub.periodic_task_id is None
    assert executions.fire_scheduled(sub.pk) is None


def test_disabled_or_deleted_subscriptions_do_not_fire(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    from subscriptions.services import subscriptions as service

    sub = make_subscription(user, chat_team)
    service.toggle(actor=user, subscription_id=sub.pk, enabled=False)
    assert fire.apply(args=[sub.pk]).result is None
    service.toggle(actor=user, subscription_id=sub.pk, enabled=True)
    service.delete(actor=user, subscription_id=sub.pk)
    assert fire.apply(args=[sub.pk]).result is None
    assert not BackgroundExecution.objects.exists()


def test_cancel_and_delete_executions(api, client_for, other_user, user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team)
    pending = executions.trigger_now(sub)  # not dispatched: stays PENDING
    bob = client_for(other_user)
    assert bob.post(f"{URL}/executions/{pending.pk}/cancel").status_code == 404
    assert bob.get(f"{URL}/executions/{pending.pk}").status_code == 404
    assert bob.delete(f"{URL}/executions/{pending.pk}").status_code == 404
    assert api.delete(f"{URL}/executions/{pending.pk}").status_code == 400  # not finished
    cancelled = api.post(f"{URL}/executions/{pending.pk}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert api.post(f"{URL}/executions/{pending.pk}/cancel").status_code == 400
    assert api.delete(f"{URL}/executions/{pending.pk}").status_code == 204
    assert not BackgroundExecution.objects.filter(pk=pending.pk).exists()


def test_optimistic_version_refuses_a_stale_change(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    from subscriptions.exceptions import StaleExecution

    sub = make_subscription(user, chat_team)
    execution = executions.trigger_now(sub)
    stale = BackgroundExecution.objects.get(pk=execution.pk)
    executions.transition(execution, statuses.RUNNING)
    with pytest.raises(StaleExecution):
        executions.transition(stale, statuses.CANCELLED)
    with pytest.raises(Exception, match="Cannot change"):
        executions.transition(execution, statuses.PENDING)


def test_timeline_filters_and_public_executions(api, client_for, other_user, user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team, visibility="public")
    execution = executions.trigger_now(sub)
    executions.transition(execution, statuses.RUNNING)
    executions.transition(BackgroundExecution.objects.get(pk=execution.pk), statuses.COMPLETED_SILENT)
    assert api.get(f"{URL}/executions").json()["total"] == 0  # silent runs hidden by default
    assert api.get(f"{URL}/executions", {"include_silent": "true"}).json()["total"] == 1
    assert api.get(f"{URL}/executions", {"status": "COMPLETED_SILENT"}).json()["total"] == 1
    assert api.get(f"{URL}/executions", {"status": "BOGUS"}).status_code == 422
    assert api.get(f"{URL}/executions", {"start_date": "not-a-date"}).status_code == 422
    # A public subscription's execution is readable by anyone, but only its owner deletes it.
    bob = client_for(other_user)
    seen = bob.get(f"{URL}/executions/{execution.pk}")
    assert seen.status_code == 200 and seen.json()["can_delete"] is False
    assert bob.delete(f"{URL}/executions/{execution.pk}").status_code == 404
    assert api.get(f"{URL}/executions/stale", {"hours": 0}).status_code == 422
    assert api.get(f"{URL}/executions/stale").status_code == 200


def test_executor_team_run_waits_for_dispatch_and_cancel_ends_its_task(api, user) -> None:  # type: ignore[no-untyped-def]
    from kinds.tests.factories import bot_doc, ghost_doc, make_kind, model_doc, shell_doc, team_doc

    make_kind(user, ghost_doc("x-ghost"))
    make_kind(user, shell_doc("x-shell", "ClaudeCode"))
    make_kind(user, model_doc("x-model"))
    make_kind(user, bot_doc("x-bot", "x-ghost", "x-shell", "x-model"))
    team = make_kind(user, team_doc("x-team", ["x-bot"]))
    sub = make_subscription(user, team, name="code")
    body = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert body["status"] == "RUNNING" and body["task_id"]
    answer = Subtask.objects.get(task_id=body["task_id"], role=Subtask.ASSISTANT)
    assert answer.status == "PENDING"  # waits for an executor to pull it
    task = TaskResource.objects.get(pk=body["task_id"])
    assert task.labels["type"] == "subscription" and task.labels["taskType"] == "code"
    cancelled = api.post(f"{URL}/executions/{body['id']}/cancel").json()
    assert cancelled["status"] == "CANCELLED"
    task.refresh_from_db()
    answer.refresh_from_db()
    assert task.status == "CANCELLED" and answer.status == "CANCELLED"


def test_model_override_answers_with_the_chosen_model(api, user, chat_team, fake_llm) -> None:  # type: ignore[no-untyped-def]
    from chat.tests.factories import model_doc_for
    from kinds.tests.factories import make_kind

    make_kind(user, model_doc_for(fake_llm, "three-words", "fake-n3"))
    sub = make_subscription(user, chat_team, model_ref={"name": "three-words"}, force_override_bot_model=True)
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "COMPLETED" and run["result_summary"] == "w0 w1 w2"
    assert fake_llm.requests[-1].model == "fake-n3"
    assert TaskResource.objects.get(pk=run["task_id"]).labels["modelId"] == "three-words"


def test_runs_work_in_the_subscriptions_repository(api, user) -> None:  # type: ignore[no-untyped-def]
    from kinds.tests.factories import bot_doc, ghost_doc, make_kind, model_doc, shell_doc, team_doc
    from subscriptions.tests.factories import body
    from tasks import selectors as task_selectors

    make_kind(user, ghost_doc("g-ghost"))
    make_kind(user, shell_doc("g-shell", "ClaudeCode"))
    make_kind(user, model_doc("g-model"))
    make_kind(user, bot_doc("g-bot", "g-ghost", "g-shell", "g-model"))
    team = make_kind(user, team_doc("g-team", ["g-bot"]))
    created = api.post(URL, body(team, "repo", git_repo="acme/app", branch_name="dev"), format="json").json()
    assert created["git_repo"] == "acme/app" and created["git_domain"] == "github.com"
    run = api.post(f"{URL}/{created['id']}/trigger").json()
    workspace = task_selectors.workspace_for(TaskResource.objects.get(pk=run["task_id"]))
    repository = workspace.spec["repository"]
    assert repository["gitRepo"] == "acme/app" and repository["branchName"] == "dev"
    assert repository["gitUrl"] == "https://github.com/acme/app.git"
    # A workspace given by id lends its repository; someone else's (or none) is refused.
    from_workspace = api.post(URL, body(team, "from-ws", workspace_id=workspace.pk), format="json")
    assert from_workspace.status_code == 201 and from_workspace.json()["workspace_id"] == workspace.pk
    assert api.post(URL, body(team, "no-ws", workspace_id=99999), format="json").status_code == 400


def test_silent_exit_ends_the_run_completed_silent(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    from chat.tests.factories import make_chat_team

    team = make_chat_team(user, fake_llm, "fake-tools-n3", "q")
    template = 'Check the news\n@call silent_exit {"reason": "quiet day"}'
    sub = make_subscription(user, team, name="quiet", prompt_template=template)
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "COMPLETED_SILENT", run
    assert run["result_summary"] == "quiet day"
    # The tool was offered to this run's model, and hidden from the feed by default.
    tools = fake_llm.requests[0].body.get("tools") or []
    assert "silent_exit" in [tool["function"]["name"] for tool in tools]
    assert api.get(f"{URL}/executions").json()["total"] == 0
    sub.refresh_from_db()
    assert (
        sub.success_count == 0 and sub.failure_count == 0 and sub.last_execution_status == "COMPLETED_SILENT"
    )
    from subscriptions import tools as run_tools

    assert run_tools.silenceable == {}  # offered only while that run streamed


def test_a_run_past_its_timeout_is_stopped_and_failed(api, user, fake_llm) -> None:  # type: ignore[no-untyped-def]
    from chat.tests.factories import make_chat_team

    team = make_chat_team(user, fake_llm, "fake-hang", "h")
    sub = make_subscription(user, team, name="slow")
    # The API allows 60 s at least; the mechanism is the same with one second.
    document = {**sub.document, "spec": {**sub.spec, "timeoutSeconds": 1}}
    Subscription.objects.filter(pk=sub.pk).update(document=document)
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "FAILED" and run["error_message"] == "Execution timed out"
    answer = Subtask.objects.get(task_id=run["task_id"], role=Subtask.ASSISTANT)
    assert answer.status == "CANCELLED"


def test_an_executor_run_ends_with_its_task(api, user) -> None:  # type: ignore[no-untyped-def]
    from kinds.tests.factories import bot_doc, ghost_doc, make_kind, model_doc, shell_doc, team_doc
    from tasks.tests.factories import complete

    make_kind(user, ghost_doc("y-ghost"))
    make_kind(user, shell_doc("y-shell", "Agno"))
    make_kind(user, model_doc("y-model"))
    make_kind(user, bot_doc("y-bot", "y-ghost", "y-shell", "y-model"))
    team = make_kind(user, team_doc("y-team", ["y-bot"]))
    sub = make_subscription(user, team, name="exec")
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    assert run["status"] == "RUNNING"
    answer = Subtask.objects.get(task_id=run["task_id"], role=Subtask.ASSISTANT)
    complete(answer, "all done")  # as the executor's progress callback would
    execution = BackgroundExecution.objects.get(pk=run["id"])
    assert execution.status == statuses.COMPLETED and execution.result_summary == "all done"
    sub.refresh_from_db()
    assert sub.success_count == 1


def test_an_executor_run_that_exits_silently_ends_completed_silent(api, user, settings) -> None:  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    from kinds.tests.factories import bot_doc, ghost_doc, make_kind, model_doc, shell_doc, team_doc

    settings.EXECUTOR_TOKEN = "executor-service-token-0123456789"
    make_kind(user, ghost_doc("z-ghost"))
    make_kind(user, shell_doc("z-shell", "ClaudeCode"))
    make_kind(user, model_doc("z-model"))
    make_kind(user, bot_doc("z-bot", "z-ghost", "z-shell", "z-model"))
    team = make_kind(user, team_doc("z-team", ["z-bot"]))
    sub = make_subscription(user, team, name="watch")
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    manager = APIClient()
    manager.credentials(HTTP_AUTHORIZATION="Bearer executor-service-token-0123456789")
    (task,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    assert task["task_id"] == run["task_id"] and task["is_subscription"] is True
    result = {"value": "nothing new", "silent_exit": True, "silent_exit_reason": "no changes upstream"}
    body = {"subtask_id": task["subtask_id"], "status": "COMPLETED", "result": result}
    assert manager.put("/api/executors/tasks", body, format="json").status_code == 200
    execution = BackgroundExecution.objects.get(pk=run["id"])
    assert execution.status == statuses.COMPLETED_SILENT
    assert execution.result_summary == "no changes upstream"
    sub.refresh_from_db()
    assert sub.success_count == 0 and sub.last_execution_status == "COMPLETED_SILENT"


def test_an_executor_pipeline_run_ends_with_its_last_stage(api, user, settings) -> None:  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    from devices.tests.factories import make_code_pipeline

    settings.EXECUTOR_TOKEN = "executor-service-token-0123456789"
    team = make_code_pipeline(user, confirm_first=False)
    sub = make_subscription(user, team, name="staged")
    run = api.post(f"{URL}/{sub.pk}/trigger").json()
    manager = APIClient()
    manager.credentials(HTTP_AUTHORIZATION="Bearer executor-service-token-0123456789")
    for stage, text in (("pp-plan", "the plan"), ("pp-build", "built")):
        (task,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
        assert [bot["name"] for bot in task["bot"]] == [stage]
        body = {"subtask_id": task["subtask_id"], "status": "COMPLETED", "result": {"value": text}}
        assert manager.put("/api/executors/tasks", body, format="json").status_code == 200
        execution = BackgroundExecution.objects.get(pk=run["id"])
        if stage == "pp-plan":  # the task moved on to the next stage: the run goes on
            assert execution.status == statuses.RUNNING
    assert execution.status == statuses.COMPLETED and execution.result_summary == "built"
