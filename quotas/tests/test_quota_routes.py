"""``/api/quota/...``: the frontend's ``/quota/claude/quota`` ({} with no quota, as the
reference's stub; the figures once a quota applies), ``/quota/me``, the REST 429."""

from __future__ import annotations

import pytest

from quotas.tests.factories import make_quota
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle
from tasks.tests.factories import make_task
from tasks.tests.test_task_extras import pipeline, waiting  # noqa: F401 (fixtures)
from tasks.tests.test_task_extras import url as stage_url

pytestmark = pytest.mark.django_db


def test_quota_answers_an_empty_object_without_a_quota(api):
    for path in ("/api/quota/claude/quota", "/api/quota/anything/else/deep"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert response.json() == {}
    assert api.get("/api/quota/me").json() == {"quotas": []}


def test_frontend_quota_reports_the_tightest_quota(api, user, team):
    make_quota(user=user, period="month", max_requests=10)
    make_quota(user=user, period="day", max_tokens=1000)
    turn = make_task(user, team)
    lifecycle.update_subtask(turn.assistant_subtask.pk, lifecycle.SubtaskChanges(usage=(300, 100)))
    body = api.get("/api/quota/claude/quota").json()
    assert body["quota_source"] == "wegent"
    data = body["data"]
    # 400 of 1000 tokens today (40 %) is tighter than 1 of 10 answers this month (10 %).
    assert (data["quota"], data["usage"], data["remaining"], data["usage_rate"]) == (1000, 400, 600, 0.4)
    assert data["unit"] == "tokens" and data["period"] == "day" and data["user"] == "alice"
    assert data["open"] is True and data["reset_at"].endswith("T00:00:00+00:00")
    assert data["user_quota_detail"] == {
        "demand_quota": 0,
        "monthly_quota": 0,  # no monthly token quota
        "monthly_usage": 0,
        "permanent_quota": 0,
        "permanent_usage": 0,
        "task_quota": 0,
    }


def test_my_quotas_lists_each_with_its_usage(api, user, other_user, team):
    mine = make_quota(user=user, period="day", max_requests=3)
    make_quota(user=other_user, period="day", max_requests=1)  # not alice's
    make_task(user, team)
    (figure,) = api.get("/api/quota/me").json()["quotas"]
    assert figure["id"] == mine.pk and figure["scope"] == "user" and figure["group"] is None
    assert (figure["used_requests"], figure["used_tokens"], figure["exceeded"]) == (1, 0, False)
    assert figure["max_requests"] == 3 and figure["max_tokens"] is None


def test_quota_needs_credentials(anon_client, client_for, user):
    bad_token = client_for(user)
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    for client in (anon_client, bad_token):
        for path in ("/api/quota/claude/quota", "/api/quota/me", "/api/quota/x"):
            assert client.get(path).status_code == 401


def test_quota_is_read_only(api):
    for path in ("/api/quota/claude/quota", "/api/quota/me", "/api/quota/x"):
        assert api.post(path, {}, format="json").status_code == 405


def test_openapi_describes_quota(anon_client):
    paths = anon_client.get("/api/openapi.json").json()["paths"]
    assert "get" in paths["/api/quota/{path}"]
    assert "get" in paths["/api/quota/claude/quota"] and "get" in paths["/api/quota/me"]


def test_rest_task_creation_over_quota_is_429_with_the_reset_and_writes_nothing(api, user, team):
    make_quota(user=user, period="day", max_requests=1)
    assert (
        api.post("/api/tasks/create", {"prompt": "one", "team_id": team.pk}, format="json").status_code == 201
    )
    counts = (TaskResource.objects.count(), Subtask.objects.count())
    response = api.post("/api/tasks/create", {"prompt": "two", "team_id": team.pk}, format="json")
    assert response.status_code == 429
    body = response.json()
    assert body["error_code"] == "quota_exceeded" and "resets at" in body["detail"]
    assert int(response["Retry-After"]) == body["retry_after"] > 0
    assert body["reset_at"].endswith("T00:00:00+00:00") and body["quota"]["used_requests"] == 1
    assert (TaskResource.objects.count(), Subtask.objects.count()) == counts


def test_kind_api_task_create_over_quota_is_429_and_writes_nothing(api, user, team):
    from tasks.tests.test_kind_api_tasks import BASE, task_doc, workspace_doc

    make_quota(user=user, period="day", max_requests=1)
    assert api.post(f"{BASE}/workspaces", workspace_doc(), format="json").status_code == 201
    assert api.post(f"{BASE}/tasks", task_doc("first"), format="json").status_code == 201
    counts = (TaskResource.objects.count(), Subtask.objects.count())
    refused = api.post(f"{BASE}/tasks", task_doc("second"), format="json")
    assert refused.status_code == 429 and refused.json()["error_code"] == "quota_exceeded"
    assert int(refused["Retry-After"]) > 0
    assert (TaskResource.objects.count(), Subtask.objects.count()) == counts


def test_confirming_a_pipeline_stage_over_quota_is_429_and_writes_nothing(api, user, waiting):  # noqa: F811
    """The next stage's answer is a new answer: the gate refuses it, the stage keeps waiting."""
    make_quota(user=user, period="day", max_requests=1)  # the first stage's answer used it
    counts = (Subtask.objects.count(), TaskResource.objects.get(pk=waiting.pk).status)
    response = api.post(
        stage_url(waiting, "confirm-stage"),
        {"confirmed_prompt": "Build it", "action": "continue"},
        format="json",
    )
    assert response.status_code == 429 and response.json()["error_code"] == "quota_exceeded"
    assert (Subtask.objects.count(), TaskResource.objects.get(pk=waiting.pk).status) == counts
