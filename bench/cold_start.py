"""Cold start and idle memory of the server that `make run` starts (embedded mode).

Prints, for N fresh processes: seconds from spawning `manage.py serve` to the first 200 on
/api/health, and the resident memory (RSS, including the in-process Celery worker and beat)
after the server has idled and after it has answered some requests. The database is migrated
and bootstrapped once beforehand, as `make run` does before it starts the server.

    .venv/bin/python bench/cold_start.py [--runs 5] [--idle 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """RSS of the process and its children (MiB)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status
    except OSError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to idle before reading RSS")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="wegent-bench-")
    env = {
        **os.environ,
        "WEGENT_DATA_DIR": data_dir,
        "WEGENT_SECRET_KEY": secrets.token_urlsafe(50),
        "WEGENT_LOG_LEVEL": "WARNING",
    }
    for var in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "WEGENT_TESTING"):
        env.pop(var, None)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([python, "manage.py", "bootstrap"], cwd=ROOT, env=env, check=True, capture_output=True)

    starts, idle, after = [], [], []
    for _ in range(args.runs):
        port = free_port()
        url = f"http://127.0.0.1:{port}/api/health"
        began = time.perf_counter()
        proc = subprocess.Popen(
            [python, "manage.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while get(url) != 200:
                if proc.poll() is not None:
                    raise SystemExit("server exited during start")
                if time.perf_counter() - began > 60:
                    raise SystemExit("server did not answer within 60 s")
                time.sleep(0.01)
            starts.append(time.perf_counter() - began)
            time.sleep(args.idle)
            idle.append(rss_mb(proc.pid))
            for _ in range(200):
                get(url)
            after.append(rss_mb(proc.pid))
        finally:
            proc.terminate()
            proc.wait(timeout=15)

    print(f"runs: {args.runs}, embedded mode (SQLite, in-memory layer, in-process Celery worker + beat)")
    print(
        f"cold start to first 200 on /api/health: median {statistics.median(starts):.2f} s "
        f"(min {min(starts):.2f}, max {max(starts):.2f})"
    )
    print(
        f"idle RSS after {args.idle:.0f} s: median {statistics.median(idle):.1f} MiB "
        f"(min {min(idle):.1f}, max {max(idle):.1f})"
    )
    print(f"RSS after 200 health requests: median {statistics.median(after):.1f} MiB")
    print("reference (wegent-baseline.md): about 14-17 s and 507-540 MB for the backend alone")


if __name__ == "__main__":
    main()
