"""Server processes for the scaled-mode tests: ``manage.py serve`` on the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from django.conf import settings

from wegent.tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = settings.DATABASES["default"]
    scheme = "postgres" if db["ENGINE"].endswith("postgresql") else "mysql"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"{scheme}://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or ''}/{db['NAME']}"


class Worker:
    """One ``manage.py serve`` process on the test database and the shared Redis (or the one
    ``REDIS_URL`` in ``extra_env`` names)."""

    def __init__(self, *, probe: bool = False, **extra_env: str) -> None:
        """``probe``: the worker also serves ``chat.tests.skill_probe``'s test namespace."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            # Tokens and encrypted model keys made by this test process must be readable there.
            "WEGENT_SECRET_KEY": settings.SECRET_KEY,
            "WEGENT_ENCRYPTION_KEY": settings.ENCRYPTION_KEY,
            "WEGENT_TESTING": "1",
            "WEGENT_LOG_LEVEL": "WARNING",
            **extra_env,
        }
        command = [sys.executable, "manage.py", "serve", "--port", str(self.port), "--no-embedded-celery"]
        if probe:
            command = [sys.executable, "-m", "chat.tests.skill_probe", str(self.port)]
        # Output goes to a file: a pipe nobody reads could fill up and stall the worker.
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop())
        self.captured = ""
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        if self.log.closed:
            return self.captured
        self.log.seek(0)
        return self.log.read()[-4000:]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.output()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"worker did not start: {self.output()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.captured = self.output()
        self.log.close()
