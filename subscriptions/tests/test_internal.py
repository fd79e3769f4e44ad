"""``POST /api/internal/subscriptions``: the service token, never open access."""

from __future__ import annotations

import pytest
from django.test import override_settings

from subscriptions.models import Subscription
from subscriptions.tests.factories import body

pytestmark = pytest.mark.django_db
URL = "/api/internal/subscriptions"


@override_settings(INTERNAL_SERVICE_TOKEN="svc-token-123")
def test_a_service_creates_a_subscription_for_a_user(anon_client, api, user, team) -> None:  # type: ignore[no-untyped-def]
    ok = anon_client.post(
        f"{URL}?user_id={user.pk}", body(team), format="json", HTTP_AUTHORIZATION="Bearer svc-token-123"
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["user_id"] == user.pk and api.get("/api/subscriptions").json()["total"] == 1
    assert anon_client.post(f"{URL}?user_id={user.pk}", body(team, "x"), format="json").status_code == 401
    wrong = anon_client.post(
        f"{URL}?user_id={user.pk}", body(team, "y"), format="json", HTTP_AUTHORIZATION="Bearer nope"
    )
    assert wrong.status_code == 401
    # A user's own token is not a service token.
    assert api.post(f"{URL}?user_id={user.pk}", body(team, "z"), format="json").status_code == 401
    headers = {"HTTP_X_SERVICE_TOKEN": "svc-token-123"}
    assert (
        anon_client.post(f"{URL}?user_id=999999", body(team, "w"), format="json", **headers).status_code
        == 404
    )
    assert anon_client.post(URL, body(team, "v"), format="json", **headers).status_code == 422
    assert Subscription.objects.count() == 1


@override_settings(INTERNAL_SERVICE_TOKEN="")
def test_without_a_configured_token_the_route_is_closed(anon_client, user, team) -> None:  # type: ignore[no-untyped-def]
    response = anon_client.post(
        f"{URL}?user_id={user.pk}", body(team), format="json", HTTP_AUTHORIZATION="Bearer "
    )
    assert response.status_code == 401 and not Subscription.objects.exists()
