"""``/api/v1/responses``: credentials, bad input and other users' ids (nothing reaches a model;
every refusal is a clear 4xx and writes nothing)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.roles import KeyType
from accounts.services import api_keys
from accounts.services.tokens import issue_access_token
from kinds.tests.factories import bot_doc, make_kind, shell_doc, team_doc
from tasks.models import Subtask, TaskResource

pytestmark = pytest.mark.django_db

URL = "/api/v1/responses"


def key_client(raw: str, header: str = "X-API-Key", **extra: str) -> APIClient:
    client = APIClient()
    client.credentials(**{f"HTTP_{header.upper().replace('-', '_')}": raw}, **extra)
    return client


@pytest.fixture
def alice_key(user) -> str:  # type: ignore[no-untyped-def]
    return api_keys.create_key(owner=user, name="alice-key")[1]


@pytest.fixture
def alice(alice_key) -> APIClient:  # type: ignore[no-untyped-def]
    return key_client(alice_key)


def nothing_written() -> bool:
    return not TaskResource.objects.filter(kind="Task").exists() and not Subtask.objects.exists()


@pytest.mark.parametrize(
    "model",
    ["", "team", "default#", "#team", "default##", "a#b#c#d", "default# #x", "default#team#"],
)
def test_malformed_model_strings_are_400(alice, team, model):
    response = alice.post(URL, {"model": model, "input": "hi"}, format="json")
    assert response.status_code == 400, response.content
    assert "Invalid model format" in response.json()["detail"]
    assert nothing_written()


def test_model_of_wrong_type_and_missing_fields_are_422(alice, team):
    for body in ({"model": 5, "input": "hi"}, {"input": "hi"}, {"model": f"default#{team.name}"}):
        response = alice.post(URL, body, format="json")
        assert response.status_code == 422, (body, response.content)
        assert response.json()["error_code"] == 422
    assert nothing_written()


@pytest.mark.parametrize(
    "value",
    [
        5,
        {"role": "user"},
        [{"role": "robot", "content": "x"}],
        [{"role": "user", "content": 7}],
        [{"role": "user", "content": [{"type": "image", "url": "x"}]}],
        ["hello"],
        None,
    ],
)
def test_input_of_a_wrong_type_is_422(alice, team, value):
    response = alice.post(URL, {"model": f"default#{team.name}", "input": value}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["loc"][:2] == ["body", "input"]
    assert nothing_written()


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ([], "No user message found in input"),
        ([{"role": "assistant", "content": "only me"}], "No user message found in input"),
        ("   ", "Input cannot be empty"),
    ],
)
def test_empty_input_is_400(alice, team, value, detail):
    response = alice.post(URL, {"model": f"default#{team.name}", "input": value}, format="json")
    assert response.status_code == 400 and response.json()["detail"] == detail
    assert nothing_written()


def test_body_that_is_not_an_object_is_422(alice):
    response = alice.post(URL, ["model"], format="json")
    assert response.status_code == 422
    response = alice.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 422


def test_unknown_team_and_other_users_team_are_404(alice, other_user, make_user):
    mallory_team = make_kind(other_user, team_doc("their-team", []))
    for model in ("default#nope", f"default#{mallory_team.name}", "somegroup#team"):
        response = alice.post(URL, {"model": model, "input": "hi"}, format="json")
        assert response.status_code == 404, (model, response.content)
        assert "not found or not accessible" in response.json()["detail"]
    assert nothing_written()


def test_unknown_model_and_bot_without_model_are_400(alice, user, team):
    response = alice.post(URL, {"model": f"default#{team.name}#no-such-model", "input": "hi"}, format="json")
    assert response.status_code == 400 and "no-such-model" in response.json()["detail"]
    make_kind(user, shell_doc("bare-shell"))
    make_kind(user, bot_doc("bare-bot", "t-ghost", "bare-shell", None))
    make_kind(user, team_doc("bare-team", ["bare-bot"]))
    response = alice.post(URL, {"model": "default#bare-team", "input": "hi"}, format="json")
    assert response.status_code == 400 and "no model configured" in response.json()["detail"]
    assert nothing_written()


def test_previous_response_id_malformed_or_of_another_user(alice, team, other_user, bot_stack, make_task):
    theirs = make_task(other_user, bot_stack(other_user, "o")["team"], answer="done").task
    for value, status in (("resp_x", 400), ("task_1", 400), ("resp_", 400), (f"resp_{theirs.pk}", 404)):
        body = {"model": f"default#{team.name}", "input": "hi", "previous_response_id": value}
        response = alice.post(URL, body, format="json")
        assert response.status_code == status, (value, response.content)
    body = {"model": f"default#{team.name}", "input": "hi", "previous_response_id": f"resp_{2**70}"}
    assert alice.post(URL, body, format="json").status_code == 400
    assert TaskResource.objects.filter(kind="Task").count() == 1


def test_no_credentials_bad_disabled_and_expired_keys_are_401(user, team, alice_key):
    body = {"model": f"default#{team.name}", "input": "hi"}
    assert APIClient().post(URL, body, format="json").status_code == 401
    assert key_client("wg-not-a-key").post(URL, body, format="json").status_code == 401
    ApiKey.objects.update(is_active=False)
    response = key_client(alice_key).post(URL, body, format="json")
    assert response.status_code == 401 and response.json()["detail"] == "Invalid API key"
    ApiKey.objects.update(is_active=True, expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = key_client(alice_key).post(URL, body, format="json")
    assert response.status_code == 401 and response.json()["detail"] == "API key has expired"
    for route in (f"{URL}/resp_1", f"{URL}/resp_1/cancel"):
        assert APIClient().get(route).status_code in (401, 405)
        assert APIClient().post(route).status_code in (401, 405)
    assert APIClient().delete(f"{URL}/resp_1").status_code == 401
    assert nothing_written()


def test_jwt_of_a_deleted_user_is_401(user, team):
    token = issue_access_token(user)
    user.delete()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post(URL, {"model": "default#x", "input": "hi"}, format="json")
    assert response.status_code == 401


def test_service_key_acts_as_the_named_user_and_creates_them(admin_user, db):
    raw = api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)[1]
    # No user named: 401 (credentials incomplete); a bad name: 400; an unknown one is created.
    response = key_client(raw).post(URL, {"model": "default#t-team", "input": "hi"}, format="json")
    assert response.status_code == 401
    response = key_client(raw, HTTP_WEGENT_USERNAME="bad name!").post(
        URL, {"model": "default#t", "input": "hi"}, format="json"
    )
    assert response.status_code == 400
    response = key_client(f"{raw}#carol").post(URL, {"model": "default#t-team", "input": "hi"}, format="json")
    assert response.status_code == 404  # carol exists now, with no such team
    from accounts.models import User

    carol = User.objects.get(user_name="carol")
    assert carol.email == "carol@api.auto" and carol.auth_source == "api:svc"


def test_other_users_response_is_404_on_every_route(alice, other_user, bot_stack, make_task):
    theirs = make_task(other_user, bot_stack(other_user, "o")["team"], answer="done").task
    rid = f"resp_{theirs.pk}"
    for response in (
        alice.get(f"{URL}/{rid}"),
        alice.get(f"{URL}/{rid}?stream=true"),
        alice.post(f"{URL}/{rid}/cancel"),
        alice.delete(f"{URL}/{rid}"),
        alice.get(f"{URL}/resp_999999"),
        alice.get(f"{URL}/resp_abc"),
        alice.get(f"{URL}/resp_{2**70}"),
        alice.delete(f"{URL}/nonsense"),
    ):
        assert response.status_code == 404, response.content
    theirs.refresh_from_db()
    assert theirs.is_active


def test_replay_query_must_be_valid(alice, user, team, make_task):
    task = make_task(user, team, answer="done").task
    assert alice.get(f"{URL}/resp_{task.pk}?stream=maybe").status_code == 422
    assert alice.get(f"{URL}/resp_{task.pk}?stream=true&starting_after=x").status_code == 422
    assert alice.get(f"{URL}/resp_{task.pk}?stream=true&starting_after=-5").status_code == 422


def test_retrieve_and_delete_a_stored_task(alice, user, team, make_task):
    task = make_task(user, team, answer="the answer").task
    body = alice.get(f"{URL}/resp_{task.pk}").json()
    assert body["id"] == f"resp_{task.pk}" and body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == "the answer"
    assert body["model"] == f"default#{team.name}"
    response = alice.delete(f"{URL}/resp_{task.pk}")
    assert response.json() == {"id": f"resp_{task.pk}", "object": "response", "deleted": True}
    assert alice.get(f"{URL}/resp_{task.pk}").status_code == 404


def test_rate_limits_answer_429_with_retry_after(alice, user, team, make_task, settings):
    settings.RESPONSES_RATE_LIMITS = {**settings.RESPONSES_RATE_LIMITS, "responses_get": "2/min"}
    task = make_task(user, team, answer="x").task
    assert [alice.get(f"{URL}/resp_{task.pk}").status_code for _ in range(2)] == [200, 200]
    refused = alice.get(f"{URL}/resp_{task.pk}")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    # Per key: another key of the same user has its own budget.
    other = key_client(api_keys.create_key(owner=user, name="second")[1])
    assert other.get(f"{URL}/resp_{task.pk}").status_code == 200
    # Delete has its own limit (not spent by the reads).
    assert alice.delete(f"{URL}/resp_{task.pk}").status_code == 200


def test_create_and_cancel_limits_are_their_own(alice, user, team, make_task, settings):
    settings.RESPONSES_RATE_LIMITS = {
        **settings.RESPONSES_RATE_LIMITS,
        "responses_create": "1/min",
        "responses_cancel": "1/min",
    }
    bad = {"model": "bad", "input": "hi"}  # counted, though refused (as the reference's limiter)
    assert alice.post(URL, bad, format="json").status_code == 400
    refused = alice.post(URL, {"model": f"default#{team.name}", "input": "hi"}, format="json")
    assert refused.status_code == 429 and "Retry-After" in refused
    assert nothing_written()
    task = make_task(user, team, answer="x").task
    assert alice.post(f"{URL}/resp_{task.pk}/cancel").status_code == 200
    assert alice.post(f"{URL}/resp_{task.pk}/cancel").status_code == 429
    assert alice.get(f"{URL}/resp_{task.pk}").status_code == 200


def test_a_limit_can_be_turned_off(alice, team, settings):
    limits = settings.RESPONSES_RATE_LIMITS
    settings.RESPONSES_RATE_LIMITS = {**limits, "responses_create": "1/min"}
    codes = [alice.post(URL, {"model": "bad", "input": "hi"}, format="json").status_code for _ in range(2)]
    assert codes == [400, 429]
    settings.RESPONSES_RATE_LIMITS = {**limits, "responses_create": ""}
    for _ in range(3):
        assert alice.post(URL, {"model": "bad", "input": "hi"}, format="json").status_code == 400


def test_feeds_of_ended_answers_are_kept_within_bounds(settings, monkeypatch):
    from chat import response_feed

    settings.REDIS_URL = ""
    monkeypatch.setattr(response_feed, "MAX_ENDED_FEEDS", 2)
    monkeypatch.setattr(response_feed, "_feeds", {})
    feeds = []
    for task_id in range(1, 5):
        feed = response_feed.Feed(
            task_id=task_id,
            subtask_id=task_id,
            created_at=0,
            model="m",
            previous_response_id=None,
            background=False,
        )
        feed.delta("x")
        feed.ended_with("completed")
        response_feed.register(feed)
        feeds.append(feed)
    running = response_feed.Feed(
        task_id=9, subtask_id=9, created_at=0, model="m", previous_response_id=None, background=False
    )
    response_feed.register(running)
    # The two newest ended feeds and the running one stay; the oldest went.
    assert sorted(response_feed._feeds) == [3, 4, 9]
    assert response_feed.local(4, 4) is feeds[3] and response_feed.local(4, 5) is None
    import orjson

    events = [orjson.loads(frame.removeprefix(b"data: ")) for frame in feeds[0].frames]
    assert events[4] == {
        "type": "response.output_text.delta",
        "sequence_number": 4,
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "x",
    }
    assert [e["sequence_number"] for e in events] == list(range(9))
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "x"


def test_key_headers_in_the_reference_order(user, team, alice_key, admin_user):
    body = {"model": "default#nope", "input": "hi"}  # 404 once authenticated: nothing written
    assert key_client(alice_key, "wegent-source").post(URL, body, format="json").status_code == 404
    assert key_client(alice_key, "Authorization").post(URL, body, format="json").status_code == 401
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    assert bearer.post(URL, body, format="json").status_code == 404
    # X-API-Key wins over a bad Bearer value.
    both = APIClient()
    both.credentials(HTTP_X_API_KEY=alice_key, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert both.post(URL, body, format="json").status_code == 404
    # A service key names its user with the wegent-username header too (created on first use).
    raw = api_keys.create_key(owner=admin_user, name="svc2", key_type=KeyType.SERVICE)[1]
    client = key_client(raw, HTTP_WEGENT_USERNAME="dave")
    assert client.post(URL, body, format="json").status_code == 404
    from accounts.models import User

    assert User.objects.get(user_name="dave").auth_source == "api:svc2"
    assert nothing_written()
