"""The market: browse, rent (a private copy that runs the source's hidden prompt and team)."""

from __future__ import annotations

import pytest

from subscriptions.models import BackgroundExecution, Subscription
from subscriptions.tests.factories import make_subscription

pytestmark = pytest.mark.django_db(transaction=True)
MARKET = "/api/market"


def _rent_body(**fields):  # type: ignore[no-untyped-def]
    return {
        "name": "my-copy",
        "display_name": "My copy",
        "trigger_type": "cron",
        "trigger_config": {"expression": "0 7 * * *", "timezone": "Europe/Paris"},
        **fields,
    }


def test_browse_rent_and_run_with_the_hidden_prompt(
    api, client_for, other_user, user, chat_team, fake_llm
) -> None:  # type: ignore[no-untyped-def]
    source = make_subscription(
        user,
        chat_team,
        name="secret-sauce",
        visibility="market",
        prompt_template="The secret recipe for {{date}}",
    )
    make_subscription(user, chat_team, name="private-one")
    bob = client_for(other_user)
    listed = bob.get(f"{MARKET}/subscriptions").json()
    assert listed["total"] == 1 and listed["items"][0]["is_rented"] is False
    assert "prompt" not in str(listed["items"][0].keys())
    assert listed["items"][0]["trigger_description"] == "cron 0 9 * * * (Asia/Shanghai)"
    assert bob.get(f"{MARKET}/subscriptions/{source.pk}").json()["owner_username"] == "alice"

    rented = bob.post(f"{MARKET}/subscriptions/{source.pk}/rent", _rent_body(), format="json")
    assert rented.status_code == 201, rented.content
    data = rented.json()
    assert data["is_rental"] is True and data["source_subscription_id"] == source.pk
    assert "secret" not in data["prompt_template"] and data["source_owner_username"] == "alice"
    assert data["next_execution_time"] is not None
    assert bob.get(f"{MARKET}/subscriptions/{source.pk}/rental-count").json()["rental_count"] == 1
    assert bob.get(f"{MARKET}/subscriptions/{source.pk}").json()["is_rented"] is True
    assert bob.get(f"{MARKET}/users/me/rentals").json()["total"] == 1
    assert (
        bob.post(
            f"{MARKET}/subscriptions/{source.pk}/rent", _rent_body(name="again"), format="json"
        ).status_code
        == 400
    )

    # The rental runs the source's prompt on the source's team; the renter's view hides it.
    run = bob.post(f"/api/subscriptions/{data['id']}/trigger").json()
    assert run["status"] == "COMPLETED", run
    assert run["prompt"] == ""
    execution = BackgroundExecution.objects.get(pk=run["id"])
    assert execution.prompt.startswith("The secret recipe for ")
    assert fake_llm.requests[-1].body["messages"][-1]["content"].startswith("The secret recipe")


def test_rent_refusals(api, client_for, other_user, user, chat_team) -> None:  # type: ignore[no-untyped-def]
    source = make_subscription(user, chat_team, name="m", visibility="market")
    private = make_subscription(user, chat_team, name="p")
    bob = client_for(other_user)
    assert (
        api.post(f"{MARKET}/subscriptions/{source.pk}/rent", _rent_body(), format="json").status_code == 400
    )
    assert (
        bob.post(f"{MARKET}/subscriptions/{private.pk}/rent", _rent_body(), format="json").status_code == 404
    )
    assert bob.post(f"{MARKET}/subscriptions/999999/rent", _rent_body(), format="json").status_code == 404
    bad = _rent_body(trigger_config={"expression": "nope"})
    assert bob.post(f"{MARKET}/subscriptions/{source.pk}/rent", bad, format="json").status_code == 422
    assert bob.post(f"{MARKET}/subscriptions/{source.pk}/rent", {}, format="json").status_code == 422
    assert bob.get(f"{MARKET}/subscriptions", {"limit": 1000}).status_code == 422
    assert Subscription.objects.filter(owner=other_user).count() == 0
    source.refresh_from_db()
    assert source.rental_count == 0


def test_market_needs_credentials(anon_client) -> None:  # type: ignore[no-untyped-def]
    assert anon_client.get(f"{MARKET}/subscriptions").status_code == 401
    assert anon_client.post(f"{MARKET}/subscriptions/1/rent", {}, format="json").status_code == 401


def test_a_rental_edits_its_schedule_and_fails_visibly_when_the_source_is_gone(
    api, client_for, other_user, user, chat_team
) -> None:  # type: ignore[no-untyped-def]
    from subscriptions.services import executions
    from subscriptions.services import subscriptions as service

    source = make_subscription(user, chat_team, name="m", visibility="market")
    bob = client_for(other_user)
    rental_id = bob.post(f"{MARKET}/subscriptions/{source.pk}/rent", _rent_body(), format="json").json()["id"]
    changed = bob.put(
        f"/api/subscriptions/{rental_id}",
        {
            "trigger_type": "interval",
            "trigger_config": {"value": 1, "unit": "hours"},
            "display_name": "Hourly",
        },
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["display_name"] == "Hourly" and changed.json()["is_rental"] is True
    service.delete(actor=user, subscription_id=source.pk)
    execution = executions.fire_scheduled(rental_id)
    assert execution is not None and execution.status == "FAILED"
    assert "no longer available" in execution.error_message
    assert bob.post(f"/api/subscriptions/{rental_id}/trigger").status_code == 400


def _no_secret_in_the_renters_task(bob, task_id: int) -> None:  # type: ignore[no-untyped-def]
    from tasks.models import Subtask, TaskResource

    detail = bob.get(f"/api/tasks/{task_id}")
    assert detail.status_code == 200
    assert "secret" not in detail.text.lower()
    assert "secret" not in bob.get("/api/tasks?limit=50").text.lower()
    task = TaskResource.objects.get(pk=task_id)
    assert "secret" not in str(task.document).lower()
    question = Subtask.objects.get(task_id=task_id, role="USER")
    assert question.prompt.startswith("Scheduled run of My copy")
    assert all("secret" not in (row.prompt + row.title).lower() for row in Subtask.objects.filter(task=task))


def test_the_renters_run_task_never_holds_the_source_prompt(
    api, client_for, other_user, user, fake_llm
) -> None:  # type: ignore[no-untyped-def]
    from subscriptions.tests.test_team_runs import make_team

    team = make_team(user, fake_llm, "pipeline", [("plan", "fake-n2", {}), ("build", "fake-n3", {})])
    source = make_subscription(
        user, team, name="secret-sauce", visibility="market", prompt_template="The secret recipe for {{date}}"
    )
    bob = client_for(other_user)
    rental = bob.post(f"{MARKET}/subscriptions/{source.pk}/rent", _rent_body(), format="json").json()
    run = bob.post(f"/api/subscriptions/{rental['id']}/trigger").json()
    assert run["status"] == "COMPLETED", run
    _no_secret_in_the_renters_task(bob, run["task_id"])
    # Both stages' models read the source's prompt in place of the stand-in.
    for model in ("fake-n2", "fake-n3"):
        asked = [r.body for r in fake_llm.requests if isinstance(r.body, dict)]
        body = next((b for b in asked if b.get("model") == model), None)
        assert body is not None, [(b.get("model"), run) for b in asked]
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        assert str(users[-1]).startswith("The secret recipe for "), users
    # The owner's own runs show their prompt as usual.
    own = api.post(f"/api/subscriptions/{source.pk}/trigger").json()
    assert "The secret recipe" in api.get(f"/api/tasks/{own['task_id']}").text


def test_an_executor_gets_the_rentals_hidden_prompt(client_for, other_user, user, settings) -> None:  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    from kinds.tests.factories import bot_doc, ghost_doc, make_kind, model_doc, shell_doc, team_doc

    settings.EXECUTOR_TOKEN = "executor-service-token-0123456789"
    make_kind(user, ghost_doc("y-ghost"))
    make_kind(user, shell_doc("y-shell", "ClaudeCode"))
    make_kind(user, model_doc("y-model"))
    make_kind(user, bot_doc("y-bot", "y-ghost", "y-shell", "y-model"))
    team = make_kind(user, team_doc("y-team", ["y-bot"]))
    source = make_subscription(
        user, team, name="secret-code", visibility="market", prompt_template="The secret refactor of {{date}}"
    )
    bob = client_for(other_user)
    rental = bob.post(f"{MARKET}/subscriptions/{source.pk}/rent", _rent_body(), format="json").json()
    run = bob.post(f"/api/subscriptions/{rental['id']}/trigger").json()
    assert run["status"] == "RUNNING", run
    _no_secret_in_the_renters_task(bob, run["task_id"])
    manager = APIClient()
    manager.credentials(HTTP_AUTHORIZATION="Bearer executor-service-token-0123456789")
    (task,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    assert task["task_id"] == run["task_id"] and task["prompt"].startswith("The secret refactor of ")
    assert task["is_subscription"] is True
