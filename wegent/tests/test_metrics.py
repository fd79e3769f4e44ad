"""``/metrics``: who may read it, and that it counts requests, login failures and chat streams."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from wegent.tests.helpers import metric_sample as sample

pytestmark = pytest.mark.django_db


def read(client: Client, **extra: Any) -> str:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_requests_are_counted_by_route_pattern_not_raw_path(client: Client) -> None:
    before = read(client)
    client.get("/api/health")
    client.get("/api/tasks/12345")  # 401: no credentials; the route, not the id, is the label
    client.get("/api/tasks/67890")
    after = read(client)
    route = "api/tasks/<int:task_id>"
    assert sample(after, "wegent_http_requests_total", method="GET", route=route, status="401") == (
        sample(before, "wegent_http_requests_total", method="GET", route=route, status="401") + 2
    )
    assert sample(after, "wegent_http_requests_total", method="GET", route="api/health", status="200") >= 1
    assert "tasks/12345" not in after  # the raw path never becomes a label (timestamps may hold the digits)


def test_only_loopback_reads_it_without_a_token(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_the_allow_list_takes_networks(client: Client, settings: Any) -> None:
    settings.METRICS_ALLOW = ["10.0.0.0/8", "not-an-address"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_with_a_token_only_its_bearer_reads_it(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 403  # loopback is not enough then
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def test_login_failures_are_counted(client: Client, user: Any) -> None:
    before = sample(read(client), "wegent_login_failures_total")
    body = {"user_name": user.user_name, "password": "wrong-password"}
    assert client.post("/api/auth/login", body, content_type="application/json").status_code == 400
    assert sample(read(client), "wegent_login_failures_total") == before + 1


def test_no_celery_queue_gauge_with_the_in_memory_broker(client: Client, settings: Any) -> None:
    settings.CELERY_BROKER_URL = "memory://localhost/"
    assert "wegent_celery_queue_depth" not in read(client)
