"""``/api/subscriptions`` CRUD, toggle, the beat entry kept in step, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from subscriptions.models import BackgroundExecution, Subscription
from subscriptions.tests.factories import body, make_subscription

pytestmark = pytest.mark.django_db
URL = "/api/subscriptions"


def _beat_entries() -> list[PeriodicTask]:
    return list(PeriodicTask.objects.filter(task="subscriptions.fire"))


def test_create_cron_makes_one_beat_entry_in_its_time_zone(api, team) -> None:  # type: ignore[no-untyped-def]
    response = api.post(URL, body(team), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["name"] == "daily" and data["trigger_type"] == "cron" and data["enabled"] is True
    assert data["trigger_config"] == {"expression": "0 9 * * *", "timezone": "Asia/Shanghai"}
    # 09:00 in Shanghai is 01:00 UTC (reference §2.4).
    assert data["next_execution_time"].endswith("T01:00:00Z")
    assert data["webhook_url"] is None and data["owner_username"] == "alice"
    (entry,) = _beat_entries()
    assert entry.crontab.hour == "9" and str(entry.crontab.timezone) == "Asia/Shanghai"
    assert entry.args == f"[{data['id']}]"
    assert Subscription.objects.get(pk=data["id"]).periodic_task_id == entry.pk


def test_interval_and_one_time_schedules(api, team) -> None:  # type: ignore[no-untyped-def]
    interval = api.post(
        URL,
        body(team, "every", trigger_type="interval", trigger_config={"value": 2, "unit": "hours"}),
        format="json",
    )
    assert interval.status_code == 201, interval.content
    one = api.post(
        URL,
        body(
            team,
            "once",
            trigger_type="one_time",
            trigger_config={"execute_at": "2999-01-01T08:00:00", "timezone": "Asia/Tokyo"},
        ),
        format="json",
    )
    assert one.status_code == 201, one.content
    assert one.json()["next_execution_time"] == "2998-12-31T23:00:00Z"
    entries = {e.name: e for e in _beat_entries()}
    assert entries[f"subscription:{interval.json()['id']}"].interval.every == 7200
    clocked = entries[f"subscription:{one.json()['id']}"]
    assert clocked.one_off and clocked.clocked is not None


def test_webhook_subscription_has_a_url_and_secret_and_no_beat_entry(api, team) -> None:  # type: ignore[no-untyped-def]
    response = api.post(
        URL, body(team, "hook", trigger_type="event", trigger_config={"event_type": "webhook"}), format="json"
    )
    assert response.status_code == 201
    data = response.json()
    assert data["webhook_url"].startswith("/api/subscriptions/webhook/") and data["webhook_secret"]
    assert data["next_execution_time"] is None
    assert _beat_entries() == []


def test_list_get_update_toggle_delete(api, team) -> None:  # type: ignore[no-untyped-def]
    sub_id = api.post(URL, body(team), format="json").json()["id"]
    listed = api.get(URL).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == sub_id
    assert api.get(URL, {"enabled": "false"}).json()["total"] == 0
    assert api.get(URL, {"trigger_type": "interval"}).json()["total"] == 0
    assert api.get(f"{URL}/{sub_id}").json()["display_name"] == "Daily digest"

    updated = api.put(
        f"{URL}/{sub_id}",
        {"trigger_type": "interval", "trigger_config": {"value": 5, "unit": "minutes"}},
        format="json",
    )
    assert updated.status_code == 200, updated.content
    assert updated.json()["trigger_type"] == "interval"
    (entry,) = _beat_entries()
    assert entry.interval.every == 300 and entry.crontab is None

    off = api.post(f"{URL}/{sub_id}/toggle?enabled=false")
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert off.json()["next_execution_time"] is None and _beat_entries() == []
    on = api.post(f"{URL}/{sub_id}/toggle?enabled=true")
    assert on.json()["enabled"] is True and len(_beat_entries()) == 1

    assert api.delete(f"{URL}/{sub_id}").status_code == 204
    assert _beat_entries() == []
    assert api.get(f"{URL}/{sub_id}").status_code == 404
    row = Subscription.objects.get(pk=sub_id)
    assert not row.is_active and not row.enabled  # soft delete
    # The name is free again.
    assert api.post(URL, body(team), format="json").status_code == 201


def test_deleting_a_one_time_subscription_removes_its_clocked_schedule(api, team) -> None:  # type: ignore[no-untyped-def]
    sub_id = api.post(
        URL,
        body(team, "once", trigger_type="one_time", trigger_config={"execute_at": "2999-01-01T00:00:00Z"}),
        format="json",
    ).json()["id"]
    assert ClockedSchedule.objects.count() == 1
    api.delete(f"{URL}/{sub_id}")
    assert ClockedSchedule.objects.count() == 0 and _beat_entries() == []


def test_requires_credentials(anon_client) -> None:  # type: ignore[no-untyped-def]
    assert anon_client.get(URL).status_code == 401
    assert anon_client.post(URL, {}, format="json").status_code == 401
    assert anon_client.get(f"{URL}/executions").status_code == 401
    bad = anon_client.get(URL, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert bad.status_code == 401


def test_another_users_subscription_is_not_found_on_every_route(
    api, client_for, other_user, user, team
) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, team)
    bob = client_for(other_user)
    base = f"{URL}/{sub.pk}"
    assert bob.get(base).status_code == 404
    assert bob.put(base, {"display_name": "mine"}, format="json").status_code == 404
    assert bob.delete(base).status_code == 404
    assert bob.post(f"{base}/toggle?enabled=false").status_code == 404
    assert bob.post(f"{base}/trigger").status_code == 404
    assert bob.get(URL).json()["total"] == 0
    sub.refresh_from_db()
    assert sub.is_active and sub.enabled and sub.display_name == "Daily digest"
    assert not BackgroundExecution.objects.exists()


BAD_INPUT: list[tuple[dict[str, Any], int]] = [
    ({"trigger_config": {"expression": "61 * * * *"}}, 422),
    ({"trigger_config": {"expression": "* * *"}}, 422),
    ({"trigger_config": {"expression": "0 9 * * *", "timezone": "Mars/Base"}}, 422),
    ({"trigger_type": "interval", "trigger_config": {"value": 0, "unit": "minutes"}}, 422),
    ({"trigger_type": "interval", "trigger_config": {"value": 5, "unit": "weeks"}}, 422),
    ({"trigger_type": "one_time", "trigger_config": {"execute_at": "2001-01-01T00:00:00Z"}}, 422),
    ({"trigger_type": "one_time", "trigger_config": {"execute_at": "tomorrow"}}, 422),
    ({"trigger_type": "event", "trigger_config": {"event_type": "email"}}, 422),
    ({"trigger_type": "weekly"}, 422),
    ({"trigger_config": "0 9 * * *"}, 422),
    ({"prompt_template": "Hello {{user_secret}}"}, 422),
    ({"prompt_template": "   "}, 422),
    ({"name": "Not A Name"}, 422),
    ({"retry_count": 4}, 422),
    ({"timeout_seconds": 59}, 422),
    ({"history_message_count": 51}, 422),
    ({"team_id": "1"}, 422),
    ({"team_id": 2**63}, 422),
    ({"namespace": "some-group"}, 400),
    ({"model_ref": {"name": "no-such-model"}}, 400),
    ({"knowledge_base_refs": [{"name": "no-such-kb"}]}, 400),
    ({"knowledge_base_refs": "kb"}, 422),
    ({"workspace_id": 12345}, 400),
    ({"git_repo": ["x"]}, 422),
]


@pytest.mark.parametrize(("fields", "status"), BAD_INPUT)
def test_bad_input_is_refused_and_nothing_is_written(api, team, fields, status) -> None:  # type: ignore[no-untyped-def]
    response = api.post(URL, body(team, **fields), format="json")
    assert response.status_code == status, response.content
    assert "detail" in response.json()
    assert not Subscription.objects.exists() and _beat_entries() == []


def test_a_team_the_user_cannot_use_is_refused(api, other_user) -> None:  # type: ignore[no-untyped-def]
    from kinds.tests.factories import bot_stack

    bobs_team = bot_stack(other_user, "b")["team"]
    response = api.post(URL, body(bobs_team), format="json")
    assert response.status_code == 400 and "Team" in response.json()["detail"]
    assert not Subscription.objects.exists() and _beat_entries() == []


def test_bad_update_changes_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    sub_id = api.post(URL, body(team), format="json").json()["id"]
    (entry,) = _beat_entries()
    response = api.put(
        f"{URL}/{sub_id}", {"trigger_type": "interval", "trigger_config": {"value": 0}}, format="json"
    )
    assert response.status_code == 422
    row = Subscription.objects.get(pk=sub_id)
    assert row.trigger_type == "cron" and row.periodic_task_id == entry.pk
    assert [e.pk for e in _beat_entries()] == [entry.pk] and _beat_entries()[0].crontab is not None


def test_duplicate_name_is_refused(api, team) -> None:  # type: ignore[no-untyped-def]
    assert api.post(URL, body(team), format="json").status_code == 201
    response = api.post(URL, body(team), format="json")
    assert response.status_code == 400
    assert Subscription.objects.count() == 1 and len(_beat_entries()) == 1


def test_toggle_needs_a_boolean(api, team) -> None:  # type: ignore[no-untyped-def]
    sub_id = api.post(URL, body(team), format="json").json()["id"]
    assert api.post(f"{URL}/{sub_id}/toggle?enabled=maybe").status_code == 422
    assert api.post(f"{URL}/{sub_id}/toggle").status_code == 422


def test_big_ids_are_not_found(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get(f"{URL}/{2**70}").status_code in (400, 404)
    assert api.get(f"{URL}/executions/{2**70}").status_code in (400, 404)
