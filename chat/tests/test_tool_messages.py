"""Each provider writes the loop's provider-neutral tool messages in its API's format, and reads
tool calls out of its stream (the end-to-end turns are in test_tool_loop.py)."""

from __future__ import annotations

import json

from chat.providers.base import ToolCallRequest
from chat.providers.openai_chat import Extras, SSELines, chat_messages, chunk_texts
from chat.providers.openai_responses import response_input
from chat.tools.loop import Trace

CALLS = [ToolCallRequest("call_1", "a", '{"x": 1}'), ToolCallRequest("call_2", "b", "{bad")]
ROUND = [
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "Let me look.", "tool_calls": CALLS},
    {"role": "tool", "tool_call_id": "call_1", "name": "a", "content": "one", "is_error": False},
    {"role": "tool", "tool_call_id": "call_2", "name": "b", "content": "Error: bad", "is_error": True},
]


def test_chat_completions_messages():
    out = chat_messages("sys", ROUND)
    assert out[2] == {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": '{"x": 1}'}},
            {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": "{bad"}},
        ],
    }
    assert out[3:] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "one"},
        {"role": "tool", "tool_call_id": "call_2", "content": "Error: bad"},
    ]


def test_responses_items():
    items = response_input(ROUND)
    assert [i["type"] for i in items] == [
        "message",
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    assert items[2] == {"type": "function_call", "call_id": "call_1", "name": "a", "arguments": '{"x": 1}'}
    assert items[5] == {"type": "function_call_output", "call_id": "call_2", "output": "Error: bad"}


def test_anthropic_blocks_group_one_rounds_results():
    from chat.providers.anthropic_messages import anthropic_messages

    out = anthropic_messages(ROUND)
    assert [m["role"] for m in out] == ["user", "assistant", "user"]
    assert out[1]["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "a", "input": {"x": 1}},
        {"type": "tool_use", "id": "call_2", "name": "b", "input": {}},  # invalid JSON: no input
    ]
    assert out[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "one"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "Error: bad", "is_error": True},
    ]


def test_chat_stream_tool_call_fragments_and_reasoning_accumulate():
    def data(delta: dict) -> bytes:
        return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}).encode() + b"\n\n"

    start = {"index": 0, "id": "call_9", "type": "function", "function": {"name": "echo", "arguments": ""}}
    stream = b"".join(
        [
            data({"reasoning_content": "hm"}),
            data({"content": "ok"}),
            data({"tool_calls": [start]}),
            data({"tool_calls": [{"index": 0, "function": {"arguments": '{"te'}}]}),
            data({"tool_calls": [{"index": 0, "function": {"arguments": 'xt": 1}'}}]}),
            b"data: [DONE]\n\n",
        ]
    )
    extras, lines = Extras(), SSELines()
    # Split mid-line: the fragments still join up.
    texts = [chunk_texts(lines.feed(part), extras) for part in (stream[:70], stream[70:])]
    assert "".join(t for t, _, _ in texts) == "ok" and texts[-1][1] is True
    assert extras.reasoning == ["hm"]
    assert extras.requests() == [ToolCallRequest("call_9", "echo", '{"text": 1}')]


def test_trace_opens_a_new_text_block_after_a_tool():
    trace = Trace("Chat")
    first, offset = trace.text_position(0)
    assert offset == 0 and not trace.rich
    trace.tool_started(ToolCallRequest("c1", "echo", "{}"), 5)
    second, offset = trace.text_position(5)
    assert second != first and offset == 0
    assert trace.text_position(8) == (second, 3)
    blocks, extra = trace.final("hello abc", fallback_id="x")
    assert [(b["type"], b.get("content")) for b in blocks] == [
        ("text", "hello"),
        ("tool", None),
        ("text", " abc"),
    ]
    assert extra["thinking"][0]["details"]["status"] == "started" and trace.rich
