"""Chat streaming over Socket.IO ``/chat``: latency, overhead, concurrency and memory (issue 5).

Starts the fake LLM (``python -m chat.tests.fake_llm``) and the server (``manage.py serve
--no-embedded-celery``) as two subprocesses on free ports, prepares a fresh database (a temp
SQLite data dir by default; ``--database-url`` / ``--redis-url`` for the scaled mode, whose
database is dropped and recreated and whose Redis database is flushed), creates the users and
their agents over the HTTP API, then drives chats from this process. Figures:

  latency       time from emitting ``chat:send`` to its ack, to ``chat:start`` and to the first
                ``chat:chunk`` (p50, p99) over --chats sequential new chats on a 20-chunk
                zero-delay model (``fake-n20-d0``), after --warmup unmeasured chats; the very
                first chat of the fresh server is printed as the cold figure.
  long          one 2,000-chunk zero-delay stream (``fake-n2000-d0``): send to ``chat:done``,
                and the same model read straight from the fake LLM by plain httpx (like the
                reference's "fake LLM alone") and by the OpenAI SDK (what the server uses):
                overhead ratios = ours / each of them.
  watch         one such stream watched by --watchers sockets that joined the task with
                ``task:join`` (plus the sender): every socket must rebuild the whole answer;
                deliveries/s = sockets x 2,000 deltas / (send to the last socket's chat:done).
  users         N users (separate accounts, each with its own agent on ``fake-n200-d10``,
                ideal 2 s), each on its own socket, send one chat at the same moment:
                completed, errors, p50/p99 of send to chat:done, p99 / ideal, server RSS
                and CPU; then N streams read straight from the fake LLM at once (what this
                machine allows). Runs last: an overloaded server would spoil later phases.
  idle          --idle-connections bare WebSockets joined to /chat (one user's token) that
                answer the server's pings: (server RSS with them - RSS before) / N, how many
                are still open after --settle seconds, and the RSS after they close.
  memory        server RSS (VmRSS of the serve process) idle after start, after the first
                chats (the providers' SDKs are imported on the first chat) and at the end.
  tool          (only with --tool) --chats pairs of new chats, each with a fresh attachment:
                a plain 200-chunk answer (``fake-n200-d0``) and a tool turn (``fake-tools-n200-d0``:
                the model calls ``read_attachment`` once, then answers 200 chunks headed by the
                tool's result), alternating; the tool loop's overhead per call = median(tool
                turn) - median(plain turn), shown also minus the fake LLM's own extra round
                trip (the tool-call response read straight by httpx).
  mcp-tool      (only with --tool mcp or all) --chats triples against the real loopback MCP
                server of the test tree (``chat.tests.fake_mcp``, streamable HTTP, in its own
                process; the server gets ``WEGENT_OUTBOUND_ALLOWLIST=127.0.0.1``): a plain
                200-chunk turn (no MCP server), a turn whose Ghost has the MCP server but the
                model calls nothing (``fake-tools-n200-d0``), and the same with one ``echo``
                call then 200 chunks, round robin. Per-turn MCP session cost = median(no
                call) - median(plain); per-call cost = median(call) - median(no call), also
                minus the fake LLM's extra round trip; plus the server's CPU per turn of each
                (the mean over the turns: /proc counts CPU in 10 ms ticks).

Every chat's answer is checked: chunk offsets continuous, rebuilt text == chat:done's value
== the fake LLM's text. The server's log lines at WARNING and above are summarised after each
phase (identical records counted once). Users are separate accounts created by the admin API
(``POST /api/admin/users``), each logged in through ``/api/auth/login`` (only wrong passwords
count against the login limits) and given its agents with one ``POST .../namespaces/default/apply``.
Numbers are only meaningful on a quiet machine.

The harness is kept cheap because it runs on the same (two) cores as the server it measures:
every CPU second the client or the fake LLM spends is taken from the server. So this process
runs on uvloop when installed; its chat sockets are ``LeanChatSocket`` (bare WebSockets with
the Socket.IO packets done by hand and parsed with orjson as each frame arrives, ~40-70 us of
CPU per received event; ``--client socketio`` uses python-socketio's ``AsyncClient``
instead, ~100-150 us per event as it creates a task per packet); and the fake LLM runs on
uvloop and writes its paced chunks from timer callbacks. The users phase prints the CPU
seconds of the server, the bench client and the fake LLM.

    .venv/bin/python bench/chat_stream.py [--quick] [--runs 3]
        [--database-url postgres://postgres@127.0.0.1:5432/wg_bench --redis-url redis://127.0.0.1:6379/7]
        [--phases latency long watch users idle] [--users 10 50 100] [--client socketio] [--keep]
        [--tool [attachment|mcp|all]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import resource
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from _socketio_client import (  # noqa: E402
    ChatSocket,
    IdleSocket,
    LeanChatSocket,
    Stream,
    StreamRecorder,
    websocket_url,
)
from cold_start import free_port, rss_mb  # noqa: E402

from chat.tests.fake_llm import answer  # noqa: E402

PHASES = ("latency", "long", "watch", "users", "idle")
TOOL_PHASE = "tool"  # only with --tool: the default run's figures stay as they were
MCP_PHASE = "mcp-tool"  # only with --tool mcp (or all)
ADMIN_PASSWORD = "bench-admin-" + secrets.token_hex(6)
USER_PASSWORD = "bench-user-pass-1"
FAST, LONG, LOAD = "bench-fast", "bench-long", "bench-load"
TOOL, PLAIN, MCP = "bench-tool", "bench-plain", "bench-mcp"
MODELS = {
    FAST: "fake-n20-d0",
    LONG: "fake-n2000-d0",
    LOAD: "fake-n200-d10",
    TOOL: "fake-tools-n200-d0",
    PLAIN: "fake-n200-d0",
    MCP: "fake-tools-n200-d0",
}
# The loopback MCP server of the test tree, run in its own process (not the measured one).
MCP_RUNNER = """
import sys, threading
from chat.tests.fake_mcp import FakeMCPServer
FakeMCPServer(port=int(sys.argv[1])).start()
threading.Event().wait()
"""
FAST_CHUNKS, LONG_CHUNKS, LOAD_CHUNKS, LOAD_DELAY = 20, 2000, 200, 0.010
IDEAL_LOAD_SECONDS = LOAD_CHUNKS * LOAD_DELAY  # the reference's "ideal 2 s"


# --- small helpers -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 50 samples is the largest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def ms(seconds: float) -> float:
    return seconds * 1000


def fmt(value: float, unit: str = "ms", digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f} {unit}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # children inherit it
    return wanted


class ServerLog:
    """The server's stdout/stderr file; ``new_problems`` summarises the WARNING+ lines written
    since the last call: identical records (level, logger, message, the exception's last line,
    the innermost project frame) are counted once."""

    PATTERN = re.compile(r"WARNING|ERROR|CRITICAL|Traceback|Exception")
    PROJECT_FRAME = re.compile(
        r'File "' + re.escape(str(ROOT)) + r'/(?!\.venv)([^"]+)", line (\d+), in (\S+)'
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def new_problems(self) -> list[str]:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode(errors="replace")
            self.offset = handle.tell()
        counts: dict[str, list[Any]] = {}
        for line in text.splitlines():
            if not self.PATTERN.search(line):
                continue
            key, when = self.summary(line)
            counts.setdefault(key, [0, when])[0] += 1
        return [f"{n} x {key} (first at {when})" for key, (n, when) in counts.items()]

    def summary(self, line: str) -> tuple[str, str]:
        try:
            record = json.loads(line)
        except ValueError:
            return line.strip()[:300], "?"
        if not isinstance(record, dict):
            return line.strip()[:300], "?"
        exc = str(record.get("exc") or "")
        parts = [
            str(record.get("level")),
            str(record.get("logger")),
            str(record.get("msg", "")).strip().split("\n", 1)[0][:150],
        ]
        if exc:
            parts.append(exc.strip().splitlines()[-1][:200])
            frames = self.PROJECT_FRAME.findall(exc)
            if frames:
                parts.append("at {}:{} {}".format(*frames[-1]))
        return " | ".join(parts), str(record.get("ts", "?"))


class RssSampler:
    """Peak RSS of a process while a phase runs (sampled every 50 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mb(pid)
        self.task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_mb(self.pid))
            await asyncio.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self.task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.task is not None:
            self.task.cancel()
        with contextlib.suppress(OSError):
            self.peak = max(self.peak, rss_mb(self.pid))


async def gather_limited(coroutines: list[Awaitable[Any]], limit: int) -> list[Any]:
    """Like ``asyncio.gather(..., return_exceptions=True)`` with at most ``limit`` at a time."""
    gate = asyncio.Semaphore(limit)

    async def one(coroutine: Awaitable[Any]) -> Any:
        async with gate:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines), return_exceptions=True)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300] if str(error) else type(error).__name__


# --- processes and database --------------------------------------------------------------------


def server_env(args: argparse.Namespace, data_dir: str) -> dict[str, str]:
    env = {
        **os.environ,
        "WEGENT_DATA_DIR": data_dir,
        "WEGENT_SECRET_KEY": secrets.token_urlsafe(50),
        "WEGENT_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "WEGENT_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "wegent.settings",
    }
    for var in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "WEGENT_TESTING"):
        env.pop(var, None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    return env


def reset_database(url: str) -> None:
    """Drops and recreates the database named in ``url`` (PostgreSQL or MariaDB/MySQL)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise SystemExit(f"unexpected database name {name!r} in --database-url")
    host, user = parts.hostname or "127.0.0.1", unquote(parts.username or "")
    env = dict(os.environ)
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        if parts.password:
            env["PGPASSWORD"] = unquote(parts.password)
        command = [
            "psql",
            "-h",
            host,
            "-p",
            str(parts.port or 5432),
            "-U",
            user or "postgres",
            "-d",
            "postgres",
        ]
        for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
            subprocess.run([*command, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, env=env, timeout=60)
    elif parts.scheme in ("mysql", "mariadb"):
        if parts.password:
            env["MYSQL_PWD"] = unquote(parts.password)
        sql = f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
        command = ["mariadb", "-h", host, "-P", str(parts.port or 3306), "-u", user or "root", "-e", sql]
        subprocess.run(command, check=True, env=env, timeout=60)
    else:
        raise SystemExit(f"unsupported database scheme {parts.scheme!r}")


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    client.flushdb()
    client.close()


def prepare(args: argparse.Namespace, env: dict[str, str]) -> None:
    if args.database_url:
        reset_database(args.database_url)
    if args.redis_url:
        flush_redis(args.redis_url)
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=600
    )
    subprocess.run(
        [python, "manage.py", "bootstrap"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300
    )


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60.0) -> float:
    """Seconds until ``url`` answers (any HTTP status); SystemExit if the process dies first."""
    began = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.monotonic() - began
        except urllib.error.HTTPError:
            return time.monotonic() - began
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited during start (status {proc.returncode})")
        if time.monotonic() - began > timeout:
            raise SystemExit(f"{what} did not answer within {timeout:.0f} s")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def server_healthy(url: str, timeout: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


# --- accounts and agents over the HTTP API ------------------------------------------------------


def documents(llm_base_url: str, teams: list[str], mcp_url: str | None = None) -> list[dict[str, Any]]:
    """Ghost, shell and per team a model (pointing at the fake LLM), bot and team: the test
    suite's document builders (importing them needs Django's app registry). The MCP team's bot
    has its own Ghost, with the loopback MCP server (the others open no MCP session)."""
    import django

    django.setup()
    from chat.tests.factories import model_doc_for
    from kinds.tests.factories import bot_doc, ghost_doc, shell_doc, team_doc

    llm = SimpleNamespace(openai_base_url=llm_base_url)
    docs = [ghost_doc("bench-ghost", "You are a benchmark bot."), shell_doc("bench-shell")]
    if mcp_url:
        servers = {"bench": {"type": "streamable-http", "url": mcp_url}}
        docs.append(ghost_doc("bench-mcp-ghost", "You are a benchmark bot.", mcpServers=servers))
    for team in teams:
        ghost = "bench-mcp-ghost" if team == MCP else "bench-ghost"
        docs += [
            model_doc_for(llm, f"{team}-model", MODELS[team]),  # type: ignore[arg-type]
            bot_doc(f"{team}-bot", ghost, "bench-shell", f"{team}-model"),
            team_doc(team, [f"{team}-bot"]),
        ]
    return docs


@dataclass
class Account:
    name: str
    token: str
    teams: dict[str, int] = field(default_factory=dict)


async def login(http: httpx.AsyncClient, name: str, password: str) -> str:
    response = await http.post("/api/auth/login", json={"user_name": name, "password": password})
    response.raise_for_status()
    return response.json()["access_token"]


async def make_account(
    http: httpx.AsyncClient, admin_token: str, name: str, docs: list[dict[str, Any]]
) -> Account:
    """A user created by the admin API, logged in, with its agents applied in one batch."""
    response = await http.post(
        "/api/admin/users",
        json={"user_name": name, "password": USER_PASSWORD},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    if response.status_code != 201:
        raise RuntimeError(f"creating user {name}: {response.status_code} {response.text[:200]}")
    account = Account(name, await login(http, name, USER_PASSWORD))
    auth = {"Authorization": f"Bearer {account.token}"}
    response = await http.post("/api/v1/namespaces/default/apply", json=docs, headers=auth)
    body = response.json()
    if response.status_code != 200 or not body.get("success"):
        raise RuntimeError(f"applying agents of {name}: {response.status_code} {response.text[:300]}")
    response = await http.get("/api/teams", params={"limit": 100}, headers=auth)
    response.raise_for_status()
    wanted = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "Team"}
    account.teams = {item["name"]: item["id"] for item in response.json()["items"] if item["name"] in wanted}
    if set(account.teams) != wanted:
        raise RuntimeError(f"teams of {name}: found {sorted(account.teams)}, wanted {sorted(wanted)}")
    return account


# --- the phases ---------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    url: str
    pid: int
    llm_url: str
    log: ServerLog
    llm_pid: int | None = None
    mcp_url: str | None = None
    main: Account | None = None
    users: list[Account] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)

    def note(self, phase: str, problem: str) -> None:
        self.problems.setdefault(phase, []).append(problem)

    async def socket(self, account: Account) -> StreamRecorder:
        sock = ChatSocket() if self.args.client == "socketio" else LeanChatSocket()
        return await sock.connect(self.url, account.token, timeout=self.args.timeout)


async def send(sock: StreamRecorder, payload: dict[str, Any], timeout: float) -> tuple[float, Any]:
    began = time.perf_counter()
    return began, await sock.call("chat:send", payload, timeout=timeout)


def check_ack(ack: Any) -> str | None:
    if isinstance(ack, dict) and isinstance(ack.get("task_id"), int) and "error" not in ack:
        return None
    return f"chat:send ack {ack!r:.200}"


async def one_chat(
    bench: Bench, sock: StreamRecorder, team: str, message: str, expected: str, timeout: float, **extra: Any
) -> tuple[float, Stream | None, str | None]:
    """Sends one message; (send time, the answer as this socket saw it, the problem if any)."""
    assert bench.main is not None
    payload = {"team_id": bench.main.teams[team], "message": message, **extra}
    began, ack = await send(sock, payload, timeout)
    acked = time.perf_counter()
    problem = check_ack(ack)
    if problem:
        return began, None, problem
    try:
        stream = await sock.finished(ack["task_id"], ack["message_id"] + 1, timeout=timeout)
        stream.acked = acked
    except (TimeoutError, ConnectionError) as exc:
        partial = sock.answer_of(ack["task_id"])
        state = "no chat:start" if partial is None else "; ".join(partial.problems(expected))
        return began, partial, f"task {ack['task_id']}: {describe(exc)} waiting for chat:done ({state})"
    problems = stream.problems(expected)
    return began, stream, f"task {ack['task_id']}: " + "; ".join(problems) if problems else None


async def phase_latency(bench: Bench) -> None:
    args = bench.args
    expected = answer(FAST_CHUNKS)
    assert bench.main is not None
    sock = await bench.socket(bench.main)
    runs: list[dict[str, list[float]]] = []
    cold: dict[str, float] = {}
    try:
        total = 0
        for run in range(args.runs):
            samples: dict[str, list[float]] = {"ack": [], "start": [], "first": [], "done": []}
            count = args.chats + (args.warmup if run == 0 else 0)
            for i in range(count):
                began, stream, problem = await one_chat(
                    bench, sock, FAST, f"latency {run}.{i}", expected, args.timeout
                )
                total += 1
                if problem or stream is None:
                    bench.note("latency", problem or "no stream")
                    continue
                start = ms((stream.started or math.nan) - began)
                first = ms((stream.first_chunk or math.nan) - began)
                done = ms(stream.done - began)  # type: ignore[operator]
                if total == 1:
                    cold = {"start": start, "first": first, "done": done}
                if run > 0 or i >= args.warmup:
                    samples["ack"].append(ms(stream.acked - began))  # type: ignore[operator]
                    samples["start"].append(start)
                    samples["first"].append(first)
                    samples["done"].append(done)
                await asyncio.sleep(0.02)
            runs.append(samples)
    finally:
        await sock.close()
    bench.results["latency"] = {"runs": runs, "cold": cold}


async def direct_stream_times(llm_url: str, runs: int) -> dict[str, list[float]]:
    """The fake LLM's 2,000-chunk stream read straight by the OpenAI SDK and by httpx (ms)."""
    import openai

    expected = answer(LONG_CHUNKS)
    times: dict[str, list[float]] = {"sdk": [], "httpx": []}
    client = openai.AsyncOpenAI(base_url=f"{llm_url}/v1", api_key="sk-bench-direct", timeout=60)
    body = {"model": MODELS[LONG], "messages": [{"role": "user", "content": "hi"}], "stream": True}
    try:
        for run in range(runs + 1):  # the first one warms the connection up
            began = time.perf_counter()
            stream = await client.chat.completions.create(**body)  # type: ignore[call-overload]
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            elapsed = ms(time.perf_counter() - began)
            if "".join(parts) != expected:
                raise RuntimeError("the direct SDK stream did not return the expected text")
            if run:
                times["sdk"].append(elapsed)
        async with httpx.AsyncClient(base_url=llm_url, timeout=60) as http:
            headers = {"Authorization": "Bearer sk-bench-direct"}
            for run in range(runs + 1):
                began = time.perf_counter()
                async with http.stream(
                    "POST", "/v1/chat/completions", json=body, headers=headers
                ) as response:
                    lines = [line async for line in response.aiter_lines() if line.startswith("data:")]
                elapsed = ms(time.perf_counter() - began)
                if lines[-1] != "data: [DONE]" or len(lines) < LONG_CHUNKS:
                    raise RuntimeError("the direct httpx stream ended early")
                if run:
                    times["httpx"].append(elapsed)
    finally:
        await client.close()
    return times


async def phase_long(bench: Bench) -> None:
    args = bench.args
    expected = answer(LONG_CHUNKS)
    assert bench.main is not None
    sock = await bench.socket(bench.main)
    done_ms: list[float] = []
    events: list[int] = []
    try:
        for run in range(args.runs + 1):  # one unmeasured warm-up stream
            began, stream, problem = await one_chat(bench, sock, LONG, f"long {run}", expected, args.timeout)
            if problem or stream is None:
                bench.note("long", problem or "no stream")
            elif run:
                done_ms.append(ms(stream.done - began))  # type: ignore[operator]
                events.append(stream.chunks)
            await asyncio.sleep(0.05)
    finally:
        await sock.close()
    direct = await direct_stream_times(bench.llm_url, args.runs)
    bench.results["long"] = {"done": done_ms, "events": events, "direct": direct}


async def phase_watch(bench: Bench) -> None:
    args = bench.args
    expected = answer(LONG_CHUNKS)
    assert bench.main is not None
    sender = await bench.socket(bench.main)
    watchers: list[StreamRecorder] = []
    runs: list[dict[str, Any]] = []
    try:
        # A task whose first answer is over, so the watchers can join before the watched one.
        _, _, problem = await one_chat(bench, sender, LONG, "watch setup", expected, args.timeout)
        if problem:
            bench.note("watch", f"setup: {problem}")
            return
        task_id = next(iter(sender.streams.values())).task_id
        connected = await gather_limited([bench.socket(bench.main) for _ in range(args.watchers)], 20)
        watchers = [s for s in connected if isinstance(s, StreamRecorder)]
        for error in (e for e in connected if isinstance(e, BaseException)):
            bench.note("watch", f"watcher connect: {describe(error)}")
        for run in range(args.runs):
            joins = await asyncio.gather(
                *(w.call("task:join", {"task_id": task_id}, timeout=args.timeout) for w in watchers),
                return_exceptions=True,
            )
            bad = [j for j in joins if not isinstance(j, dict) or "error" in j]
            if bad:
                bench.note("watch", f"{len(bad)} task:join failed, first: {bad[0]!r:.200}")
            streaming = [j.get("streaming") for j in joins if isinstance(j, dict)]
            if any(s is not None for s in streaming):
                bench.note("watch", "a watcher joined while an answer was still streaming")
            began, ack = await send(
                sender,
                {"team_id": bench.main.teams[LONG], "task_id": task_id, "message": f"watched {run}"},
                30,
            )
            problem = check_ack(ack)
            if problem:
                bench.note("watch", problem)
                continue
            try:
                start = await sender.wait(
                    lambda ack=ack: next(
                        (
                            s
                            for s in sender.streams.values()
                            if s.task_id == task_id and s.message_id == ack["message_id"] + 1
                        ),
                        None,
                    ),
                    args.timeout,
                )
            except (TimeoutError, ConnectionError) as exc:
                bench.note("watch", f"no chat:start for the watched answer: {describe(exc)}")
                continue
            subtask_id = start.subtask_id

            async def finished(sock: StreamRecorder, subtask_id: int = subtask_id) -> Stream:
                return await sock.wait(
                    lambda: (
                        (s := sock.streams.get(subtask_id)) is not None
                        and (s.done is not None or s.error is not None)
                        and s
                    ),
                    args.timeout,
                )

            sockets = [sender, *watchers]
            outcomes = await asyncio.gather(*(finished(s) for s in sockets), return_exceptions=True)
            complete, times, chunk_events = 0, [], 0
            for sock, outcome in zip(sockets, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    partial = sock.streams.get(subtask_id)
                    state = "nothing received" if partial is None else "; ".join(partial.problems(expected))
                    bench.note("watch", f"socket did not finish: {describe(outcome)} ({state})")
                    continue
                problems = outcome.problems(expected)
                if problems:
                    bench.note("watch", "; ".join(problems))
                    continue
                complete += 1
                times.append(ms(outcome.done - began))  # type: ignore[operator]
                chunk_events += outcome.chunks
            last = max(times) if times else math.nan
            runs.append(
                {
                    "sockets": len(sockets),
                    "complete": complete,
                    "last_done": last,
                    "first_done": min(times) if times else math.nan,
                    "deliveries_per_s": complete * LONG_CHUNKS / (last / 1000) if times else math.nan,
                    "chunk_events": chunk_events,
                }
            )
            await asyncio.sleep(0.1)
    finally:
        await asyncio.gather(sender.close(), *(w.close() for w in watchers))
    bench.results["watch"] = {"runs": runs}


async def users_run(bench: Bench, n: int) -> dict[str, Any]:
    """N users, each on its own socket, send one chat at the same moment."""
    args = bench.args
    expected = answer(LOAD_CHUNKS)
    accounts = bench.users[:n]
    connected = await gather_limited([bench.socket(a) for a in accounts], 25)
    sockets = [s for s in connected if isinstance(s, StreamRecorder)]
    errors: list[str] = [f"connect: {describe(e)}" for e in connected if isinstance(e, BaseException)]
    gate = asyncio.Event()
    timeout = args.timeout
    chunk_events: list[int] = []
    starts: list[float] = []

    async def chat(account: Account, sock: StreamRecorder) -> float:
        await gate.wait()
        payload = {"team_id": account.teams[LOAD], "message": f"hello from {account.name}"}
        began, ack = await send(sock, payload, timeout)
        problem = check_ack(ack)
        if problem:
            raise RuntimeError(problem)
        try:
            stream = await sock.finished(ack["task_id"], ack["message_id"] + 1, timeout=timeout)
        except (TimeoutError, ConnectionError) as exc:
            partial = sock.answer_of(ack["task_id"])
            state = "no chat:start" if partial is None else "; ".join(partial.problems(expected))
            raise RuntimeError(f"{describe(exc)} waiting for chat:done ({state})") from None
        problems = stream.problems(expected)
        if problems:
            raise RuntimeError("; ".join(problems))
        chunk_events.append(stream.chunks)
        starts.append(stream.started - began)  # type: ignore[operator]
        return stream.done - began  # type: ignore[operator]

    pairs = [(a, s) for a, s in zip(accounts, connected, strict=True) if isinstance(s, StreamRecorder)]
    rss_before = rss_mb(bench.pid)
    server_cpu, own_cpu = cpu_seconds(bench.pid), own_cpu_seconds()
    llm_cpu = cpu_seconds(bench.llm_pid) if bench.llm_pid else math.nan
    try:
        with RssSampler(bench.pid) as sampler, profiled(bench, f"users-{n}"):
            tasks = [asyncio.create_task(chat(a, s)) for a, s in pairs]
            await asyncio.sleep(0.2)  # every coroutine is parked on the gate
            began = time.perf_counter()
            gate.set()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            wall = time.perf_counter() - began
        times = [o for o in outcomes if isinstance(o, float)]
        errors += [describe(o) for o in outcomes if isinstance(o, BaseException)]
        return {
            "n": n,
            "complete": len(times),
            "errors": errors,
            "p50": median(times),
            "p99": percentile(times, 99),
            "wall": wall,
            "rss_before": rss_before,
            "rss_peak": sampler.peak,
            "rss_after": rss_mb(bench.pid),
            "chunk_events": sum(chunk_events),
            "start_p50": median(starts) if starts else None,
            "start_p99": percentile(starts, 99) if starts else None,
            "server_cpu": cpu_seconds(bench.pid) - server_cpu,
            "client_cpu": own_cpu_seconds() - own_cpu,
            "llm_cpu": (cpu_seconds(bench.llm_pid) if bench.llm_pid else math.nan) - llm_cpu,
        }
    finally:
        await asyncio.gather(*(s.close() for s in sockets))


@contextlib.contextmanager
def profiled(bench: Bench, label: str) -> Iterator[None]:
    """With --profile DIR, sample the server with py-spy (not a dependency: install it
    yourself) while the block runs, into DIR/<label>-<n>.txt (collapsed stacks, one line per
    stack with its sample count), to find where a burst spends its CPU."""
    folder = bench.args.profile
    if not folder:
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = Path(folder) / f"{label}-{len(list(Path(folder).glob(label + '-*')))}.txt"
    search = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    command = [shutil.which("py-spy", path=search) or "py-spy", "record", "-p", str(bench.pid)]
    command += [
        "-r",
        "250",
        "-f",
        "raw",
        "--nonblocking",
        *shlex.split(bench.args.profile_args),
        "-o",
        str(out),
    ]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches before the burst begins
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait(timeout=30)
        bench.results.setdefault("profiles", []).append(str(out))


async def direct_at_once(llm_url: str, n: int, timeout: float) -> list[float]:
    """Seconds each of ``n`` simultaneous streams of the load model takes read straight from
    the fake LLM (httpx): the best any server could do on this machine right now."""
    body = {"model": MODELS[LOAD], "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"Authorization": "Bearer sk-bench-direct"}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=llm_url, timeout=timeout, limits=limits) as http:

        async def one() -> float:
            began = time.perf_counter()
            async with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
                async for _ in response.aiter_lines():
                    pass
            return time.perf_counter() - began

        return list(await asyncio.gather(*(one() for _ in range(n))))


async def phase_users(bench: Bench) -> None:
    rows: list[dict[str, Any]] = []
    bench.results["users"] = rows
    for n in bench.args.users:
        for _ in range(bench.args.runs):
            row = await users_run(bench, n)
            direct = await direct_at_once(bench.llm_url, n, bench.args.timeout)
            row["direct_p50"], row["direct_p99"] = median(direct), percentile(direct, 99)
            rows.append(row)
            for error in row["errors"][:5]:
                bench.note("users", f"N={n}: {error}")
            if len(row["errors"]) > 5:
                bench.note("users", f"N={n}: ... {len(row['errors']) - 5} more errors")
            healthy = await asyncio.to_thread(server_healthy, bench.url)
            row["healthy_after"] = healthy
            if not healthy:
                bench.note("users", f"N={n}: /api/health did not answer 200 within 10 s after the run")
                return
            await asyncio.sleep(1.0)


async def phase_idle(bench: Bench) -> None:
    args = bench.args
    assert bench.main is not None
    ws_url = websocket_url(bench.url)
    await asyncio.sleep(args.settle)
    before = rss_mb(bench.pid)
    began = time.perf_counter()
    opened = await gather_limited(
        [
            IdleSocket.open(ws_url, bench.main.token, args.timeout, args.idle_deflate)
            for _ in range(args.idle_connections)
        ],
        50,
    )
    open_seconds = time.perf_counter() - began
    sockets = [s for s in opened if isinstance(s, IdleSocket)]
    failures = [describe(e) for e in opened if isinstance(e, BaseException)]
    for failure in sorted(set(failures))[:5]:
        bench.note("idle", f"{failures.count(failure)} x open failed: {failure}")
    await asyncio.sleep(args.settle)
    held_rss = rss_mb(bench.pid)
    held = sum(not s.closed for s in sockets)
    await asyncio.gather(*(s.close() for s in sockets))
    await asyncio.sleep(args.settle)
    bench.results["idle"] = {
        "wanted": args.idle_connections,
        "opened": len(sockets),
        "held": held,
        "open_seconds": open_seconds,
        "before": before,
        "held_rss": held_rss,
        "after_close": rss_mb(bench.pid),
        "per_connection_kb": (held_rss - before) * 1024 / len(sockets) if sockets else math.nan,
    }


async def upload_attachment(bench: Bench, name: str, data: bytes) -> int:
    assert bench.main is not None
    async with httpx.AsyncClient(base_url=bench.url, timeout=bench.args.timeout) as http:
        response = await http.post(
            "/api/attachments/upload",
            files={"file": (name, data, "text/plain")},
            headers={"Authorization": f"Bearer {bench.main.token}"},
        )
    response.raise_for_status()
    return int(response.json()["id"])


async def direct_tool_call_times(llm_url: str, runs: int, message: str) -> list[float]:
    """The fake LLM's tool-call response (the extra model round trip of a tool turn), read
    straight by httpx."""
    body = {"model": MODELS[TOOL], "stream": True, "messages": [{"role": "user", "content": message}]}
    times = []
    async with httpx.AsyncClient(base_url=llm_url, headers={"Authorization": "Bearer sk-bench"}) as http:
        for _ in range(runs):
            began = time.perf_counter()
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                async for _ in response.aiter_bytes():
                    pass
            times.append(time.perf_counter() - began)
    return times


async def phase_tool(bench: Bench) -> None:
    """Plain 200-chunk turns and one-tool-call turns, alternating (see the module docstring)."""
    args = bench.args
    assert bench.main is not None
    content = b"The bench file says hello. " * 4
    shown = content.decode()
    expected_tool = f"Tool results: [bench.txt: characters 0-{len(shown)} of {len(shown)}]\n{shown}\n"
    expected_tool += answer(LOAD_CHUNKS)
    times: dict[str, list[float]] = {"plain": [], "tool": []}
    sock = await bench.socket(bench.main)
    try:
        for i in range(args.chats + args.warmup):
            for kind, team, expected in (
                ("plain", PLAIN, answer(LOAD_CHUNKS)),
                ("tool", TOOL, expected_tool),
            ):
                attachment_id = await upload_attachment(bench, "bench.txt", content)
                message = f'@call read_attachment {{"attachment_id": {attachment_id}}}\ntool bench {i}'
                began, stream, problem = await one_chat(
                    bench, sock, team, message, expected, args.timeout, attachment_ids=[attachment_id]
                )
                if problem or stream is None:
                    bench.note("tool", problem or "no stream")
                    continue
                if i >= args.warmup:
                    times[kind].append(ms(stream.done - began))  # type: ignore[operator]
                await asyncio.sleep(0.02)
    finally:
        await sock.close()
    direct = await direct_tool_call_times(bench.llm_url, max(args.chats, 5), "@call read_attachment {}")
    bench.results["tool"] = {**times, "llm_round_trip": [ms(t) for t in direct]}


async def phase_mcp_tool(bench: Bench) -> None:
    """Plain turns, MCP turns without a call and MCP turns with one ``echo`` call, round robin
    (see the module docstring). The server's CPU of a turn is read from one send to the next
    (after a short pause), so it includes what the turn does after chat:done (closing the MCP
    session)."""
    args = bench.args
    assert bench.main is not None
    kinds = ("plain", "mcp-open", "mcp-call")
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    rounds: list[dict[str, float]] = []  # the three turns of one round, for paired differences
    sock = await bench.socket(bench.main)
    try:
        for i in range(args.chats + args.warmup):
            this_round: dict[str, float] = {}
            rounds.append(this_round)
            for kind in kinds:
                text = f"bench {i}"
                team, message, expected = {
                    "plain": (PLAIN, f"plain {text}", answer(LOAD_CHUNKS)),
                    "mcp-open": (MCP, f"no call {text}", answer(LOAD_CHUNKS)),
                    "mcp-call": (
                        MCP,
                        f"@call echo {json.dumps({'text': text})}\nGo",
                        f"Tool results: echo: {text}\n{answer(LOAD_CHUNKS)}",
                    ),
                }[kind]
                cpu_before = cpu_seconds(bench.pid)
                began, stream, problem = await one_chat(bench, sock, team, message, expected, args.timeout)
                await asyncio.sleep(0.05)
                cpu_used = cpu_seconds(bench.pid) - cpu_before
                if problem or stream is None:
                    bench.note(MCP_PHASE, problem or "no stream")
                    continue
                if i >= args.warmup:
                    times[kind].append(ms(stream.done - began))  # type: ignore[operator]
                    cpu[kind].append(ms(cpu_used))
                    this_round[kind] = times[kind][-1]
    finally:
        await sock.close()
    direct = await direct_tool_call_times(bench.llm_url, max(args.chats, 5), '@call echo {"text": "x"}')
    bench.results[MCP_PHASE] = {
        "times": times,
        "cpu": cpu,
        "rounds": [r for r in rounds if len(r) == len(kinds)],
        "llm_round_trip": [ms(t) for t in direct],
    }


async def setup_accounts(bench: Bench) -> None:
    args = bench.args
    main_teams = [FAST, LONG, LOAD] + ([TOOL, PLAIN] if TOOL_PHASE in args.phases else [])
    if MCP_PHASE in args.phases:
        main_teams += [team for team in (PLAIN, MCP) if team not in main_teams]
    docs_main = documents(f"{bench.llm_url}/v1", main_teams, bench.mcp_url)
    docs_load = documents(f"{bench.llm_url}/v1", [LOAD])
    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=bench.url, timeout=args.timeout) as http:
        admin = await login(http, "admin", ADMIN_PASSWORD)
        bench.main = await make_account(http, admin, "bench-main", docs_main)
        wanted = max(args.users) if "users" in args.phases and args.users else 0
        made = await gather_limited(
            [make_account(http, admin, f"bench-u{i:04d}", docs_load) for i in range(wanted)], 8
        )
    failures = [m for m in made if isinstance(m, BaseException)]
    if failures:
        raise SystemExit(f"{len(failures)} accounts could not be set up, first: {describe(failures[0])}")
    bench.users = list(made)
    bench.results["setup_seconds"] = time.perf_counter() - began


async def run_phases(bench: Bench) -> None:
    phases: dict[str, Callable[[Bench], Awaitable[None]]] = {
        "latency": phase_latency,
        "long": phase_long,
        "watch": phase_watch,
        "idle": phase_idle,
        "tool": phase_tool,
        MCP_PHASE: phase_mcp_tool,
        "users": phase_users,  # last: an overloaded server would spoil the phases after it
    }
    await setup_accounts(bench)
    bench.results["rss"] = {"after setup": rss_mb(bench.pid)}
    for name, phase in phases.items():
        if name not in bench.args.phases:
            continue
        print(f"... {name}", file=sys.stderr, flush=True)
        began = time.perf_counter()
        try:
            await asyncio.wait_for(phase(bench), bench.args.phase_timeout)
        except Exception as exc:  # noqa: BLE001 - a failed phase is reported, the others still run
            bench.note(name, f"phase aborted: {describe(exc)}")
        bench.results.setdefault("phase_seconds", {})[name] = time.perf_counter() - began
        bench.results["rss"][f"after {name}"] = rss_mb(bench.pid)
        for line in bench.log.new_problems():
            bench.note(name, f"server log: {line[:300]}")
        if not await asyncio.to_thread(server_healthy, bench.url):
            bench.note(name, "server unhealthy after this phase; later phases skipped")
            break
    await asyncio.sleep(bench.args.settle)
    bench.results["rss"]["idle at the end"] = rss_mb(bench.pid)


# --- the report ---------------------------------------------------------------------------------


def table(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("figure", "reference", "target", "ours")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for i, row in enumerate([header, *rows]):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("-+-".join("-" * width for width in widths))


def report(bench: Bench, mode: str) -> None:
    results, args = bench.results, bench.args
    rows: list[tuple[str, str, str, str]] = []
    rss = results.get("rss", {})

    latency = results.get("latency")
    if latency and latency["runs"]:
        p50 = {
            k: median([percentile(r[k], 50) for r in latency["runs"]])
            for k in ("ack", "start", "first", "done")
        }
        p99 = {
            k: median([percentile(r[k], 99) for r in latency["runs"]])
            for k in ("ack", "start", "first", "done")
        }
        rows.append(("send -> ack, p50 / p99", "-", "-", f"{fmt(p50['ack'])} / {fmt(p99['ack'])}"))
        rows.append(("send -> chat:start, p50 / p99", "-", "-", f"{fmt(p50['start'])} / {fmt(p99['start'])}"))
        rows.append(
            (
                "send -> first chunk, p50 / p99",
                "76 / 94 ms",
                "<= 15 ms (p50)",
                f"{fmt(p50['first'])} / {fmt(p99['first'])}",
            )
        )
        rows.append(
            ("send -> chat:done (20 chunks), p50 / p99", "-", "-", f"{fmt(p50['done'])} / {fmt(p99['done'])}")
        )
    long = results.get("long")
    if long and long["done"]:
        ours = median(long["done"])
        sdk, raw = median(long["direct"]["sdk"]), median(long["direct"]["httpx"])
        rows.append(("2,000-chunk stream, send -> done", "1,305 ms", "<= 150 ms", fmt(ours)))
        rows.append(
            (
                "  overhead vs the direct stream",
                "77x (direct 17 ms)",
                "-",
                f"{ours / raw:.1f}x httpx read ({fmt(raw)}); {ours / sdk:.1f}x OpenAI SDK read ({fmt(sdk)})",
            )
        )
    watch = results.get("watch")
    if watch and watch["runs"]:
        run = sorted(watch["runs"], key=lambda r: r["last_done"])[len(watch["runs"]) // 2]
        rows.append(
            (
                f"1 stream, {run['sockets'] - 1} joined + sender",
                "21 sockets all done; 16,600/s",
                "all complete",
                f"{run['complete']}/{run['sockets']} done in {fmt(run['last_done'])}; "
                f"{run['deliveries_per_s']:,.0f} deltas/s",
            )
        )
    references = {10: "p50 2.8 s (1.4x)", 30: "p50 6.5 s (3.2x)"}
    for n in args.users if "users" in results else []:
        runs = [r for r in results["users"] if r["n"] == n]
        if not runs:
            continue
        complete = min(r["complete"] for r in runs)
        errors = max(len(r["errors"]) for r in runs)
        p50, p99 = median([r["p50"] for r in runs]), median([r["p99"] for r in runs])
        peak = max(r["rss_peak"] for r in runs)
        direct = median([r["direct_p99"] for r in runs])
        rows.append(
            (
                f"{n} users at once (200 x 10 ms, ideal 2 s)",
                references.get(n, "0 complete, wedged" if n >= 40 else "-"),
                f"{n} complete, 0 err, p99 <= 2.6 s",
                f"{complete}/{n} complete, {errors} err, p50 {fmt(p50, 's', 2)}, p99 {fmt(p99, 's', 2)} "
                f"({p99 / IDEAL_LOAD_SECONDS:.2f}x; fake LLM alone {fmt(direct, 's', 2)}), "
                f"RSS peak {peak:.0f} MiB",
            )
        )
    idle = results.get("idle")
    if idle:
        rows.append(
            (
                f"memory per idle /chat connection ({idle['wanted']:,})",
                "33 KB (+32 MB, kept)",
                "<= 20 KB",
                f"{idle['per_connection_kb']:.1f} KiB ({idle['held']}/{idle['wanted']} held)",
            )
        )
    tool = results.get("tool")
    if tool and tool["plain"] and tool["tool"]:
        plain, with_tool, llm = median(tool["plain"]), median(tool["tool"]), median(tool["llm_round_trip"])
        rows.append(
            (
                "tool loop overhead per tool call (200-chunk answer)",
                "-",
                "< 10 ms server time",
                f"{fmt(with_tool - plain)} ({fmt(with_tool)} tool turn - {fmt(plain)} plain); "
                f"{fmt(with_tool - plain - llm)} without the fake LLM's extra round trip ({fmt(llm)})",
            )
        )
    mcp = results.get(MCP_PHASE)
    if mcp and all(mcp["times"].values()):
        t = {kind: median(values) for kind, values in mcp["times"].items()}
        c = {kind: statistics.fmean(values) for kind, values in mcp["cpu"].items()}
        llm = median(mcp["llm_round_trip"])
        rows.append(
            (
                "MCP tool call (echo, loopback), per call (200-chunk answer)",
                "-",
                "< 10 ms server time",
                f"{fmt(t['mcp-call'] - t['mcp-open'])} "
                f"({fmt(t['mcp-call'])} - {fmt(t['mcp-open'])} no call); "
                f"{fmt(t['mcp-call'] - t['mcp-open'] - llm)} without the fake LLM's extra round trip "
                f"({fmt(llm)}); server CPU {fmt(c['mcp-call'] - c['mcp-open'])}",
            )
        )
        rows.append(
            (
                "  MCP session per turn (open, list tools, close)",
                "-",
                "-",
                f"{fmt(t['mcp-open'] - t['plain'])} ({fmt(t['mcp-open'])} - {fmt(t['plain'])} plain); "
                f"server CPU {fmt(c['mcp-open'] - c['plain'])}",
            )
        )
    if "idle" in rss:
        ours = f"{rss['idle']:.0f} MiB after start"
        if "after latency" in rss:
            ours += f", {rss['after latency']:.0f} after the first chats"
        ours += f", {rss['idle at the end']:.0f} idle at the end"
        rows.append(("server idle memory (RSS)", "507 MB + 261 MB", "<= 150 MB", ours))
    print()
    print(f"Chat streaming benchmark: {mode}; runs: {args.runs}; the table shows medians over runs")
    print()
    table(rows)
    print_raw(bench)


def print_raw(bench: Bench) -> None:
    results, args = bench.results, bench.args
    print()
    print("raw numbers")
    print(f"  setup (users, logins, agents over HTTP): {results.get('setup_seconds', math.nan):.1f} s")
    latency = results.get("latency")
    if latency:
        cold = latency["cold"]
        if cold:
            print(
                f"  first chat of the fresh server (cold): start {fmt(cold['start'])}, "
                f"first chunk {fmt(cold['first'])}, done {fmt(cold['done'])}"
            )
        for i, run in enumerate(latency["runs"]):
            parts = [
                f"{key} p50 {fmt(percentile(run[key], 50))} p99 {fmt(percentile(run[key], 99))}"
                for key in ("ack", "start", "first", "done")
            ]
            print(f"  latency run {i + 1} ({len(run['first'])} chats): " + ", ".join(parts))
    long = results.get("long")
    if long:
        print(f"  2,000-chunk stream send->done: {', '.join(fmt(v) for v in long['done'])}")
        print(f"    chat:chunk events per stream (deltas are batched): {long['events']}")
        print(f"    direct OpenAI SDK: {', '.join(fmt(v) for v in long['direct']['sdk'])}")
        print(f"    direct httpx:      {', '.join(fmt(v) for v in long['direct']['httpx'])}")
    for run in (results.get("watch") or {}).get("runs", []):
        print(
            f"  watch: {run['complete']}/{run['sockets']} sockets complete, first done "
            f"{fmt(run['first_done'])}, last done {fmt(run['last_done'])}, "
            f"{run['deliveries_per_s']:,.0f} deltas/s, {run['chunk_events']} chat:chunk events in all"
        )
    for row in results.get("users", []):
        print(
            f"  users N={row['n']}: {row['complete']} complete, {len(row['errors'])} errors, "
            f"p50 {fmt(row['p50'], 's', 3)}, p99 {fmt(row['p99'], 's', 3)}, wall {row['wall']:.2f} s; "
            f"send -> chat:start p50 {fmt(row.get('start_p50') or math.nan, 's', 3)}, "
            f"p99 {fmt(row.get('start_p99') or math.nan, 's', 3)}; "
            f"RSS {row['rss_before']:.0f} -> peak {row['rss_peak']:.0f} -> {row['rss_after']:.0f} MiB; "
            f"CPU server {row['server_cpu']:.1f} s "
            f"= {row['server_cpu'] * 1000 / max(1, row['complete'] * LOAD_CHUNKS):.2f} ms per delta, "
            f"{row['server_cpu'] * 1000 / max(1, row['chunk_events']):.2f} ms per chat:chunk event "
            f"({row['chunk_events']} events for {row['complete'] * LOAD_CHUNKS} deltas), "
            f"bench client {row['client_cpu']:.2f} s, fake LLM {row['llm_cpu']:.2f} s; "
            f"healthy after: {row.get('healthy_after')}; "
            "the same N streams straight from the fake LLM: "
            f"p50 {fmt(row.get('direct_p50', math.nan), 's', 3)}, "
            f"p99 {fmt(row.get('direct_p99', math.nan), 's', 3)}"
        )
    idle = results.get("idle")
    if idle:
        print(
            f"  idle: {idle['opened']}/{idle['wanted']} opened in {idle['open_seconds']:.1f} s "
            f"(deflate {'on' if args.idle_deflate else 'off'}), {idle['held']} still open after "
            f"{args.settle:.0f} s; RSS {idle['before']:.1f} -> {idle['held_rss']:.1f} MiB, "
            f"{idle['after_close']:.1f} MiB {args.settle:.0f} s after closing them"
        )
    mcp = results.get(MCP_PHASE)
    if mcp:
        for kind, values in mcp["times"].items():
            cpu = mcp["cpu"][kind]
            print(
                f"  {MCP_PHASE} {kind}: {len(values)} turns, "
                f"send->done p50 {fmt(median(values) if values else math.nan)} "
                f"(min {fmt(min(values, default=math.nan))}, max {fmt(max(values, default=math.nan))}); "
                f"server CPU per turn mean {fmt(statistics.fmean(cpu) if cpu else math.nan)}"
            )
        print(f"  {MCP_PHASE} fake LLM tool-call round trip p50 {fmt(median(mcp['llm_round_trip']))}")
        if mcp["rounds"]:
            call = median([r["mcp-call"] - r["mcp-open"] for r in mcp["rounds"]])
            session = median([r["mcp-open"] - r["plain"] for r in mcp["rounds"]])
            print(
                f"  {MCP_PHASE} paired (median of each round's difference, {len(mcp['rounds'])} rounds): "
                f"per call {fmt(call)}, per-turn session {fmt(session)}"
            )
    rss = results.get("rss", {})
    print("  server RSS (MiB): " + ", ".join(f"{k} {v:.1f}" for k, v in rss.items()))
    seconds = results.get("phase_seconds", {})
    print("  phase durations: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    for profile in results.get("profiles", []):
        print(f"  py-spy profile: {profile}")
    print()
    if bench.problems:
        print("PROBLEMS")
        for phase, problems in bench.problems.items():
            for problem in problems[:20]:
                print(f"  [{phase}] {problem}")
            if len(problems) > 20:
                print(f"  [{phase}] ... {len(problems) - 20} more")
    else:
        print("no problems: every answer arrived whole and in order; no server log line at WARNING+")


# --- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small numbers for a smoke run")
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement; medians are shown")
    parser.add_argument("--phases", nargs="+", choices=(*PHASES, TOOL_PHASE, MCP_PHASE), default=list(PHASES))
    parser.add_argument("--chats", type=int, help="measured chats per latency run (50; quick 10)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured chats before the latency run")
    parser.add_argument("--users", type=int, nargs="+", help="N for the users phase (10 50 100; quick 5 10)")
    parser.add_argument("--watchers", type=int, help="sockets joined to the watched stream (20; quick 5)")
    parser.add_argument("--idle-connections", type=int, help="idle /chat connections (1000; quick 100)")
    parser.add_argument(
        "--idle-deflate", action="store_true", help="idle sockets negotiate permessage-deflate"
    )
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to idle before reading RSS")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one chat or call may take")
    parser.add_argument("--phase-timeout", type=float, default=900.0, help="seconds one phase may take")
    parser.add_argument("--database-url", help="scaled mode: this database is DROPPED and recreated")
    parser.add_argument("--redis-url", help="scaled mode: this Redis database is FLUSHED")
    parser.add_argument(
        "--client",
        choices=("lean", "socketio"),
        default="lean",
        help="chat sockets: bare WebSockets (lean, cheap on CPU) or python-socketio's AsyncClient",
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="record the server with py-spy during each users run"
    )
    parser.add_argument("--profile-args", default="", help="more py-spy options, e.g. '--native --gil'")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the server log")
    parser.add_argument(
        "--tool",
        nargs="?",
        const="attachment",
        choices=("attachment", "mcp", "all"),
        help="also run a tool phase (one tool call + 200 chunks vs plain): read_attachment (the "
        "default), an MCP server's tool, or both",
    )
    args = parser.parse_args()
    wanted = {"attachment": [TOOL_PHASE], "mcp": [MCP_PHASE], "all": [TOOL_PHASE, MCP_PHASE]}
    args.phases += [phase for phase in wanted.get(args.tool or "", []) if phase not in args.phases]
    quick = args.quick
    args.chats = args.chats or (10 if quick else 50)
    args.users = args.users or ([5, 10] if quick else [10, 50, 100])
    args.watchers = args.watchers if args.watchers is not None else (5 if quick else 20)
    args.idle_connections = args.idle_connections or (100 if quick else 1000)
    if args.redis_url and not args.database_url:
        parser.error("--redis-url needs --database-url (the scaled mode)")
    return args


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed: the client side then costs less CPU next to the server."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@contextlib.contextmanager
def spawned(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop(proc)


def main() -> None:
    args = parse_args()
    fd_limit = raise_fd_limit()
    data_dir = Path(tempfile.mkdtemp(prefix="wegent-bench-chat-"))
    env = server_env(args, str(data_dir))
    if MCP_PHASE in args.phases:
        env["WEGENT_OUTBOUND_ALLOWLIST"] = "127.0.0.1"  # the loopback MCP server
    # This process imports the test suite's document builders, which need the same settings.
    os.environ.update(env)
    for var in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "WEGENT_TESTING"):
        if var not in env:
            os.environ.pop(var, None)
    mode = (
        f"scaled mode ({urlsplit(args.database_url).scheme}, {'Redis' if args.redis_url else 'no Redis'})"
        if args.database_url
        else "embedded mode (SQLite, no Redis)"
    )
    mode += ", one uvicorn process without the in-process Celery worker"
    mode += f"; {args.client} client" + (" on uvloop" if loop_factory() else "")
    python = sys.executable
    server_log = data_dir / "server.log"
    try:
        prepare(args, env)
        llm_port, port, mcp_port = free_port(), free_port(), free_port()
        mcp_command = [python, "-c", MCP_RUNNER, str(mcp_port)]
        with (
            (
                spawned(mcp_command, env, data_dir / "fake_mcp.log")
                if MCP_PHASE in args.phases
                else contextlib.nullcontext()
            ) as mcp,
            spawned(
                [python, "-m", "chat.tests.fake_llm", "--port", str(llm_port)], env, data_dir / "fake_llm.log"
            ) as llm,
            spawned(
                [python, "manage.py", "serve", "--port", str(port), "--no-embedded-celery"], env, server_log
            ) as server,
        ):
            llm_url, url = f"http://127.0.0.1:{llm_port}", f"http://127.0.0.1:{port}"
            wait_http(f"{llm_url}/v1/models", llm, "the fake LLM")
            mcp_url = None
            if mcp is not None:
                wait_http(f"http://127.0.0.1:{mcp_port}/garbage", mcp, "the fake MCP server")
                mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
            started = wait_http(f"{url}/api/health", server, "the server")
            print(
                f"server up in {started:.1f} s (pid {server.pid}, fd limit {fd_limit}); {mode}",
                file=sys.stderr,
            )
            time.sleep(args.settle)
            bench = Bench(
                args, url, server.pid, llm_url, ServerLog(server_log), llm_pid=llm.pid, mcp_url=mcp_url
            )
            bench.results["rss"] = {}
            idle_rss = rss_mb(server.pid)
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                runner.run(run_phases(bench))
            bench.results["rss"] = {"idle": idle_rss, **bench.results["rss"]}
            if server.poll() is not None:
                bench.note("server", f"the server exited with status {server.returncode}")
        report(bench, mode)
    finally:
        if args.keep:
            print(f"data dir and logs kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
