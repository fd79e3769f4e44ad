"""Fuzz every operation of /api/openapi.json with schemathesis; any 5xx fails (scripts/test.sh).

What it does, on a throw-away embedded install (SQLite in a temporary data dir, in-process
cache and rooms; nothing of the caller's database or Redis is touched):

1. ``migrate`` and ``bootstrap`` (the init data a real install has), then ``--seed`` (below)
   makes a normal user and an admin, each with a team stack, a task and a group, so
   by-id routes meet real rows at the small ids a fuzzer tries first.
2. ``manage.py serve`` on a free loopback port: the real server.
3. ``st run`` against the served schema, once as the user and once as the admin, every
   operation, with the ``not_a_server_error`` check, bounded examples and a time budget.
4. Prints every server-side error (with its traceback) from the server's log, and exits
   nonzero if schemathesis saw a 5xx or the server logged an unhandled error.

The callers authenticate with personal API keys (the ``Authorization: Bearer wg-...`` form),
not login tokens: a fuzzed ``PUT /api/users/me`` may rename the caller or change its password,
which would turn the rest of a JWT run into 401s, while a key outlives both. The fuzzer learns
ids from responses, so ``fuzz_hooks.py`` drops the cases that aim a path at the callers' own
user or key ids (deactivate, delete or demote themselves); every other case of every operation
runs, so routes added later are fuzzed as they come.

Settings through the environment: FUZZ_MAX_EXAMPLES (per operation and phase, default 8),
FUZZ_MAX_TIME (seconds per caller, default 50), FUZZ_SEED (default 1), FUZZ_PHASES
(default examples,coverage,fuzzing), FUZZ_KEEP=1 keeps the data dir and logs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# ``-m`` rather than the ``st`` script: a console script keeps the interpreter path it was
# installed with, which breaks when a venv is moved or shared between checkouts.
ST = [PYTHON, "-m", "schemathesis.cli"]
# Far above any id the seeded rows or the fuzzer's own creations reach during a run.
CALLER_ID_BASE = 880_000_000
CALLERS = ("fuzz-user", "fuzz-admin")
# The server's env: the embedded mode whatever the caller's shell has, login limits out of
# the way (many fuzzed logins are the point, not a flood), only warnings and errors logged.
DROPPED_ENV = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "WEGENT_TESTING", "WEGENT_TEST_LEG")


def out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    out(f"[fuzz] {message}")


def server_env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DROPPED_ENV}
    env.update(
        WEGENT_DATA_DIR=str(data_dir),
        WEGENT_SECRET_KEY=secrets.token_urlsafe(50),
        WEGENT_ADMIN_PASSWORD=secrets.token_urlsafe(16),
        WEGENT_LOGIN_RATE_USER="1000000/min",
        WEGENT_LOGIN_RATE_IP="1000000/min",
        WEGENT_LOG_LEVEL="WARNING",
        WEGENT_LOG_FORMAT="json",
        ENABLE_API_DOCS="true",
        DJANGO_SETTINGS_MODULE="wegent.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def seed() -> None:
    """Runs inside a configured Django process: the rows, then the callers' keys as JSON."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from accounts.models import ApiKey
    from accounts.roles import SystemRole
    from accounts.services import api_keys, groups
    from accounts.tests.factories import make_user
    from kinds.tests.factories import bot_stack
    from tasks.tests.factories import make_task

    # Rows at small ids, some of them for the fuzzer to break: plain users, stacks, tasks.
    victims = [make_user(f"victim{index}") for index in range(3)]
    for index, victim in enumerate(victims):
        make_task(victim, bot_stack(victim, f"v{index}")["team"], prompt=f"victim task {index}")
    keys = {}
    for offset, name in enumerate(CALLERS):
        role = SystemRole.ADMIN if name == "fuzz-admin" else SystemRole.USER
        caller = make_user(name, role=role, id=CALLER_ID_BASE + offset)
        stack = bot_stack(caller, name)
        make_task(caller, stack["team"], prompt=f"{name} task")
        group = groups.create_group(actor=caller, name=f"{name}-group")
        groups.add_member(actor=caller, name=group.name, user_id=victims[0].pk)
        key, raw = api_keys.create_key(owner=caller, name=f"{name}-key")
        ApiKey.objects.filter(pk=key.pk).update(id=CALLER_ID_BASE + offset)
        keys[name] = raw
    out(json.dumps(keys))


def wait_until_serving(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited while starting")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not answer /api/health")


def schemathesis(url: str, key: str, label: str, report: Path) -> int:
    command = [
        *ST,
        "run",
        f"{url}/api/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"Authorization: Bearer {key}",
        "--header",
        f"X-API-Key: {key}",
        "--phases",
        os.environ.get("FUZZ_PHASES", "examples,coverage,fuzzing"),
        "--max-examples",
        os.environ.get("FUZZ_MAX_EXAMPLES", "8"),
        "--max-time",
        os.environ.get("FUZZ_MAX_TIME", "50"),
        "--seed",
        os.environ.get("FUZZ_SEED", "1"),
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--no-color",
        "--output-truncate",
        "true",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS=str(ROOT / "scripts" / "fuzz_hooks.py"),
        FUZZ_PROTECTED_IDS=",".join(str(CALLER_ID_BASE + offset) for offset in range(len(CALLERS))),
    )
    log(f"schemathesis as the {label}")
    started = time.monotonic()
    # Run in the data dir: schemathesis keeps its crash cache (``st replay``) in the cwd.
    code = subprocess.run(command, cwd=report.parent, env=env).returncode
    log(f"schemathesis as the {label}: exit {code} in {time.monotonic() - started:.0f}s")
    return code


def server_errors(log_path: Path) -> list[str]:
    """The unhandled errors the server logged (a 500's traceback), readable."""
    errors = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if "Traceback" in line or "Error" in line:
                errors.append(line)
            continue
        if isinstance(entry, dict) and entry.get("level") in ("ERROR", "CRITICAL"):
            text = f"{entry.get('msg')} (request {entry.get('request_id')})"
            if entry.get("exc"):
                text += "\n" + str(entry["exc"])
            errors.append(text)
    return errors


def main() -> int:
    started = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="wegent-fuzz-"))
    env = server_env(data_dir)
    server = None
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "bootstrap")
        seeded = subprocess.run(
            [PYTHON, __file__, "--seed"], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True
        )
        keys = json.loads(seeded.stdout.strip().splitlines()[-1])
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_log = data_dir / "server.log"
        with server_log.open("wb") as server_output:
            server = subprocess.Popen(
                [
                    PYTHON,
                    "manage.py",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-embedded-celery",
                ],
                cwd=ROOT,
                env=env,
                stdout=server_output,
                stderr=subprocess.STDOUT,
            )
        wait_until_serving(url, server)
        log(f"server up on {url} after {time.monotonic() - started:.0f}s (data in {data_dir})")
        codes = [
            schemathesis(url, keys["fuzz-user"], "normal user", data_dir / "junit-user.xml"),
            schemathesis(url, keys["fuzz-admin"], "admin", data_dir / "junit-admin.xml"),
        ]
        server.terminate()
        server.wait(timeout=30)
        errors = server_errors(server_log)
        for error in errors:
            out(f"--- server error ---\n{error}")
        log(f"{len(errors)} server errors logged; whole step {time.monotonic() - started:.0f}s")
        return 0 if not errors and not any(codes) else 1
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        if os.environ.get("FUZZ_KEEP") == "1":
            log(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--seed"]:
        seed()
    else:
        sys.exit(main())
