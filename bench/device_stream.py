"""Devices over Socket.IO ``/local-executor`` (issue 15): many connected devices, tasks streaming
progress from devices to browsers, and what an idle device costs the server.

Prepares a fresh database (a temp SQLite data dir by default; ``--database-url`` /
``--redis-url`` for the scaled mode, whose database is dropped and recreated and whose Redis
database is flushed), starts the server (``manage.py serve --no-embedded-celery``) as a
subprocess, creates --users users (each with an executor team on a ClaudeCode shell) through
the ORM of this process on the same database, then:

  connect     --devices devices (python-socketio ``AsyncClient``, websocket only, as Wegent's
              local executor connects) spread over the users, each registers with an ack;
              server RSS after the first tenth (one-time costs) and after all of them:
              the difference / the rest = memory per connected idle device; then one
              heartbeat round of all devices at once (ack latency p50/p99).
  stream      each of --tasks users (one browser socket each, the bench's lean /chat client)
              sends ``chat:send`` with one of its devices; every device that receives
              ``task:execute`` streams --updates ``task:progress`` events (one more word each,
              every --interval seconds; plain emits, as the real executor sends them) and a
              COMPLETED one. Delivery latency = arrival of a ``chat:chunk`` at the browser -
              the device's emit of the progress that produced it (same process, same clock),
              p50/p99 over all chunks; every answer is checked (offsets continuous, text ==
              chat:done's value). Server CPU seconds over the phase (/proc, 10 ms ticks).

Numbers are only meaningful on a quiet machine; the client (100 python-socketio clients and the
browsers) runs on the same cores as the server.

    .venv/bin/python bench/device_stream.py [--devices 100] [--tasks 20] [--updates 50]
        [--interval 0.1] [--database-url postgres://... --redis-url redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _socketio_client import LeanChatSocket  # noqa: E402
from chat_stream import prepare, server_env, stop, wait_http  # noqa: E402
from cold_start import free_port, rss_mb  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


class TimedBrowser(LeanChatSocket):
    """The lean /chat client, also time-stamping every chunk (subtask id, offset) on arrival."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[tuple[int, int], float] = {}

    def _on_chunk(self, data: dict[str, Any]) -> None:
        self.arrivals[(data.get("subtask_id"), data.get("offset"))] = time.perf_counter()  # type: ignore[index]
        super()._on_chunk(data)


class BenchDevice:
    """A device as Wegent's local executor behaves: register, heartbeat, run tasks it gets."""

    def __init__(self, device_id: str, updates: int, interval: float) -> None:
        import socketio

        self.device_id = device_id
        self.updates = updates
        self.interval = interval
        self.client = socketio.AsyncClient(reconnection=False)
        self.sent: dict[tuple[int, int], float] = {}  # (subtask id, offset before) -> emit time
        self.runs: list[asyncio.Task[None]] = []
        self.client.on("task:execute", self._execute, namespace="/local-executor")

    async def connect(self, url: str, token: str) -> None:
        await self.client.connect(
            url,
            namespaces=["/local-executor"],
            auth={"token": token},
            transports=["websocket"],
            wait_timeout=30,
        )
        body = {"device_id": self.device_id, "name": f"bench {self.device_id}", "executor_version": "1.0.0"}
        ack = await self.client.call("device:register", body, namespace="/local-executor", timeout=30)
        if not ack.get("success"):
            raise SystemExit(f"register failed: {ack}")

    async def heartbeat(self) -> float:
        began = time.perf_counter()
        body = {"device_id": self.device_id, "running_task_ids": []}
        ack = await self.client.call("device:heartbeat", body, namespace="/local-executor", timeout=30)
        if ack != {"success": True}:
            raise SystemExit(f"heartbeat failed: {ack}")
        return time.perf_counter() - began

    def _execute(self, task: dict[str, Any]) -> None:
        self.runs.append(asyncio.ensure_future(self._run(task)))

    async def _run(self, task: dict[str, Any]) -> None:
        base = {"task_id": task["task_id"], "subtask_id": task["subtask_id"], "status": "RUNNING"}
        text = ""
        for i in range(self.updates):
            before = len(text)
            text += f"w{i} "
            self.sent[(task["subtask_id"], before)] = time.perf_counter()
            body = {**base, "progress": min(99, 10 + i), "result": {"value": text}}
            await self.client.emit("task:progress", body, namespace="/local-executor")
            await asyncio.sleep(self.interval)
        final = {**base, "status": "COMPLETED", "progress": 100, "result": {"value": text}}
        await self.client.emit("task:progress", final, namespace="/local-executor")

    async def close(self) -> None:
        await self.client.disconnect()


def make_rows(users: int) -> list[tuple[str, int]]:
    """(JWT, team id) of each bench user, made through the ORM on the server's database."""
    import django

    django.setup()
    from accounts.services.tokens import issue_access_token
    from accounts.tests.factories import make_user
    from devices.tests.factories import make_code_team

    rows = []
    for i in range(users):
        user = make_user(f"bench-device-user-{i}")
        rows.append((issue_access_token(user), make_code_team(user).pk))
    return rows


async def run(args: argparse.Namespace, url: str, pid: int, rows: list[tuple[str, int]]) -> None:
    per_user = max(1, args.devices // len(rows))
    devices: list[tuple[int, BenchDevice]] = []
    # The first connections pay one-time costs (imports, pools, caches): they are not counted.
    warm = max(1, args.devices // 10)
    rss_before = 0.0
    began = time.perf_counter()
    for index in range(args.devices):
        if index == warm:
            await asyncio.sleep(args.settle)
            rss_before = rss_mb(pid)
        owner = min(index // per_user, len(rows) - 1)
        device = BenchDevice(f"bench-{index:04d}", args.updates, args.interval)
        await device.connect(url, rows[owner][0])
        devices.append((owner, device))
    connect_seconds = time.perf_counter() - began
    await asyncio.sleep(args.settle)
    rss_after = rss_mb(pid)
    counted = len(devices) - warm
    beats = await asyncio.gather(*(device.heartbeat() for _, device in devices))
    print(f"devices: {len(devices)} connected and registered in {connect_seconds:.1f} s")
    print(
        f"memory per connected idle device: {(rss_after - rss_before) * 1024 / max(1, counted):.1f} KiB "
        f"(server RSS {rss_before:.1f} -> {rss_after:.1f} MiB over the last {counted} devices)"
    )
    print(
        f"heartbeat round ({len(beats)} at once): ack p50 {percentile(beats, 50) * 1000:.1f} ms, "
        f"p99 {percentile(beats, 99) * 1000:.1f} ms"
    )

    browsers: list[TimedBrowser] = []
    for token, _ in rows[: args.tasks]:
        browser = TimedBrowser()
        await browser.connect(url, token)
        browsers.append(browser)
    cpu_before = cpu_seconds(pid)
    own_before = time.process_time()
    phase_began = time.perf_counter()
    acks = await asyncio.gather(
        *(
            browser.call(
                "chat:send",
                {
                    "team_id": rows[owner][1],
                    "message": "bench task",
                    "task_type": "task",
                    "device_id": next(d.device_id for o, d in devices if o == owner),
                },
            )
            for owner, browser in enumerate(browsers)
        )
    )
    streams = await asyncio.gather(
        *(
            browser.finished(ack["task_id"], timeout=60 + args.updates * args.interval * 4)
            for browser, ack in zip(browsers, acks, strict=True)
        )
    )
    phase_seconds = time.perf_counter() - phase_began
    cpu = cpu_seconds(pid) - cpu_before
    own_cpu = time.process_time() - own_before
    problems = [problem for stream in streams for problem in stream.problems()]
    sent = {key: at for _, device in devices for key, at in device.sent.items()}
    latencies = [
        arrived - sent[key]
        for browser in browsers
        for key, arrived in browser.arrivals.items()
        if key in sent
    ]
    # Each answer's first report is checked in the database (and arrives with every other
    # task's chat:send); the later ones are the steady stream.
    steady = [
        arrived - sent[key]
        for browser in browsers
        for key, arrived in browser.arrivals.items()
        if key in sent and key[1] > 0
    ]
    settled = [
        arrived - sent[key]
        for browser in browsers
        for key, arrived in browser.arrivals.items()
        if key in sent and sent[key] > phase_began + 1.0
    ]
    print(
        f"stream: {len(streams)} tasks x {args.updates} progress events every {args.interval * 1000:.0f} ms "
        f"in {phase_seconds:.1f} s, {len(latencies)} chunks, problems: {problems[:3] or 'none'}"
    )
    print(
        f"delivery latency task:progress -> chat:chunk: p50 {percentile(latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
        f"(mean {statistics.mean(latencies) * 1000:.1f} ms); after each answer's first chunk: "
        f"p50 {percentile(steady, 50) * 1000:.1f} ms, p99 {percentile(steady, 99) * 1000:.1f} ms; "
        f"from 1 s into the phase: p99 {percentile(settled, 99) * 1000:.1f} ms over {len(settled)}"
    )
    print(
        f"CPU over the stream phase: server {cpu:.2f} s ({cpu / phase_seconds * 100:.0f}% of one core), "
        f"bench client {own_cpu:.2f} s ({own_cpu / phase_seconds * 100:.0f}%)"
    )
    for browser in browsers:
        await browser.close()
    for _, device in devices:
        await device.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle before reading RSS")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    if args.tasks > args.devices:
        raise SystemExit("--tasks may not exceed --devices")

    data_dir = tempfile.mkdtemp(prefix="wegent-bench-devices-")
    env = server_env(args, data_dir)
    prepare(args, env)
    os.environ.update(env)
    rows = make_rows(args.tasks)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "manage.py", "serve", "--port", str(port), "--no-embedded-celery"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        wait_http(f"{url}/api/health", proc, "server")
        asyncio.run(run(args, url, proc.pid, rows))
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
