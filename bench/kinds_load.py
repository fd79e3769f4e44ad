"""Throughput and latency of Kind reads and writes, as the reference was measured.

For each database (PostgreSQL, MariaDB, or the embedded SQLite of `make run`): a fresh
database, a user with 20 bots (each with its ghost, shell and model) and 5 teams, one
`manage.py serve` process (uvicorn, one worker), then `wrk -t1 -c10 -d20s --latency` after a
5 s warm-up on each bench:

    bots    GET /api/v1/namespaces/default/bots      (20 bots, served from the list cache)
    teams   GET /api/teams                           (the web frontend's agent list)
    write   POST /api/v1/namespaces/default/ghosts   (a Ghost with a unique name), and
            DELETE /api/v1/namespaces/default/ghosts/{name} for each Ghost whose 201 came back

The write bench's wrk script sends a DELETE when a created Ghost is waiting to be deleted, else
a POST, so about half the requests are each; any answer other than 2xx is an error, counted
and printed (it must be 0).

Prints, per bench, the median of `--runs` runs: req/s, p50, p90 and p99, and the server's CPU
time per request (user + system from /proc/<pid>/stat, read before and after the run), next
to the reference's figures (wegent-baseline.md). `sqlite` is the embedded mode (SQLite in WAL
mode in a temporary data dir, no Redis); PostgreSQL and MariaDB use Redis (`--redis-url`).
Needs wrk (`apt-get install wrk`) and the database servers on 127.0.0.1.

    .venv/bin/python bench/kinds_load.py [--db sqlite postgres mariadb] [--bench bots teams write]
        [--duration 20] [--connections 10] [--runs 3] [--redis-url redis://127.0.0.1:6379/12]
        [--database-name wegent_bench]
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASES = {
    "postgres": "postgres://postgres@127.0.0.1:5432/{name}",
    "mariadb": "mysql://root@127.0.0.1:3306/{name}",
    "sqlite": "",  # embedded: SQLite in the data dir, no Redis
}
GHOSTS = "/api/v1/namespaces/default/ghosts"
BENCHES = {
    "bots": "/api/v1/namespaces/default/bots",
    "teams": "/api/teams",
    "write": GHOSTS,
}
REFERENCE = {
    "bots": "reference: 175-219 req/s, p50 43-50 ms, p99 534-666 ms",
    "teams": "reference: 89.5 req/s, p99 703 ms",
    "write": "reference: 133-208 req/s, p99 523 ms",
}

# wrk's Lua: POST a Ghost, DELETE each one whose 201 came back; print what was not 2xx.
WRITE_SCRIPT = """
local prefix = "%(prefix)s"
local created, sent, failures = {}, 0, 0
local post_headers = nil

init = function(args)
  -- wrk.format's headers replace wrk.headers (the -H token), so copy them in.
  post_headers = {["Content-Type"] = "application/json"}
  for key, value in pairs(wrk.headers) do post_headers[key] = value end
end

request = function()
  local name = table.remove(created)
  if name then
    return wrk.format("DELETE", "%(path)s/" .. name)
  end
  sent = sent + 1
  local body = '{"apiVersion":"agent.wecode.io/v1","kind":"Ghost","metadata":{"name":"'
    .. prefix .. '-' .. sent .. '"},"spec":{"systemPrompt":"You are helpful."}}'
  return wrk.format("POST", "%(path)s", post_headers, body)
end

response = function(status, headers, body)
  if status == 201 then
    local name = body:match('"(' .. prefix .. '%%-%%d+)"')
    if name then table.insert(created, name) end
  elseif status >= 300 then
    failures = failures + 1
    if failures <= 5 then io.stderr:write("non-2xx " .. status .. ": " .. body:sub(1, 300) .. "\\n") end
  end
end
"""

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


def reset_database(db: str, name: str) -> None:
    if db == "postgres":
        for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)
    elif db == "mariadb":
        sql = f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4"
        subprocess.run(["mariadb", "-h", "127.0.0.1", "-uroot", "-e", sql], check=True)
    # sqlite: a fresh temporary data dir is a fresh database


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_wrk(output: str) -> dict[str, float]:
    def millis(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
    }
    for label, key in (("50%", "p50"), ("90%", "p90"), ("99%", "p99")):
        result[key] = millis(re.search(rf"{re.escape(label)}\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non2xx"] = float(errors.group(1)) if errors else 0.0
    socket_errors = re.search(r"Socket errors: (.*)", output)
    result["socket_errors"] = (
        float(sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))) if socket_errors else 0.0
    )
    return result


@dataclass(frozen=True)
class Options:
    duration: int
    connections: int
    runs: int
    redis_url: str
    database_name: str


def start_server(db: str, options: Options) -> tuple[subprocess.Popen, int, str]:
    """Migrates and seeds a fresh database, starts one server; returns it, its port and a token."""
    reset_database(db, options.database_name)
    env = {
        **os.environ,
        "WEGENT_SECRET_KEY": secrets.token_urlsafe(50),
        "WEGENT_DATA_DIR": tempfile.mkdtemp(prefix="wegent-bench-"),
        "WEGENT_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "wegent.settings",
    }
    for name in ("WEGENT_TESTING", "DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    if db != "sqlite":
        env["DATABASE_URL"] = DATABASES[db].format(name=options.database_name)
        env["REDIS_URL"] = options.redis_url
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
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
            return server, port, token
        except OSError:
            if time.monotonic() > deadline:
                server.terminate()
                raise SystemExit("server did not start") from None
            time.sleep(0.1)


def wrk(options: Options, duration: int, header: str, target: str, script: str | None) -> str:
    command = ["wrk", "-t1", f"-c{options.connections}", f"-d{duration}s", "--latency", "-H", header]
    if script is not None:
        command += ["-s", script]
    done = subprocess.run([*command, target], check=True, capture_output=True, text=True)
    if done.stderr.strip():
        print(done.stderr.strip(), file=sys.stderr)
    return done.stdout


def write_script(directory: str) -> str:
    path = Path(directory) / "write.lua"
    prefix = f"bench{secrets.token_hex(4)}"
    path.write_text(WRITE_SCRIPT % {"prefix": prefix, "path": GHOSTS})
    return str(path)


def bench(db: str, name: str, server: subprocess.Popen, port: int, token: str, options: Options) -> None:
    header = f"Authorization: Bearer {token}"
    target = f"http://127.0.0.1:{port}{BENCHES[name]}"
    items = ""
    if name != "write":
        request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"})
        items = f"items={len(json.loads(urllib.request.urlopen(request, timeout=5).read())['items'])}"
    with tempfile.TemporaryDirectory() as scripts:
        # Each run its own names: a run's leftovers (created, not yet deleted) never collide.
        def script() -> str | None:
            return write_script(scripts) if name == "write" else None

        wrk(options, 5, header, target, script())
        measured = []
        for _ in range(options.runs):
            before = cpu_seconds(server.pid)
            figures = parse_wrk(wrk(options, options.duration, header, target, script()))
            figures["cpu_ms"] = (cpu_seconds(server.pid) - before) * 1000 / max(1.0, figures["requests"])
            measured.append(figures)
    measured.sort(key=lambda result: result["rps"])
    figures = measured[len(measured) // 2]  # the median run
    spread = "/".join(f"{m['rps']:.0f}" for m in measured)
    print(
        f"{db:8} {name:6} {items:9} {figures['rps']:7.1f} req/s ({spread})  "
        f"p50 {figures['p50']:6.1f}  p90 {figures['p90']:6.1f}  p99 {figures['p99']:6.1f} ms  "
        f"CPU {figures['cpu_ms']:5.2f} ms/req  "
        f"non-2xx {int(sum(m['non2xx'] for m in measured))} "
        f"socket errors/timeouts {int(sum(m['socket_errors'] for m in measured))}   ({REFERENCE[name]})",
        flush=True,
    )


def run(db: str, names: list[str], options: Options) -> None:
    server, port, token = start_server(db, options)
    try:
        for name in names:
            bench(db, name, server, port, token, options)
    finally:
        server.terminate()
        server.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", nargs="+", choices=list(DATABASES), default=list(DATABASES))
    parser.add_argument("--bench", nargs="+", default=list(BENCHES), choices=list(BENCHES))
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement; print the median run")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="for PostgreSQL and MariaDB")
    parser.add_argument("--database-name", default="wegent_bench", help="dropped and created afresh")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    options = Options(args.duration, args.connections, args.runs, args.redis_url, args.database_name)
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s (median of {args.runs} runs, all runs' req/s "
        "in brackets), one uvicorn process; Redis cache except on sqlite; 2 cores shared"
    )
    for db in args.db:
        run(db, args.bench, options)


if __name__ == "__main__":
    main()
