"""Password-login limits against a real server: what one address can do, and how fast brute force is refused.

Starts one `manage.py serve` process on a loopback port (embedded: SQLite and the local cache;
or PostgreSQL + Redis with --database-url/--redis-url) with the default login settings and the
production password hasher (Argon2), seeds 101 users, then from one address (127.0.0.1):

  office    100 different users log in once each, with --concurrency requests in flight;
            every answer must be 200. Prints the wall time and the logins per minute it makes.
  brute     200 wrong passwords in a row for one user name: how many were checked (400) and
            refused (429, with Retry-After), and the time per answer of each.
  neighbour 150 wrong passwords for 50 other names from the same address, then the right
            password of the user from `brute`'s neighbour: it must get 200.

    .venv/bin/python bench/login_limits.py [--concurrency 8] [--database-url ... --redis-url ...]

A PostgreSQL database named in --database-url is dropped and created afresh.
"""

from __future__ import annotations

import argparse
import asyncio
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

import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-Pass-2025!"
USERS = 100

SEED = f"""
import django
django.setup()
from accounts.models import User
for i in range({USERS}):
    User.objects.create_user(f"staff{{i:03d}}", password={PASSWORD!r})
User.objects.create_user("victim", password={PASSWORD!r})
User.objects.create_user("neighbour", password={PASSWORD!r})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reset_postgres(database_url: str) -> None:
    """Each run seeds the same users: the database named in the URL is dropped and created."""
    name = database_url.rsplit("/", 1)[1]
    for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)


def start_server(database_url: str, redis_url: str) -> tuple[subprocess.Popen, str]:
    if database_url.startswith("postgres"):
        reset_postgres(database_url)
    env = {
        **os.environ,
        "WEGENT_SECRET_KEY": secrets.token_urlsafe(50),
        "WEGENT_DATA_DIR": tempfile.mkdtemp(prefix="wegent-bench-"),
        "WEGENT_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "wegent.settings",
    }
    for name in ("WEGENT_TESTING", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    env.update({k: v for k, v in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url)) if v})
    if redis_url:
        # A prefix of its own: the counts of an earlier run must not lock this one out.
        env["WEGENT_CACHE_PREFIX"] = f"bench-login-{secrets.token_hex(4)}"
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([python, "-c", SEED], cwd=ROOT, env=env, check=True)
    port = free_port()
    server = subprocess.Popen(
        [python, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/health", timeout=1)
            return server, url
        except OSError:
            if time.monotonic() > deadline:
                server.terminate()
                raise SystemExit("server did not start") from None
            time.sleep(0.1)


async def login(client: httpx.AsyncClient, name: str, password: str) -> tuple[httpx.Response, float]:
    began = time.perf_counter()
    response = await client.post("/api/auth/login", json={"user_name": name, "password": password})
    return response, time.perf_counter() - began


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"p50 {statistics.median(values) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"


async def office(client: httpx.AsyncClient, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> int:
        async with gate:
            response, _ = await login(client, f"staff{i:03d}", PASSWORD)
            return response.status_code

    began = time.perf_counter()
    codes = await asyncio.gather(*(one(i) for i in range(USERS)))
    elapsed = time.perf_counter() - began
    ok = codes.count(200)
    print(
        f"office    {USERS} users from one address, {concurrency} in flight: {ok}/{USERS} got 200 "
        f"in {elapsed:.2f} s = {ok / elapsed * 60:.0f} logins/min"
        + ("" if ok == USERS else f"  FAILED: {sorted(set(codes))}")
    )


async def brute(client: httpx.AsyncClient) -> None:
    checked, refused, retry_after = [], [], set()
    began = time.perf_counter()
    for _ in range(200):
        response, took = await login(client, "victim", "wrong-password")
        if response.status_code == 429:
            refused.append(took)
            retry_after.add(response.headers.get("Retry-After"))
        elif response.status_code == 400:
            checked.append(took)
        else:
            raise SystemExit(f"brute: unexpected {response.status_code} {response.text[:200]}")
    elapsed = time.perf_counter() - began
    print(
        f"brute     200 wrong passwords for one name in {elapsed:.2f} s: "
        f"{len(checked)} checked (400; {ms(checked)}), "
        f"{len(refused)} refused (429; {ms(refused)}; Retry-After {sorted(retry_after)})"
    )
    response, _ = await login(client, "victim", PASSWORD)
    print(f"          the right password while locked: {response.status_code}")


async def neighbour(client: httpx.AsyncClient) -> None:
    codes = []
    for i in range(50):
        for _ in range(3):
            response, _ = await login(client, f"guess{i}", "wrong-password")
            codes.append(response.status_code)
    again, _ = await login(client, "guess0", "wrong-password")
    response, _ = await login(client, "neighbour", PASSWORD)
    print(
        f"neighbour 150 wrong passwords for 50 other names: {codes.count(400)} checked, "
        f"{codes.count(429)} refused; a 4th try on one of them: {again.status_code}; "
        f"the neighbour's right password: {response.status_code}"
    )


async def run(url: str, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=max(concurrency, 1))
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await office(client, 1)
        await office(client, concurrency)
        await brute(client)
        await neighbour(client)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    server, url = start_server(args.database_url, args.redis_url)
    try:
        asyncio.run(run(url, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
