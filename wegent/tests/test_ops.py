"""Operations: health, readiness, docs, error envelopes, request ids, settings, bootstrap."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import User
from accounts.tests.factories import PASSWORD
from wegent.context import request_id_var
from wegent.logging import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1

pytestmark = pytest.mark.django_db


def test_health_reports_database_and_users(anon_client, user):
    response = anon_client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "database": "connected",
        "users_initialized": True,
        "user_count": 1,
        "shutting_down": False,
    }


def test_ready_when_everything_is_up(anon_client, settings):
    response = anon_client.get("/api/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    expected = {"database": "ok", "cache": "ok"}
    if settings.REDIS_URL:  # the PostgreSQL and MariaDB legs run with Redis
        expected["redis"] = "ok"
    assert body["checks"] == expected
    assert body["reasons"] == []


def test_ready_checks_no_redis_without_redis_url(anon_client, settings):
    settings.REDIS_URL = None
    body = anon_client.get("/api/ready").json()
    assert body["checks"] == {"database": "ok", "cache": "ok"} and body["status"] == "ready"


def test_ready_is_503_with_reasons_when_cache_is_down(anon_client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CLOSED_PORT_REDIS}
    }
    from django.core.cache import caches

    caches._settings = None  # type: ignore[attr-defined]
    try:
        from django.core import cache as cache_module

        del cache_module.caches["default"]
    except (KeyError, AttributeError):
        pass
    response = anon_client.get("/api/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["cache"] == "fail"
    assert body["checks"]["database"] == "ok"
    assert any(reason.startswith("cache:") for reason in body["reasons"])


def test_ready_is_503_when_redis_is_down(anon_client, settings):
    settings.REDIS_URL = CLOSED_PORT_REDIS
    response = anon_client.get("/api/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["redis"] == "fail" and body["checks"]["database"] == "ok"
    assert any(reason.startswith("redis:") for reason in body["reasons"])


def test_root_describes_the_service(anon_client):
    body = anon_client.get("/").json()
    assert body["api_prefix"] == "/api"
    assert body["socketio_path"] == "/socket.io"


def test_openapi_and_docs_work_offline(anon_client):
    schema = anon_client.get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/auth/login" in paths
    for page in ("/api/docs", "/api/redoc"):
        response = anon_client.get(page)
        assert response.status_code == 200
        html = response.content.decode()
        # Assets come from the sidecar package under /static, never from a CDN.
        assert "/static/drf_spectacular_sidecar/" in html
        assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_unhandled_error_is_500_envelope_with_request_id(api, monkeypatch, caplog):
    from accounts.services import api_keys

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(api_keys, "create_key", explode)
    with caplog.at_level(logging.ERROR, logger="wegent.api"):
        response = api.post("/api/api-keys", {"name": "x"}, format="json")
    assert response.status_code == 500
    assert response.json() == {"error_code": 500, "detail": "Internal server error"}
    request_id = response.headers["X-Request-ID"]
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert "boom" not in response.content.decode()


def test_oversize_body_is_413(api, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = api.post("/api/api-keys", {"name": "x" * 2000}, format="json")
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_method_not_allowed_is_json(api):
    response = api.put("/api/api-keys")
    assert response.status_code == 405
    assert "detail" in response.json()


def test_cors_preflight_from_another_origin(anon_client):
    response = anon_client.options(
        "/api/auth/login",
        HTTP_ORIGIN="http://frontend.example:3000",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,authorization",
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://frontend.example:3000"
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_json_log_lines_carry_the_request_id():
    token = request_id_var.set("abc12345")
    try:
        record = logging.LogRecord("wegent.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        record.user_id = 7
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "hello world"
    assert line["request_id"] == "abc12345"
    assert line["user_id"] == 7
    assert line["level"] == "INFO"


def _django_setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("WEGENT_") and k != "PYTEST_CURRENT_TEST"
    }
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; print(len(s.SECRET_KEY))",
        ],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "wegent.settings",
            "WEGENT_DATA_DIR": env.get("WEGENT_DATA_DIR", ""),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_without_secret_key_when_not_debug(tmp_path):
    result = _django_setup({"WEGENT_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "WEGENT_SECRET_KEY" in result.stderr


def test_secret_key_from_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("k" * 64 + "\n")
    result = _django_setup({"WEGENT_DATA_DIR": str(tmp_path), "WEGENT_SECRET_KEY_FILE": str(key_file)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "64"


def test_bad_boolean_env_is_a_clear_error(tmp_path):
    result = _django_setup({"WEGENT_DATA_DIR": str(tmp_path), "WEGENT_DEBUG": "maybe"})
    assert result.returncode != 0
    assert "WEGENT_DEBUG" in result.stderr


def test_bootstrap_creates_admin_once_and_warns_on_default(anon_client):
    out, err = io.StringIO(), io.StringIO()
    call_command("bootstrap", stdout=out, stderr=err)
    assert "Created admin user" in out.getvalue()
    assert "default password" in err.getvalue()
    admin = User.objects.get(user_name="admin")
    assert admin.role == "admin" and admin.auth_source == "password"
    login = anon_client.post(
        "/api/auth/login", {"user_name": "admin", "password": "Wegent2025!"}, format="json"
    )
    assert login.status_code == 200

    admin.set_password(PASSWORD)
    admin.save()
    out = io.StringIO()
    call_command("bootstrap", stdout=out, stderr=io.StringIO())
    assert "already exists" in out.getvalue()
    assert User.objects.filter(user_name="admin").count() == 1
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)  # an existing admin's password is never reset


def test_bootstrap_uses_configured_password(settings):
    settings.ADMIN_PASSWORD = "Another-Pass-123"
    err = io.StringIO()
    call_command("bootstrap", stdout=io.StringIO(), stderr=err)
    assert User.objects.get(user_name="admin").check_password("Another-Pass-123")
    assert "default password" not in err.getvalue()


def test_every_setting_variable_is_documented_in_env_example():
    import re

    used = set(
        re.findall(
            r'env_(?:str|bool|int|float|list|secret)\("([A-Z0-9_]+)"',
            (ROOT / "wegent/settings.py").read_text(),
        )
    )
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert used, "no variables found: the pattern is wrong"
    assert used - documented == set()


def test_admin_without_slash_redirects(anon_client):
    response = anon_client.get("/admin")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


@pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis cache backend needs Redis")
def test_the_redis_cache_shares_one_client_per_pool_and_still_works() -> None:
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    cache.set("shared-client-check", {"n": 1}, 30)
    assert cache.get("shared-client-check") == {"n": 1}


def test_pubsub_channels_are_per_redis_database() -> None:
    """Redis pub/sub ignores the database number: two installs on one Redis server, each with
    its own database, must not hear each other's events, cancels or skill answers."""
    probe = (
        "import django; django.setup(); "
        "from wegent.realtime import hub, polling; from chat import streams, skill_requests; "
        "print(hub.CHANNEL, streams.CANCEL_CHANNEL, skill_requests.CHANNEL, polling._channel('p'))"
    )

    def channels(redis_url: str) -> list[str]:
        env = {**os.environ, "REDIS_URL": redis_url, "WEGENT_LOG_LEVEL": "WARNING"}
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.split()

    three, four = channels("redis://127.0.0.1:6379/3"), channels("redis://127.0.0.1:6379/4")
    assert len(three) == len(four) == 4
    assert not set(three) & set(four)
    assert all(name.startswith("wegent:3:") for name in three)
