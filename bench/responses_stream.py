"""``/api/v1/responses`` with ``stream=true`` next to the same answers over Socket.IO (issue 17).

Starts the fake LLM and the server (``manage.py serve --no-embedded-celery``) as subprocesses,
on a fresh database (a temp SQLite data dir by default; ``--database-url`` / ``--redis-url``
for the scaled mode, dropped/flushed first), as ``bench/chat_stream.py`` does (its helpers are
reused), creates one user with a personal API key and two agents, then measures from this
process, alternating the two paths so drift hits both alike:

  first delta   --chats new conversations on a 20-chunk zero-delay model (``fake-n20-d0``),
                after --warmup unmeasured ones per path: request sent -> first
                ``response.output_text.delta`` (SSE over one kept-alive HTTP connection,
                ``Authorization: Bearer wg-...``, read by ``LeanHTTP``), and ``chat:send`` emitted -> first
                ``chat:chunk`` (the lean Socket.IO client of ``bench/_socketio_client.py``,
                JWT); p50 and p99 of each.
  long          --runs streams of 2,000 zero-delay deltas (``fake-n2000-d0``) each way:
                request sent -> ``response.completed``, and ``chat:send`` -> ``chat:done``;
                the median of each and their ratio (the issue's target: within 1.5x).

Every answer is checked: the SSE events' ``sequence_number`` run 0, 1, 2 ... and the deltas
rebuild the fake LLM's text exactly (``response.completed`` carries the same text); the
Socket.IO chunks' offsets are continuous and rebuild the same text. The SSE client splits the
chunked body with asyncio's stream reader and parses each ``data:`` line with orjson (as cheap
as the lean Socket.IO client: both share the two cores with the server they measure).
Numbers are only meaningful on a quiet machine.

    .venv/bin/python bench/responses_stream.py [--chats 50] [--runs 5]
        [--database-url postgres://postgres@127.0.0.1:5432/wg_bench --redis-url redis://127.0.0.1:6379/7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from chat_stream import (  # noqa: E402
    FAST,
    LONG,
    LeanChatSocket,
    ServerLog,
    documents,
    free_port,
    login,
    loop_factory,
    make_account,
    median,
    percentile,
    prepare,
    server_env,
    spawned,
    wait_http,
)

from chat.tests.fake_llm import answer  # noqa: E402

FAST_CHUNKS, LONG_CHUNKS = 20, 2000


@dataclass
class SSEAnswer:
    """One streamed response as this client saw it (times are ``time.perf_counter()``)."""

    began: float
    first_delta: float | None = None
    completed: float | None = None
    text: list[str] = field(default_factory=list)
    final_text: str | None = None
    problems: list[str] = field(default_factory=list)


class LeanHTTP:
    """One kept-alive HTTP/1.1 connection read with asyncio's stream reader: the chunked body
    is split here (a ``readuntil`` and a ``readexactly`` per chunk). httpx's pure-Python
    HTTP/1.1 parser cost ~30 us per chunk on this machine, far more than the lean Socket.IO
    client's per-event cost, so with httpx the client, not the server, made the difference."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_stream(self, path: str, body: bytes, headers: dict[str, str]) -> AsyncIterator[bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None and self.writer is not None
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Type: application/json"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {head[:300]!r}")
        if b"transfer-encoding: chunked" not in head.lower():
            raise RuntimeError("expected a chunked body")
        while True:
            size = int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0], 16)
            data = await self.reader.readexactly(size + 2)
            if size == 0:
                return
            yield data[:-2]


async def sse_answer(http: LeanHTTP, key: str, model: str, message: str) -> SSEAnswer:
    body = orjson.dumps({"model": model, "input": message, "stream": True})
    result = SSEAnswer(began=time.perf_counter())
    expected_seq = 0
    pending = b""
    try:
        async for data in http.post_stream("/api/v1/responses", body, {"Authorization": f"Bearer {key}"}):
            pending += data
            *frames, pending = pending.split(b"\n\n")
            for frame in frames:
                if not frame.startswith(b"data: "):
                    result.problems.append(f"not a data line: {frame[:80]!r}")
                    continue
                event = orjson.loads(frame[6:])
                if event.get("sequence_number") != expected_seq:
                    result.problems.append(
                        f"sequence {event.get('sequence_number')} after {expected_seq - 1}"
                    )
                expected_seq += 1
                kind = event.get("type")
                if kind == "response.output_text.delta":
                    if result.first_delta is None:
                        result.first_delta = time.perf_counter()
                    result.text.append(event["delta"])
                elif kind == "response.completed":
                    result.completed = time.perf_counter()
                    result.final_text = event["response"]["output"][0]["content"][0]["text"]
                elif kind in ("response.failed", "response.incomplete"):
                    result.problems.append(f"ended {kind}")
    except (RuntimeError, OSError, asyncio.IncompleteReadError) as exc:
        result.problems.append(str(exc)[:300])
    if result.completed is None:
        result.problems.append("no response.completed")
    return result


def check_sse(result: SSEAnswer, expected: str) -> list[str]:
    problems = list(result.problems)
    if "".join(result.text) != expected:
        problems.append("the deltas do not rebuild the answer")
    if result.final_text != expected:
        problems.append("response.completed carries another text")
    return problems


@dataclass
class Figures:
    sse_first: list[float] = field(default_factory=list)
    sio_first: list[float] = field(default_factory=list)
    sse_long: list[float] = field(default_factory=list)
    sio_long: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def socketio_answer(
    sock: LeanChatSocket, team_id: int, message: str, expected: str
) -> tuple[float, Any]:
    began = time.perf_counter()
    ack = await sock.call("chat:send", {"team_id": team_id, "message": message}, timeout=60)
    if not isinstance(ack, dict) or "task_id" not in ack:
        raise RuntimeError(f"chat:send ack {ack!r:.200}")
    stream = await sock.finished(ack["task_id"], ack["message_id"] + 1, timeout=120)
    problems = stream.problems(expected)
    if problems:
        raise RuntimeError("; ".join(problems))
    return began, stream


async def run(args: argparse.Namespace, url: str) -> Figures:
    figures = Figures()
    llm = SimpleLLM(args.llm_url)
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        admin = await login(http, "admin", os.environ["WEGENT_ADMIN_PASSWORD"])
        account = await make_account(http, admin, "bench-user", documents(f"{llm.url}/v1", [FAST, LONG]))
        created = await http.post(
            "/api/api-keys", json={"name": "bench"}, headers={"Authorization": f"Bearer {account.token}"}
        )
        created.raise_for_status()
        key = created.json()["key"]
        sock = await LeanChatSocket().connect(url, account.token, timeout=30)
        lean = LeanHTTP(url)
        try:
            fast, long_text = answer(FAST_CHUNKS), answer(LONG_CHUNKS)
            for i in range(args.warmup + args.chats):
                measured = i >= args.warmup
                result = await sse_answer(lean, key, f"default#{FAST}", f"sse {i}")
                problems = check_sse(result, fast)
                if problems:
                    figures.problems.append(f"sse chat {i}: " + "; ".join(problems))
                elif measured and result.first_delta is not None:
                    figures.sse_first.append(result.first_delta - result.began)
                began, stream = await socketio_answer(sock, account.teams[FAST], f"sio {i}", fast)
                if measured:
                    figures.sio_first.append(stream.first_chunk - began)
            for i in range(args.runs):
                result = await sse_answer(lean, key, f"default#{LONG}", f"long sse {i}")
                problems = check_sse(result, long_text)
                if problems:
                    figures.problems.append(f"sse long {i}: " + "; ".join(problems))
                elif result.completed is not None:
                    figures.sse_long.append(result.completed - result.began)
                began, stream = await socketio_answer(sock, account.teams[LONG], f"long sio {i}", long_text)
                figures.sio_long.append(stream.done - began)
        finally:
            await sock.close()
            if lean.writer is not None:
                lean.writer.close()
    return figures


@dataclass
class SimpleLLM:
    url: str


def report(figures: Figures, mode: str) -> None:
    def ms(values: list[float], q: float) -> str:
        return f"{percentile(values, q) * 1000:.1f} ms" if values else "-"

    print(f"\n/api/v1/responses stream=true vs Socket.IO /chat; {mode}")
    print(f"{'figure':<44} {'responses (SSE)':>16} {'Socket.IO':>12}")
    print(
        f"{'first delta p50 (n=' + str(len(figures.sse_first)) + ')':<44} {ms(figures.sse_first, 50):>16} "
        f"{ms(figures.sio_first, 50):>12}"
    )
    print(f"{'first delta p99':<44} {ms(figures.sse_first, 99):>16} {ms(figures.sio_first, 99):>12}")
    if figures.sse_long and figures.sio_long:
        sse, sio = median(figures.sse_long), median(figures.sio_long)
        runs = f"(median of {len(figures.sse_long)})"
        print(f"{'2,000-delta stream, send -> end ' + runs:<44} {sse * 1000:>13.1f} ms {sio * 1000:>9.1f} ms")
        print(f"{'ratio responses / Socket.IO':<44} {sse / sio:>16.2f}")
    for problem in figures.problems:
        print(f"PROBLEM: {problem}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=50, help="measured short answers per path")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured short answers per path first")
    parser.add_argument("--runs", type=int, default=5, help="2,000-delta streams per path")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and logs")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="wegent-bench-responses-"))
    env = server_env(args, str(data_dir))
    env["WEGENT_RESPONSES_RATE_CREATE"] = ""  # the bench creates more than 60 a minute
    os.environ.update(env)
    for var in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "WEGENT_TESTING"):
        if var not in env:
            os.environ.pop(var, None)
    mode = (
        f"scaled mode ({urlsplit(args.database_url).scheme}, {'Redis' if args.redis_url else 'no Redis'})"
        if args.database_url
        else "embedded mode (SQLite, no Redis)"
    )
    mode += ", one uvicorn process"
    python = sys.executable
    try:
        prepare(args, env)
        llm_port, port = free_port(), free_port()
        with (
            spawned(
                [python, "-m", "chat.tests.fake_llm", "--port", str(llm_port)], env, data_dir / "fake_llm.log"
            ) as llm,
            spawned(
                [python, "manage.py", "serve", "--port", str(port), "--no-embedded-celery"],
                env,
                data_dir / "server.log",
            ) as server,
        ):
            args.llm_url = f"http://127.0.0.1:{llm_port}"
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{args.llm_url}/v1/models", llm, "the fake LLM")
            wait_http(f"{url}/api/health", server, "the server")
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                figures = runner.run(run(args, url))
            report(figures, mode)
            for line in ServerLog(data_dir / "server.log").new_problems():
                print(f"server log: {line}")
    finally:
        if args.keep:
            print(f"data dir and logs kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
