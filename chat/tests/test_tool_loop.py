"""The tool loop end to end: the real ASGI app on loopback, the real python-socketio client, the
fake LLM asking for tools over HTTP in each API's streaming format, the real database.

Test tools come from a tool source registered for the test (``chat.tools.sources.SOURCES``),
next to the built-in attachment reader; the fake model answers with the tool results it
received, so an answer naming them proves the model saw them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from chat.tests.factories import model_doc_for
from chat.tests.fake_llm import FakeLLMServer
from chat.tests.sockets import Recorder, connect
from chat.tools.base import Problem, Toolbox, ToolError, ToolSpec, TurnContext
from chat.tools.sources import SOURCES
from kinds.tests.factories import bot_doc, ghost_doc, make_kind, shell_doc, team_doc
from tasks.models import Subtask

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

FORMATS = ["chat", "responses", "anthropic"]
OBJECT = {"type": "object", "properties": {}}


def make_team(owner: Any, server: FakeLLMServer, model_id: str, fmt: str = "chat", prefix: str = "t") -> Any:
    """A team whose model speaks ``fmt`` (chat completions, Responses or Anthropic) to the fake."""
    doc = model_doc_for(server, f"{prefix}-model", model_id)
    if fmt == "responses":
        doc["spec"]["protocol"] = "openai-responses"
    elif fmt == "anthropic":
        doc["spec"]["protocol"] = "claude"
        doc["spec"]["modelConfig"]["env"].update(model="claude", base_url=server.anthropic_base_url)
    make_kind(owner, ghost_doc(f"{prefix}-ghost", "You are a test bot."))
    make_kind(owner, shell_doc(f"{prefix}-shell"))
    make_kind(owner, doc)
    make_kind(owner, bot_doc(f"{prefix}-bot", f"{prefix}-ghost", f"{prefix}-shell", f"{prefix}-model"))
    return make_kind(owner, team_doc(f"{prefix}-team", [f"{prefix}-bot"]))


class FnTool:
    def __init__(self, name: str, run: Any) -> None:
        self.spec = ToolSpec(name, f"test tool {name}", OBJECT)
        self._run = run

    async def run(self, arguments: dict[str, Any]) -> str:
        return await self._run(arguments)


class Probe:
    """What the test tools report across threads (they run on the live server's loop)."""

    def __init__(self) -> None:
        self.hang_started = threading.Event()
        self.hang_cancelled = threading.Event()
        self.contexts: list[TurnContext] = []
        self.problem: str | None = None
        self.slow_open = False  # the source hangs while opening (an MCP server that never answers)
        self.open_started = threading.Event()
        self.open_cancelled = threading.Event()


@pytest.fixture
def probe() -> Iterator[Probe]:
    probe = Probe()

    async def source(ctx: TurnContext, ghost: Any, toolbox: Toolbox) -> None:
        probe.contexts.append(ctx)
        if probe.slow_open:
            probe.open_started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                probe.open_cancelled.set()
                raise
        if probe.problem:
            toolbox.problems.append(Problem("mcp:test", probe.problem))
        started = {"a": asyncio.Event(), "b": asyncio.Event()}

        async def echo(arguments: dict[str, Any]) -> str:
            return f"echo:{arguments.get('text', '')}"

        def gate(mine: str, other: str) -> Any:
            async def run(arguments: dict[str, Any]) -> str:
                started[mine].set()
                # Returns only once the other tool has started too: run one after the other,
                # this would wait until the tool timeout and fail.
                await started[other].wait()
                return f"{mine}-done"

            return run

        async def boom(arguments: dict[str, Any]) -> str:
            raise RuntimeError("kaboom")

        async def refuse(arguments: dict[str, Any]) -> str:
            raise ToolError("not allowed here")

        async def hang(arguments: dict[str, Any]) -> str:
            probe.hang_started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                probe.hang_cancelled.set()
                raise
            return "never"

        for name, run in (
            ("echo", echo),
            ("gate_a", gate("a", "b")),
            ("gate_b", gate("b", "a")),
            ("boom", boom),
            ("refuse", refuse),
            ("hang", hang),
        ):
            toolbox.add(FnTool(name, run))

    SOURCES.append(source)
    try:
        yield probe
    finally:
        SOURCES.remove(source)


def chunks_with_result(client: Recorder) -> list[dict[str, Any]]:
    return [c for c in client.named("chat:chunk") if "thinking" in c.get("result", {})]


def steps(thinking: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(s["details"]["type"], s["details"]["tool_name"], s["details"]["status"]) for s in thinking]


def check_offsets(client: Recorder) -> str:
    """Every chunk's offset is the text length before it; text chunks' block offsets count
    within their block. Returns the text."""
    text, in_block = "", {}
    for chunk in client.named("chat:chunk"):
        assert chunk["offset"] == len(text)
        if chunk["content"]:
            block = chunk["block_id"]
            assert chunk["block_offset"] == in_block.get(block, 0)
            in_block[block] = in_block.get(block, 0) + len(chunk["content"])
        text += chunk["content"]
    return text


def send_and_finish(url: str, user: Any, team: Any, message: str, **extra: Any) -> tuple[Recorder, dict]:
    async def scenario() -> tuple[Recorder, dict]:
        client = await connect(url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": message, **extra})
        assert "task_id" in ack, ack
        done = await client.wait_for("chat:done", timeout=40)
        await client.close()
        return client, done

    return asyncio.run(scenario())


@pytest.mark.parametrize("fmt", FORMATS)
def test_attachment_reader_turn_on_each_format(
    live_server_url, user, client_for, fake_llm, settings, tmp_path, fmt
):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    upload = client_for(user).post(
        "/api/attachments/upload",
        {
            "file": SimpleUploadedFile(
                "words.txt", b"The secret word is PINEAPPLE.", content_type="text/plain"
            )
        },
    )
    assert upload.status_code == 200, upload.content
    attachment_id = upload.json()["id"]
    team = make_team(user, fake_llm, "fake-tools-n3", fmt)
    args = json.dumps({"attachment_id": attachment_id, "offset": 4, "limit": 40})
    client, done = send_and_finish(
        live_server_url,
        user,
        team,
        f"@call read_attachment {args}\nWhat is the word?",
        attachment_ids=[attachment_id],
    )
    result = done["result"]
    # The model got the tool's output back (only the tool result carries the offset window).
    assert "Tool results: [words.txt: characters 4-29 of 29]\nsecret word is PINEAPPLE." in result["value"]
    assert result["value"].endswith("w0 w1 w2")
    assert steps(result["thinking"]) == [
        ("tool_use", "read_attachment", "started"),
        ("tool_result", "read_attachment", "completed"),
    ]
    assert result["thinking"][0]["details"]["input"] == {
        "attachment_id": attachment_id,
        "offset": 4,
        "limit": 40,
    }
    assert result["shell_type"] == "Chat"
    assert [b["type"] for b in result["blocks"]] == ["tool", "text"]
    tool_block, text_block = result["blocks"]
    assert tool_block["status"] == "done" and "PINEAPPLE" in tool_block["tool_output"]
    assert text_block["content"] == result["value"] and text_block["status"] == "done"
    # On the wire: the tool start, then its end, then the text (into the text block).
    assert check_offsets(client) == result["value"]
    chunks = client.named("chat:chunk")
    assert [steps(c["result"]["thinking"])[-1][2] for c in chunks_with_result(client)] == [
        "started",
        "completed",
    ]
    assert chunks.index(chunks_with_result(client)[-1]) < next(
        i for i, c in enumerate(chunks) if c["content"]
    )
    assert {c["block_id"] for c in chunks if c["content"]} == {text_block["id"]}
    # The tools were declared to the model, and the second call carried the result.
    first, second = [r.body for r in fake_llm.requests if r.method == "POST"][-2:]
    assert "tools" in first and "tools" in second
    window = "[words.txt: characters 4-29 of 29]"
    assert window not in str(first) and window in str(second)
    # Saved with the answer (a reload shows the same).
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "COMPLETED"
    assert answer.result["thinking"] == result["thinking"] and answer.result["blocks"] == result["blocks"]


def test_tools_asked_together_run_concurrently(live_server_url, user, fake_llm, probe):
    team = make_team(user, fake_llm, "fake-tools-n2")
    client, done = send_and_finish(live_server_url, user, team, "@call gate_a {}\n@call gate_b {}\nGo")
    result = done["result"]
    assert result["value"].startswith("Tool results: a-done | b-done\n")
    order = steps(result["thinking"])
    assert order[:2] == [("tool_use", "gate_a", "started"), ("tool_use", "gate_b", "started")]
    assert sorted(order[2:]) == [
        ("tool_result", "gate_a", "completed"),
        ("tool_result", "gate_b", "completed"),
    ]
    # Every tool event went out as it happened, each with the full list so far.
    assert [len(c["result"]["thinking"]) for c in chunks_with_result(client)] == [1, 2, 3, 4]


def test_failing_tools_become_errors_the_model_reads(live_server_url, user, fake_llm, probe, settings):
    settings.CHAT_TOOL_TIMEOUT_SECONDS = 1
    team = make_team(user, fake_llm, "fake-tools-n2")
    message = "@call boom {}\n@call refuse {}\n@call echo {not json\n@call nosuch {}\n@call hang {}\nGo"
    client, done = send_and_finish(live_server_url, user, team, message)
    value = done["result"]["value"]
    results = value.split("\n")[0].removeprefix("Tool results: ").split(" | ")
    assert results[0] == "Error: Tool boom failed (RuntimeError: kaboom)"
    assert results[1] == "Error: not allowed here"
    assert results[2].startswith("Error: The arguments of echo are not valid JSON")
    assert results[3].startswith("Error: Unknown tool 'nosuch' (available: boom, echo, gate_a")
    assert results[4] == "Error: Tool hang timed out after 1s"
    assert probe.hang_cancelled.is_set()  # the timed-out tool was stopped, not left running
    ends = [s for s in done["result"]["thinking"] if s["details"]["type"] == "tool_result"]
    assert {s["details"]["status"] for s in ends} == {"failed"} and len(ends) == 5
    assert all(b["status"] == "error" for b in done["result"]["blocks"] if b["type"] == "tool")
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED"
    assert not client.named("chat:error")


def test_tool_call_limit_ends_the_loop(live_server_url, user, fake_llm, probe, settings):
    settings.CHAT_MAX_TOOL_CALLS = 3
    team = make_team(user, fake_llm, "fake-tools-loop-n2", prefix="a")
    _, done = send_and_finish(live_server_url, user, team, '@call echo {"text": "x"}\n@call echo {}\nGo')
    # Round 1 runs two calls; round 2 one (the other is refused: limit); round 3 must answer.
    # (An early model call opened before the turn's tools were known has no ``tools``.)
    bodies = [r.body for r in fake_llm.requests if r.method == "POST" and "tools" in r.body]
    assert len(bodies) == 3 and bodies[-1]["tool_choice"] == "none"
    ran = [s for s in done["result"]["thinking"] if s["details"]["type"] == "tool_use"]
    assert len(ran) == 3
    assert "Error: Not run: the limit of 3 tool calls per answer is reached" in done["result"]["value"]
    assert done["result"]["value"].endswith("w0 w1")

    # A model that keeps asking after it was told not to: the answer ends, readably.
    fake_llm.clear()
    stubborn = make_team(user, fake_llm, "fake-tools-loop-stubborn-n2", prefix="b")
    _, done = send_and_finish(live_server_url, user, stubborn, "@call echo {}\nGo")
    assert done["result"]["value"].endswith("(Stopped: this answer reached its limit of 3 tool calls.)")
    assert set(Subtask.objects.filter(role="ASSISTANT").values_list("status", flat=True)) == {"COMPLETED"}


def test_cancel_stops_a_running_tool_and_join_sees_the_steps(live_server_url, user, fake_llm, probe):
    team = make_team(user, fake_llm, "fake-tools-n2")

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "@call hang {}\nGo"})
        started = await client.wait_for("chat:chunk", lambda c: "result" in c)
        subtask_id = started["subtask_id"]
        assert steps(started["result"]["thinking"]) == [("tool_use", "hang", "started")]
        assert await asyncio.to_thread(probe.hang_started.wait, 10)
        # A second tab joins while the tool runs: it gets the steps and blocks so far.
        other = await connect(live_server_url, user)
        joined = await other.call("task:join", {"task_id": ack["task_id"]})
        live = joined["streaming"]
        assert live["subtask_id"] == subtask_id
        assert steps(live["result"]["thinking"]) == [("tool_use", "hang", "started")]
        assert [(b["type"], b["status"]) for b in live["result"]["blocks"]] == [("tool", "pending")]
        await client.call("chat:cancel", {"subtask_id": subtask_id})
        await client.wait_for("chat:cancelled", timeout=5)
        done = await client.wait_for("chat:done", timeout=5)
        assert done["result"]["cancelled"] is True
        assert steps(done["result"]["thinking"]) == [("tool_use", "hang", "started")]
        assert await asyncio.to_thread(probe.hang_cancelled.wait, 5)
        await other.close()
        await client.close()

    asyncio.run(scenario())
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "CANCELLED"
    assert steps(answer.result["thinking"]) == [("tool_use", "hang", "started")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_reasoning_is_kept_as_a_thinking_block(live_server_url, user, fake_llm, fmt):
    team = make_team(user, fake_llm, "fake-reason-n3", fmt)
    client, done = send_and_finish(live_server_url, user, team, "Think first")
    assert "blocks" in done["result"], done
    blocks = done["result"]["blocks"]
    assert [b["type"] for b in blocks] == ["thinking", "text"]
    assert blocks[0]["content"] == "Let me think. Done." and blocks[0]["status"] == "done"
    assert blocks[1]["content"] == done["result"]["value"] == "w0 w1 w2"
    # Live: the reasoning went out on the thinking block, before any text.
    reasoning = [c for c in client.named("chat:chunk") if "reasoning_chunk" in c.get("result", {})]
    assert "".join(c["result"]["reasoning_chunk"] for c in reasoning) == "Let me think. Done."
    assert {c["block_id"] for c in reasoning} == {blocks[0]["id"]}
    assert check_offsets(client) == "w0 w1 w2"
    assert Subtask.objects.get(role="ASSISTANT").result["blocks"][0]["type"] == "thinking"


def test_a_source_problem_is_a_failed_step_and_told_to_the_model(live_server_url, user, fake_llm, probe):
    probe.problem = "server is down"
    team = make_team(user, fake_llm, "fake-n2")
    client, done = send_and_finish(live_server_url, user, team, "hello", additional_skills=[{"name": "pdf"}])
    failed = [s for s in done["result"]["thinking"] if s["details"]["tool_name"] == "mcp:test"]
    assert steps(failed) == [("tool_result", "mcp:test", "failed")]
    assert failed[0]["details"]["error"] == "server is down"
    first = chunks_with_result(client)[0]  # shown live, before the answer's text
    assert client.named("chat:chunk").index(first) == 0 and first["content"] == ""
    system = fake_llm.requests[-1].body["messages"][0]["content"]
    assert "mcp:test: server is down" in system
    # The turn context carried the message's skills and the sender.
    ctx = probe.contexts[-1]
    assert ctx.additional_skills == ("pdf",) and ctx.user_id == user.pk and ctx.user_name == user.user_name


def test_attachment_reader_offers_only_what_the_sender_may_read(user, other_user, settings, tmp_path):
    import io

    from chat.tools.builtin import READ_ATTACHMENT, attachment_source
    from tasks.services import attachments

    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }

    def upload(actor: Any, data: bytes) -> int:
        return attachments.upload_attachment(
            actor=actor, filename="f.txt", file=io.BytesIO(data), size=len(data)
        ).pk

    mine, theirs = upload(user, b"0123456789"), upload(other_user, b"private")

    async def scenario() -> tuple[Toolbox, Toolbox]:
        ctx = TurnContext(
            user_id=user.pk, user_name="alice", task_id=1, subtask_id=1, attachment_ids=(mine, theirs)
        )
        with_files, without = Toolbox(), Toolbox()
        await attachment_source(ctx, None, with_files)
        await attachment_source(
            TurnContext(user_id=user.pk, user_name="a", task_id=1, subtask_id=1), None, without
        )
        return with_files, without

    with_files, without = asyncio.run(scenario())
    assert not without.tools  # no attachments: no file reader
    reader = with_files.tools[READ_ATTACHMENT]
    assert f"id {mine}:" in reader.spec.description and f"id {theirs}:" not in reader.spec.description
    assert asyncio.run(reader.run({"attachment_id": mine, "offset": 8, "limit": 5})).endswith("\n89")
    with pytest.raises(ToolError, match="not attached"):
        asyncio.run(reader.run({"attachment_id": theirs}))
    with pytest.raises(ToolError, match="limit must be an integer"):
        asyncio.run(reader.run({"attachment_id": mine, "limit": 10**9}))


def test_a_retried_answer_still_reads_the_messages_attachments(
    live_server_url, user, client_for, fake_llm, settings, tmp_path
):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    upload = client_for(user).post(
        "/api/attachments/upload",
        {"file": SimpleUploadedFile("n.txt", b"retry sees KIWI", content_type="text/plain")},
    )
    attachment_id = upload.json()["id"]
    team = make_team(user, fake_llm, "fake-error-500")
    make_kind(user, model_doc_for(fake_llm, "tool-model", "fake-tools-n1"))
    message = f'@call read_attachment {{"attachment_id": {attachment_id}}}\nWhich fruit?'

    async def scenario() -> dict:
        client = await connect(live_server_url, user)
        ack = await client.call(
            "chat:send", {"team_id": team.pk, "message": message, "attachment_ids": [attachment_id]}
        )
        error = await client.wait_for("chat:error")
        retry = {
            "task_id": ack["task_id"],
            "subtask_id": error["subtask_id"],
            "use_model_override": True,
            "force_override_bot_model": "tool-model",
            "force_override_bot_model_type": "user",
        }
        assert await client.call("chat:retry", retry) == {"success": True}
        done = await client.wait_for("chat:done", lambda d: "error" not in d["result"], timeout=20)
        await client.close()
        return done

    done = asyncio.run(scenario())
    assert "Tool results: [n.txt: characters 0-15 of 15]\nretry sees KIWI" in done["result"]["value"]


def test_cancel_interrupts_a_source_that_is_slow_to_open(live_server_url, user, fake_llm, probe):
    probe.slow_open = True
    team = make_team(user, fake_llm, "fake-n2")

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        await client.call("chat:send", {"team_id": team.pk, "message": "hello"})
        start = await client.wait_for("chat:start")
        assert await asyncio.to_thread(probe.open_started.wait, 10)
        await client.call("chat:cancel", {"subtask_id": start["subtask_id"]})
        await client.wait_for("chat:cancelled", timeout=5)
        assert await asyncio.to_thread(probe.open_cancelled.wait, 5)
        await client.close()

    asyncio.run(scenario())
    assert Subtask.objects.get(role="ASSISTANT").status == "CANCELLED"


def test_a_cancel_remembered_for_an_earlier_row_with_the_same_id_does_not_stop_a_new_answer(
    live_server_url, user, fake_llm
):
    """SQLite reuses the ids of deleted rows (and a test database is emptied between tests): a
    cancel that found no stream is remembered for a while in case its stream is about to start,
    and must not stop a later answer that merely got the same id (it cancelled this file's
    reasoning test in full-suite runs)."""
    import time

    from chat.streams import runner

    now = time.monotonic()
    runner._early.update({subtask_id: now for subtask_id in range(1, 200)})
    try:
        team = make_team(user, fake_llm, "fake-n3")
        _, done = send_and_finish(live_server_url, user, team, "hello")
        assert done["result"]["value"] == "w0 w1 w2"
        assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED"
    finally:
        runner._early.clear()
