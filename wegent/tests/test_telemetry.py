"""OpenTelemetry stays off by default and traces requests when OTEL_* asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django
from wegent import asgi  # configures telemetry like the server does
from wegent.telemetry import configure_telemetry
from django.test import Client
from opentelemetry import trace
print("configured:", configure_telemetry())
print("status:", Client().get("/api/health").status_code)
getattr(trace.get_tracer_provider(), "force_flush", lambda: None)()
"""


def _run(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"WEGENT_DEBUG": "1", "DJANGO_SETTINGS_MODULE": "wegent.settings", **extra_env})
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_telemetry_is_off_without_otel_settings():
    result = _run({})
    assert result.returncode == 0, result.stderr
    assert "configured: False" in result.stdout
    assert '"name"' not in result.stdout


def test_requests_are_traced_when_enabled():
    result = _run({"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "wegent-test"})
    assert result.returncode == 0, result.stderr
    assert "configured: True" in result.stdout
    assert "status: 200" in result.stdout
    # The console exporter prints each span as JSON; the Django instrumentation names the route.
    assert '"name": "GET api/health"' in result.stdout
    assert "wegent-test" in result.stdout


WORKER_SCRIPT = """
import django
django.setup()
from celery import signals
from wegent import telemetry
from wegent.celery import app
print("before:", telemetry.tracing())
signals.worker_init.send(sender=None)
print("after:", telemetry.tracing())
"""


def test_celery_worker_processes_configure_tracing():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"DJANGO_SETTINGS_MODULE": "wegent.settings", "OTEL_TRACES_EXPORTER": "console"})
    result = subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "before: False" in result.stdout and "after: True" in result.stdout
