"""``POST /api/subscriptions/webhook/{token}``: no login, HMAC-SHA256 signature, size limit,
``{{webhook_data}}``, replayed deliveries make one execution."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from subscriptions.models import BackgroundExecution
from subscriptions.services.webhooks import signature_for
from subscriptions.tests.factories import make_subscription

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hook(user, chat_team):  # type: ignore[no-untyped-def]
    sub = make_subscription(
        user,
        chat_team,
        name="hook",
        trigger_type="event",
        trigger_config={"event_type": "webhook"},
        prompt_template="Handle {{webhook_data}}",
    )
    from subscriptions.services.subscriptions import webhook_secret

    return sub, f"/api/subscriptions/webhook/{sub.webhook_token}", webhook_secret(sub)


def _post(client, url, payload, secret=None, signature=None):  # type: ignore[no-untyped-def]
    raw = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    headers = {}
    if signature is not None:
        headers["HTTP_X_WEBHOOK_SIGNATURE"] = signature
    elif secret is not None:
        headers["HTTP_X_WEBHOOK_SIGNATURE"] = signature_for(raw, secret)
    return client.post(url, raw, content_type="application/json", **headers)


def test_a_signed_delivery_runs_with_the_body_as_webhook_data(anon_client, hook) -> None:  # type: ignore[no-untyped-def]
    _, url, secret = hook
    response = _post(anon_client, url, {"ref": "main", "n": 1}, secret)
    assert response.status_code == 200, response.content
    assert response.json()["duplicate"] is False
    execution = BackgroundExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.trigger_type == "webhook"
    assert execution.prompt == 'Handle {"ref": "main", "n": 1}'
    assert execution.status == "COMPLETED", execution.error_message


def test_bad_or_missing_signature_is_401_and_creates_nothing(anon_client, hook) -> None:  # type: ignore[no-untyped-def]
    _, url, secret = hook
    assert _post(anon_client, url, {"a": 1}).status_code == 401
    assert _post(anon_client, url, {"a": 1}, signature="sha256=" + "0" * 64).status_code == 401
    assert _post(anon_client, url, {"a": 1}, signature=signature_for(b"other", secret)).status_code == 401
    assert _post(anon_client, url, {"a": 1}, signature="garbage").status_code == 401
    assert not BackgroundExecution.objects.exists()


def test_a_replayed_delivery_creates_one_execution(anon_client, hook) -> None:  # type: ignore[no-untyped-def]
    _, url, secret = hook
    first = _post(anon_client, url, {"id": 7}, secret).json()
    replay = _post(anon_client, url, {"id": 7}, secret).json()
    assert replay["duplicate"] is True and replay["execution_id"] == first["execution_id"]
    other = _post(anon_client, url, {"id": 8}, secret).json()
    assert other["duplicate"] is False
    assert BackgroundExecution.objects.count() == 2


def test_unknown_disabled_or_deleted_webhooks_are_404(anon_client, api, hook) -> None:  # type: ignore[no-untyped-def]
    sub, url, secret = hook
    assert _post(anon_client, "/api/subscriptions/webhook/nope", {}, secret).status_code == 404
    assert _post(anon_client, "/api/subscriptions/webhook/" + "x" * 300, {}, secret).status_code == 404
    api.post(f"/api/subscriptions/{sub.pk}/toggle?enabled=false")
    assert _post(anon_client, url, {"a": 1}, secret).status_code == 404
    api.post(f"/api/subscriptions/{sub.pk}/toggle?enabled=true")
    api.delete(f"/api/subscriptions/{sub.pk}")
    assert _post(anon_client, url, {"a": 2}, secret).status_code == 404
    assert not BackgroundExecution.objects.exists()


@override_settings(SUBSCRIPTION_WEBHOOK_MAX_BYTES=100)
def test_oversized_or_non_json_bodies_are_refused(anon_client, hook) -> None:  # type: ignore[no-untyped-def]
    _, url, secret = hook
    big = _post(anon_client, url, {"data": "x" * 200}, secret)
    assert big.status_code == 413
    broken = _post(anon_client, url, b"{not json", secret)
    assert broken.status_code == 400
    assert not BackgroundExecution.objects.exists()
