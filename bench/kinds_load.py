"""Throughput and latency of the Kind list and the legacy teams list, as the reference was measured.

For each database (PostgreSQL, MariaDB): a fresh database, a user with 20 bots (each with its
ghost, shell and model) and 5 teams, one `manage.py serve` process (uvicorn, one worker), then
`wrk -t1 -c10 -d20s --latency` after a 5 s warm-up on:

    GET /api/v1/namespaces/default/bots      (20 bots)
    GET /api/teams                           (the web frontend's agent list)

Prints req/s, p50 and p99 per run, next to the reference's figures (wegent-baseline.md).
Needs wrk (`apt-get install wrk`) and the servers on 127.0.0.1.

    .venv/bin/python bench/kinds_load.py [--db postgres mariadb] [--duration 20] [--connections 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASES = {
    "postgres": "postgres://postgres@127.0.0.1:5432/wegent_bench",
    "mariadb": "mysql://root@127.0.0.1:3306/wegent_bench",
}
REFERENCE = {
    "/api/v1/namespaces/default/bots": "reference: 175-219 req/s, p50 43-50 ms, p99 534-666 ms",
    "/api/teams": "reference: 89.5 req/s, p99 703 ms",
}

SEED = """
import django
django.setup()
from accounts.models import User
from kinds import registry, services
from kinds.tests.factories import bot_doc, ghost_doc, model_doc, shell_doc, team_doc
from accounts.services.tokens import issue_access_token

user = User.objects.create_user("bench", password="bench-pass-123")
def make(doc):
    kind_type = registry.by_kind(doc["kind"])
    services.create_resource(actor=user, kind_type=kind_type, namespace="default", body=doc)
make(shell_doc("bench-shell"))
make(model_doc("bench-model"))
for i in range(20):
    make(ghost_doc(f"bench-ghost-{i}"))
    make(bot_doc(f"bench-bot-{i}", f"bench-ghost-{i}", "bench-shell", "bench-model"))
for t in range(5):
    make(team_doc(f"bench-team-{t}", [f"bench-bot-{t}", f"bench-bot-{t + 5}"]))
print(issue_access_token(user))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reset_database(db: str, url: str) -> None:
    if db == "postgres":
        for sql in ("DROP DATABASE IF EXISTS wegent_bench", "CREATE DATABASE wegent_bench"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)
    else:
        sql = "DROP DATABASE IF EXISTS wegent_bench; CREATE DATABASE wegent_bench CHARACTER SET utf8mb4"
        subprocess.run(["mariadb", "-h", "127.0.0.1", "-uroot", "-e", sql], check=True)


def parse_wrk(output: str) -> dict[str, float]:
    def millis(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for label, key in (("50%", "p50"), ("99%", "p99")):
        result[key] = millis(re.search(rf"{re.escape(label)}\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def run(db: str, duration: int, connections: int, paths: list[str], runs: int) -> None:
    url = DATABASES[db]
    reset_database(db, url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "WEGENT_SECRET_KEY": secrets.token_urlsafe(50),
        "WEGENT_DATA_DIR": tempfile.mkdtemp(prefix="wegent-bench-"),
        "WEGENT_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "wegent.settings",
    }
    env.pop("WEGENT_TESTING", None)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    token = (
        subprocess.run([python, "-c", SEED], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    server = subprocess.Popen(
        [python, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("server did not start") from None
                time.sleep(0.1)
        header = f"Authorization: Bearer {token}"
        for path in paths:
            target = f"http://127.0.0.1:{port}{path}"
            request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"})
            body = urllib.request.urlopen(request, timeout=5).read()
            items = len(json.loads(body)["items"])
            subprocess.run(
                ["wrk", "-t1", f"-c{connections}", "-d5s", "-H", header, target],
                check=True,
                capture_output=True,
            )
            measured = []
            for _ in range(runs):
                out = subprocess.run(
                    ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-H", header, target],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                measured.append(parse_wrk(out))
            measured.sort(key=lambda result: result["rps"])
            figures = measured[len(measured) // 2]  # the median run
            print(
                f"{db:8} {path:34} items={items:<3} {figures['rps']:8.1f} req/s  "
                f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms  "
                f"non-2xx {int(figures['non2xx'])}   ({REFERENCE[path]})"
            )
    finally:
        server.terminate()
        server.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", nargs="+", choices=sorted(DATABASES), default=["postgres", "mariadb"])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--paths", nargs="+", default=list(REFERENCE), choices=list(REFERENCE))
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement; print the median run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s (median of {args.runs} runs), "
        "one uvicorn process, Redis cache, 2 cores shared"
    )
    for db in args.db:
        run(db, args.duration, args.connections, args.paths, args.runs)


if __name__ == "__main__":
    main()
