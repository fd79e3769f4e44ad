"""One trace per chat turn (wegent/telemetry.py), recorded by the SDK's in-memory exporter while
the real server on loopback streams a real answer from the fake LLM with a tool call (devices'
and executors' reports joining the trace: devices/tests/test_report_traces.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from chat.tests.fake_llm import FakeLLMServer
from chat.tests.sockets import connect
from chat.tests.test_tool_loop import FnTool, make_team
from chat.tools.base import Toolbox, TurnContext
from chat.tools.sources import SOURCES
from tasks.models import Subtask
from wegent import telemetry
from wegent.tests.tracing import Recorder, parent_id, recording

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def spans() -> Iterator[Recorder]:
    with recording() as exporter:
        yield exporter


@pytest.fixture
def echo_tool() -> Iterator[None]:
    async def source(ctx: TurnContext, ghost: Any, toolbox: Toolbox) -> None:
        async def echo(arguments: dict[str, Any]) -> str:
            return f"echo:{arguments.get('text', '')}"

        toolbox.add(FnTool("echo", echo))

    SOURCES.append(source)
    try:
        yield
    finally:
        SOURCES.remove(source)


def send(url: str, user: Any, payload: dict[str, Any], wait: str | None = "chat:done") -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        client = await connect(url, user)
        ack = await client.call("chat:send", payload)
        if wait is not None:
            await client.wait_for(wait, timeout=40)
        await client.close()
        return ack

    return asyncio.run(scenario())


def test_a_chat_turn_with_a_tool_call_is_one_trace(
    spans: Recorder, live_server_url, user, fake_llm: FakeLLMServer, echo_tool
):
    team = make_team(user, fake_llm, "fake-tools-n3", "chat", prefix="tr")
    ack = send(live_server_url, user, {"team_id": team.pk, "message": '@call echo {"text": "hi"}\nGo.'})
    [answer_span] = spans.wait_for("chat.answer")
    [root] = spans.wait_for("chat:send")
    answer = Subtask.objects.get(task_id=ack["task_id"], role=Subtask.ASSISTANT)

    trace_id = root.context.trace_id
    assert answer_span.context.trace_id == trace_id
    assert parent_id(answer_span) == root.context.span_id
    assert root.attributes[telemetry.TASK_ID] == ack["task_id"]
    attributes = dict(answer_span.attributes)
    assert attributes[telemetry.TASK_ID] == ack["task_id"]
    assert attributes[telemetry.SUBTASK_ID] == answer.pk
    assert attributes[telemetry.TEAM] == "default/tr-team"
    assert attributes[telemetry.MODEL] == "fake-tools-n3"
    assert attributes[telemetry.FINISH_REASON] == "completed"

    # Two model calls (the one asking for the tool, the one answering with its result), each
    # with its finish reason and tokens; the answer's tokens are their sum, as stored.
    calls = sorted(spans.named("chat.model_call"), key=lambda span: span.start_time)
    assert [span.attributes[telemetry.FINISH_REASONS] for span in calls] == [("tool_calls",), ("stop",)]
    assert all(parent_id(span) == answer_span.context.span_id for span in calls)
    assert all(span.attributes[telemetry.MODEL] == "fake-tools-n3" for span in calls)
    usage = answer.result["usage"]
    assert attributes[telemetry.INPUT_TOKENS] == usage["input_tokens"] > 0
    assert attributes[telemetry.OUTPUT_TOKENS] == usage["output_tokens"] > 0
    # (the fake reports no usage for a response that only asks for tools)
    assert sum(span.attributes.get(telemetry.OUTPUT_TOKENS, 0) for span in calls) == usage["output_tokens"]
    assert calls[-1].attributes[telemetry.INPUT_TOKENS] > 0

    [tool] = spans.named("chat.tool_call echo")
    assert tool.context.trace_id == trace_id and parent_id(tool) == answer_span.context.span_id
    assert tool.attributes[telemetry.TOOL_NAME] == "echo"

    # The turn's database writes are in the trace: the task and its messages under chat:send.
    writes = [span for span in spans.in_trace(trace_id) if span.name == "db.write"]
    statements = [span.attributes["db.statement"] for span in writes]
    assert any(s.startswith("INSERT") and "tasks_subtask" in s for s in statements), statements
    assert all(span.attributes["db.system"] == connection.vendor for span in writes)
    # Only spans of this turn carry its trace id: every span of the run is in one trace.
    assert {span.context.trace_id for span in spans.get_finished_spans() if span.name.startswith("chat")} == {
        trace_id
    }


def test_a_failing_tool_and_a_failed_model_call_are_marked(
    spans: Recorder, live_server_url, user, fake_llm: FakeLLMServer, echo_tool
):
    team = make_team(user, fake_llm, "fake-tools-n2", "chat", prefix="tf")
    send(live_server_url, user, {"team_id": team.pk, "message": "@call nosuch {}\nGo."})
    [answer_span] = spans.wait_for("chat.answer")
    [tool] = spans.named("chat.tool_call nosuch")
    assert "Unknown tool" in tool.attributes["wegent.tool_error"]
    assert answer_span.attributes[telemetry.FINISH_REASON] == "completed"

    spans.clear()
    broken = make_team(user, fake_llm, "fake-error-401", "chat", prefix="te")
    send(live_server_url, user, {"team_id": broken.pk, "message": "Hello"}, wait="chat:error")
    [failed] = spans.wait_for("chat.answer")
    assert failed.attributes[telemetry.FINISH_REASON] == "failed"
    [call] = spans.named("chat.model_call")
    assert call.attributes[telemetry.FINISH_REASONS] == ("interrupted",)


def test_nothing_is_installed_while_tracing_is_off(live_server_url, user, fake_llm: FakeLLMServer):
    assert not telemetry.tracing()
    assert telemetry.span("x") is telemetry.span("y")  # the one shared no-op
    assert telemetry.start_span("x") is None and telemetry.current() is None
    team = make_team(user, fake_llm, "fake-n2", "chat", prefix="off")
    send(live_server_url, user, {"team_id": team.pk, "message": "Hello"})
    assert telemetry._db_writes not in connection.execute_wrappers
