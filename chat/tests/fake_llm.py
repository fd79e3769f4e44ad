"""A fake LLM server: real HTTP on a loopback port, speaking the streaming formats of OpenAI
chat completions, the OpenAI Responses API and Anthropic messages.

Tests and benchmarks configure it only through the Model resource: the requested ``model`` id
picks the behaviour, so a Model with ``base_url`` pointing here and ``model_id`` below is all
that is needed.

Model id grammar: ``fake`` followed by ``-``-separated tokens, in any order. Any model id that
does not start with ``fake`` gets the default answer (20 chunks, no delay).

    n<N>              the answer has N chunks (default 20): chunk i is "w<i>", preceded by a
                      space except the first, so the text is "w0 w1 ... w<N-1>"
    d<MS>             MS milliseconds between two chunks (default 0)
    f<MS>             MS milliseconds before the first chunk (time to first token)
    h<MS>             MS milliseconds before the response headers (slow headers)
    error-<S>         HTTP status S with a provider-shaped JSON error body, before streaming
                      (401 authentication, 403, 404, 429 rate limit, 500, 503 ...)
    text              with error-<S>: a short plain-text body instead of JSON
    midstream-error   after the N chunks, an error event (OpenAI: ``data: {"error": ...}``;
                      Responses: ``event: error``; Anthropic: ``event: error``), then EOF
    midstream-drop    after the N chunks, the connection is cut (incomplete chunked body)
    hang              status 200 and SSE headers, then nothing until the client goes away
    tools             tool calling: when the last user message has lines ``@call <name> <args>``
                      (``<args>`` the arguments text as is, default ``{}``; may be invalid JSON)
                      and the request carries no tool results yet, the response asks for those
                      calls, all in one response; once it carries results, the answer starts with
                      ``Tool results: <r1> | <r2>`` (each result's text as received), then the N
                      chunks
    loop              with tools: ask for the calls again on every round, results or not, until
                      the request says ``tool_choice`` none
    stubborn          with loop: ask even when ``tool_choice`` is none
    reason            stream reasoning first (``reasoning_content`` deltas; Anthropic thinking
                      deltas; Responses reasoning summary deltas): "Let me think." " Done."

Examples: ``fake-n20-d50`` (the frontend flows' "w0 w1 ... w19" in 20 chunks 50 ms apart),
``fake-n2000-d0``, ``fake-error-500``, ``fake-error-401``, ``fake-error-502-text``,
``fake-midstream-error-n5``, ``fake-midstream-drop-n5``, ``fake-hang``, ``fake-h300-n3``.

Routes:
    POST /v1/chat/completions   OpenAI ``chat.completion.chunk`` SSE + ``data: [DONE]``
                                (or one ``chat.completion`` JSON without ``"stream": true``)
    POST /v1/responses          Responses API events (response.created ...
                                response.output_text.delta ... response.completed) or JSON
    POST /v1/messages           Anthropic SSE (message_start ... message_stop) or JSON
    GET  /v1/models             a few fake model ids (Anthropic's list shape when the request
                                carries ``anthropic-version``)

Credentials: a non-empty key is required (``Authorization: Bearer <key>``; ``/v1/messages``
also takes ``x-api-key``). The key ``bad-key`` is refused with 401, and the error message
quotes the key back like real providers do, so tests can check that it is redacted.

Observability: ``server.requests`` records every request (method, path, lower-cased headers,
JSON body); ``server.disconnects`` counts streams the client abandoned before the end
(``wait_for_disconnects`` blocks until a count is reached); ``server.completed`` counts streams
sent to the end.

Use: ``with FakeLLMServer() as server: ... server.openai_base_url`` (a background thread runs
its own event loop), or standalone ``python -m chat.tests.fake_llm --port 18099`` (on uvloop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from aiohttp import web

DEFAULT_CHUNKS = 20
BAD_KEY = "bad-key"
FAKE_MODEL_IDS = ("fake-n20-d50", "fake-n5-d0", "fake-n2000-d0", "fake-error-500", "fake-hang")

_NUMBERED = re.compile(r"^([ndfh])(\d+)$")


@dataclass(frozen=True)
class Behaviour:
    chunks: int = DEFAULT_CHUNKS
    delay: float = 0.0
    first_delay: float = 0.0
    header_delay: float = 0.0
    error_status: int | None = None
    error_as_text: bool = False
    midstream: str | None = None  # "error" | "drop"
    hang: bool = False
    tools: bool = False
    loop: bool = False
    stubborn: bool = False
    reason: bool = False


def parse_model(model: Any) -> Behaviour:
    """The behaviour a model id asks for (see the module docstring)."""
    tokens = str(model or "").lower().split("-")
    if tokens[0] != "fake":
        return Behaviour()
    values: dict[str, Any] = {}
    rest = iter(tokens[1:])
    for token in rest:
        numbered = _NUMBERED.match(token)
        if numbered:
            letter, number = numbered.group(1), int(numbered.group(2))
            key = {"n": "chunks", "d": "delay", "f": "first_delay", "h": "header_delay"}[letter]
            values[key] = number if letter == "n" else number / 1000
        elif token == "error":
            status = next(rest, "500")
            values["error_status"] = int(status) if status.isdigit() else 500
        elif token == "midstream":
            values["midstream"] = "drop" if next(rest, "error") == "drop" else "error"
        elif token in ("hang", "tools", "loop", "stubborn", "reason"):
            values[token] = True
        elif token == "text":
            values["error_as_text"] = True
    return Behaviour(**values)


def word(i: int) -> str:
    return f"w{i}" if i == 0 else f" w{i}"


def answer(chunks: int) -> str:
    return "".join(word(i) for i in range(chunks))


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None


# -- wire formats ----------------------------------------------------------------------------


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


class _Template:
    """The bytes of ``_sse(build(*values), event)`` for any values, without encoding the whole
    object again for each delta: the object is encoded once with a marker per hole, and
    ``fill`` JSON-encodes only the values (a str or an int each). JSON encoding is
    compositional, so the bytes are the same; encoding each delta whole was about a fifth of
    the fake LLM's CPU in the chat benchmark's 100-stream phase."""

    def __init__(self, build: Callable[..., Any], holes: int, event: str | None = None) -> None:
        markers = [f"\x00hole{k}\x00" for k in range(holes)]
        encoded = _sse(build(*markers), event)
        self.parts: list[bytes] = []
        for marker in markers:
            before, found, encoded = encoded.partition(json.dumps(marker).encode())
            if not found or json.dumps(marker).encode() in encoded:
                raise ValueError(f"hole {marker!r} must appear exactly once, in order")
            self.parts.append(before)
        self.parts.append(encoded)

    def fill(self, *values: str | int) -> bytes:
        parts = self.parts
        out = [parts[0]]
        for value, part in zip(values, parts[1:], strict=True):
            # What json.dumps writes for a str (ensure_ascii) or an int.
            out.append((encode_basestring_ascii(value) if isinstance(value, str) else repr(value)).encode())
            out.append(part)
        return b"".join(out)


def _usage(chunks: int) -> dict[str, int]:
    return {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks}


class _ChatFormat:
    """OpenAI ``chat.completion.chunk`` objects."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.model = model
        self.created = int(time.time())
        self._delta = _Template(lambda text: self._data({"content": text}), 1)
        self.include_usage = False

    def _data(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _sse(self._data(delta, finish_reason))

    def begin(self) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def delta(self, i: int) -> bytes:
        return self._delta.fill(word(i))

    def end(self, chunks: int) -> list[bytes]:
        if not self.include_usage:
            return [self._chunk({}, "stop"), _sse("[DONE]")]
        # ``stream_options.include_usage``: a last chunk without choices carries the usage.
        tail = {**self._data({}), "choices": [], "usage": _usage(chunks)}
        return [self._chunk({}, "stop"), _sse(tail), _sse("[DONE]")]

    def text(self, text: str) -> bytes:
        return self._delta.fill(text)

    def reasoning_events(self, pieces: tuple[str, ...]) -> list[bytes]:
        return [self._chunk({"reasoning_content": piece}) for piece in pieces]

    def tool_call_events(self, calls: list[_Call], *, reasoning: bool) -> list[bytes]:
        events = self.begin()
        if reasoning:
            events += self.reasoning_events(REASONING)
        for i, call in enumerate(calls):
            start = {
                "index": i,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            events.append(self._chunk({"tool_calls": [start]}))
            half = len(call.arguments) // 2  # the arguments arrive in pieces, as real models send them
            for piece in (call.arguments[:half], call.arguments[half:]):
                events.append(self._chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
        return [*events, self._chunk({}, "tool_calls"), _sse("[DONE]")]

    def error(self, chunks: int) -> list[bytes]:
        message = f"Fake upstream failure after {chunks} chunks"
        return [_sse({"error": {"message": message, "type": "server_error", "code": "fake_failure"}})]

    def whole(self, chunks: int) -> dict[str, Any]:
        message = {"role": "assistant", "content": answer(chunks), "refusal": None}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": _usage(chunks),
        }


class _ResponsesFormat:
    """OpenAI Responses API streaming events."""

    def __init__(self, model: str) -> None:
        self.id = f"resp_{uuid.uuid4().hex}"
        self.item_id = f"msg_{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())
        self.sequence = 0
        self._delta = _Template(
            lambda sequence, text: {
                "type": "response.output_text.delta",
                "sequence_number": sequence,
                "item_id": self.item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            },
            2,
            "response.output_text.delta",
        )

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return _sse(data, kind)

    def _item(self, text: str | None) -> dict[str, Any]:
        content = (
            [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        )
        status = "in_progress" if text is None else "completed"
        return {
            "id": self.item_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": content,
        }

    def _response(self, status: str, text: str | None = None, chunks: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.model,
            "output": [] if text is None else [self._item(text)],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "metadata": {},
            "temperature": 1.0,
            "top_p": 1.0,
        }
        if text is not None:
            body["usage"] = {
                "input_tokens": 10,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": chunks,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 10 + chunks,
            }
        return body

    def begin(self) -> list[bytes]:
        common = {"item_id": self.item_id, "output_index": 0, "content_index": 0}
        return [
            self._event("response.created", response=self._response("in_progress")),
            self._event("response.in_progress", response=self._response("in_progress")),
            self._event("response.output_item.added", output_index=0, item=self._item(None)),
            self._event(
                "response.content_part.added",
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                **common,
            ),
        ]

    def delta(self, i: int) -> bytes:
        event = self._delta.fill(self.sequence, word(i))
        self.sequence += 1
        return event

    def end(self, chunks: int) -> list[bytes]:
        text = answer(chunks)
        common = {"item_id": self.item_id, "output_index": 0, "content_index": 0}
        return [
            self._event("response.output_text.done", text=text, logprobs=[], **common),
            self._event(
                "response.content_part.done",
                part={"type": "output_text", "text": text, "annotations": [], "logprobs": []},
                **common,
            ),
            self._event("response.output_item.done", output_index=0, item=self._item(text)),
            self._event("response.completed", response=self._response("completed", text, chunks)),
        ]

    def error(self, chunks: int) -> list[bytes]:
        message = f"Fake upstream failure after {chunks} chunks"
        return [self._event("error", code="server_error", message=message, param=None)]

    def text(self, text: str) -> bytes:
        event = self._delta.fill(self.sequence, text)
        self.sequence += 1
        return event

    def reasoning_events(self, pieces: tuple[str, ...]) -> list[bytes]:
        return [
            self._event(
                "response.reasoning_summary_text.delta",
                item_id=f"rs_{self.item_id}",
                output_index=0,
                summary_index=0,
                delta=piece,
            )
            for piece in pieces
        ]

    def tool_call_events(self, calls: list[_Call], *, reasoning: bool) -> list[bytes]:
        events = [
            self._event("response.created", response=self._response("in_progress")),
            self._event("response.in_progress", response=self._response("in_progress")),
        ]
        if reasoning:
            events += self.reasoning_events(REASONING)
        items = []
        for i, call in enumerate(calls):
            item = {
                "id": f"fc_{call.id}",
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": "",
                "status": "in_progress",
            }
            events.append(self._event("response.output_item.added", output_index=i, item=item))
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=i,
                    delta=call.arguments,
                )
            )
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=i,
                    arguments=call.arguments,
                )
            )
            done = {**item, "arguments": call.arguments, "status": "completed"}
            items.append(done)
            events.append(self._event("response.output_item.done", output_index=i, item=done))
        completed = {**self._response("completed"), "output": items}
        events.append(self._event("response.completed", response=completed))
        return events

    def whole(self, chunks: int) -> dict[str, Any]:
        return self._response("completed", answer(chunks), chunks)


class _AnthropicFormat:
    """Anthropic messages streaming events."""

    def __init__(self, model: str) -> None:
        self.id = f"msg_{uuid.uuid4().hex[:24]}"
        self.model = model
        self._delta = _Template(
            lambda text: {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
            1,
            "content_block_delta",
        )

    def _message(self, content: list[dict[str, Any]], stop_reason: str | None, chunks: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": chunks},
        }

    def begin(self) -> list[bytes]:
        return [
            _sse({"type": "message_start", "message": self._message([], None, 1)}, "message_start"),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]

    def delta(self, i: int) -> bytes:
        return self._delta.fill(word(i))

    def end(self, chunks: int) -> list[bytes]:
        return [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": chunks},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]

    def error(self, chunks: int) -> list[bytes]:
        message = f"Fake upstream failure after {chunks} chunks"
        return [_sse({"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error")]

    def text(self, text: str) -> bytes:
        return self._delta.fill(text)

    def reasoning_events(self, pieces: tuple[str, ...], index: int = 1) -> list[bytes]:
        start = {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "thinking", "thinking": ""},
        }
        events = [_sse(start, "content_block_start")]
        for piece in pieces:
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "thinking_delta", "thinking": piece},
            }
            events.append(_sse(delta, "content_block_delta"))
        events.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        return events

    def tool_call_events(self, calls: list[_Call], *, reasoning: bool) -> list[bytes]:
        events = [_sse({"type": "message_start", "message": self._message([], None, 1)}, "message_start")]
        if reasoning:
            events += self.reasoning_events(REASONING, index=0)
        for i, call in enumerate(calls, start=1):
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            events.append(
                _sse(
                    {"type": "content_block_start", "index": i, "content_block": block}, "content_block_start"
                )
            )
            half = len(call.arguments) // 2
            for piece in (call.arguments[:half], call.arguments[half:]):
                delta = {
                    "type": "content_block_delta",
                    "index": i,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
                events.append(_sse(delta, "content_block_delta"))
            events.append(_sse({"type": "content_block_stop", "index": i}, "content_block_stop"))
        stop = {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": len(calls)},
        }
        return [*events, _sse(stop, "message_delta"), _sse({"type": "message_stop"}, "message_stop")]

    def whole(self, chunks: int) -> dict[str, Any]:
        return self._message([{"type": "text", "text": answer(chunks)}], "end_turn", chunks)


_Format = _ChatFormat | _ResponsesFormat | _AnthropicFormat

# -- tool calling (the ``tools``/``loop``/``reason`` tokens) ----------------------------------

REASONING = ("Let me think.", " Done.")
_CALL_LINE = re.compile(r"^@call\s+(\S+)(?:\s+(.*))?$")


@dataclass(frozen=True)
class _Call:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class _Plan:
    """What one response does: ask for ``calls``, or answer (``preamble`` first)."""

    reasoning: bool = False
    calls: list[_Call] = field(default_factory=list)
    preamble: str | None = None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "")
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "input_text")
        )
    return ""


def _result_text(content: Any) -> str:
    return content if isinstance(content, str) else _text_of(content)


def _conversation(fmt: _Format, body: dict[str, Any]) -> tuple[str, list[str], bool]:
    """The last user message's text, the tool results after it, and whether tools are refused
    (``tool_choice`` none), as each API writes them."""
    choice = body.get("tool_choice")
    refused = choice == "none" or (isinstance(choice, dict) and choice.get("type") == "none")
    user_text, results = "", []
    if isinstance(fmt, _ResponsesFormat):
        items = body.get("input")
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            if item.get("type", "message") == "message" and item.get("role") == "user":
                user_text, results = _text_of(item.get("content")), []
            elif item.get("type") == "function_call_output":
                results.append(str(item.get("output")))
        if isinstance(items, str):
            user_text = items
        return user_text, results, refused
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        if role == "tool":
            results.append(_result_text(content))
        elif (
            role == "user"
            and isinstance(content, list)
            and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
        ):
            results += [_result_text(b.get("content")) for b in content if b.get("type") == "tool_result"]
        elif role == "user":
            user_text, results = _text_of(content), []
    return user_text, results, refused


def _plan(fmt: _Format, body: dict[str, Any], behaviour: Behaviour) -> _Plan | None:
    if not (behaviour.tools or behaviour.reason):
        return None
    user_text, results, refused = _conversation(fmt, body)
    calls = []
    if behaviour.tools:
        for line in user_text.splitlines():
            found = _CALL_LINE.match(line.strip())
            if found:
                calls.append(_Call(f"call_{uuid.uuid4().hex[:12]}", found.group(1), found.group(2) or "{}"))
    ask = bool(calls) and (not results or behaviour.loop) and (not refused or behaviour.stubborn)
    preamble = f"Tool results: {' | '.join(results)}\n" if results else None
    return _Plan(reasoning=behaviour.reason, calls=calls if ask else [], preamble=None if ask else preamble)


_OPENAI_ERROR_TYPES = {401: "invalid_request_error", 429: "rate_limit_exceeded"}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _error_response(status: int, message: str, *, anthropic: bool, as_text: bool = False) -> web.Response:
    if as_text:
        return web.Response(status=status, text=f"upstream says: {message}", content_type="text/plain")
    if anthropic:
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return web.json_response(
            {"type": "error", "error": {"type": kind, "message": message}}, status=status
        )
    kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": f"fake_{status}"}}, status=status
    )


# -- server ----------------------------------------------------------------------------------


class _PacedDeltas:
    """Writes a stream's deltas from timer callbacks: chunk i is due at begin + i x delay, like a
    model producing tokens at a steady rate (a loop that slept ``delay`` after each write would
    drift by its own overhead on every chunk, ~1 ms each with 100 streams at once).

    Why callbacks and not ``await asyncio.sleep`` + ``await response.write``: the bench's 100
    streams x 200 chunks share two cores with the server being measured, and a task wake-up
    (future, timer, task step) plus aiohttp's writer per chunk cost about a fifth of this
    process's CPU. The chunked framing is written straight to the transport, exactly as
    aiohttp frames it; the headers and the first events went through ``response.write``. With
    no delay, the deltas still go through ``response.write`` (which waits for the transport to
    drain); paced ones are small and far apart, so nothing piles up in the transport."""

    def __init__(
        self, request: web.Request, response: web.StreamResponse, fmt: _Format, behaviour: Behaviour
    ) -> None:
        if request.transport is None:
            raise ConnectionResetError("the client went away")
        self.transport = request.transport
        self.chunked = response.headers.get("Transfer-Encoding", "").lower() == "chunked"
        self.fmt = fmt
        self.chunks = behaviour.chunks
        self.delay = behaviour.delay
        self.loop = asyncio.get_running_loop()
        self.begin = self.loop.time()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.timer: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        """Returns after the last delta; ConnectionResetError if the transport closed first.
        Cancelling it (the client went away) stops the timer."""
        if not self.chunks:
            return
        self._send(0)
        try:
            await self.finished
        finally:
            if self.timer is not None:
                self.timer.cancel()

    def _send(self, i: int) -> None:
        if self.finished.done():
            return
        if self.transport.is_closing():
            # What aiohttp's writer raises on a closing transport.
            self.finished.set_exception(ConnectionResetError("Cannot write to closing transport"))
            return
        data = self.fmt.delta(i)
        self.transport.write(b"%x\r\n%b\r\n" % (len(data), data) if self.chunked else data)
        if i + 1 < self.chunks:
            # A late chunk is still scheduled (not written at once): the loop runs the other
            # streams in between, as ``asyncio.sleep(0)`` did.
            self.timer = self.loop.call_at(self.begin + (i + 1) * self.delay, self._send, i + 1)
        else:
            self.timer = None
            self.finished.set_result(None)


@dataclass
class _Counters:
    started: int = 0
    completed: int = 0
    disconnects: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)


class FakeLLMServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._counters = _Counters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._startup_error: BaseException | None = None

    # -- addresses and observations

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def started(self) -> int:
        return self._counters.started

    @property
    def completed(self) -> int:
        return self._counters.completed

    @property
    def disconnects(self) -> int:
        return self._counters.disconnects

    def clear(self) -> None:
        with self._counters.changed:
            self.requests.clear()
            self._counters.started = self._counters.completed = self._counters.disconnects = 0

    def wait_for_disconnects(self, count: int = 1, timeout: float = 10.0) -> bool:
        with self._counters.changed:
            return self._counters.changed.wait_for(lambda: self._counters.disconnects >= count, timeout)

    def _count(self, name: str) -> None:
        with self._counters.changed:
            setattr(self._counters, name, getattr(self._counters, name) + 1)
            self._counters.changed.notify_all()

    # -- lifecycle

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start_async(self) -> None:
        """Start on the running loop (the thread runner and ``main`` both use this)."""
        self._closing = asyncio.Event()
        # handler_cancellation: a client that goes away cancels its handler, which is how we
        # count disconnects (even of a stream that is sleeping or hanging).
        self._runner = web.AppRunner(
            self.make_app(), handler_cancellation=True, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop_async(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> FakeLLMServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fake-llm", daemon=True)
        self._thread.start()
        ready.wait(10)
        if self._startup_error is not None:
            raise RuntimeError(f"fake LLM server did not start: {self._startup_error}")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.stop_async(), loop)
        future.result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.start_async())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._startup_error = exc
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- request handling

    async def _record(self, request: web.Request) -> RecordedRequest:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
        headers = {key.lower(): value for key, value in request.headers.items()}
        recorded = RecordedRequest(request.method, request.path, headers, body)
        self.requests.append(recorded)
        return recorded

    @staticmethod
    def _credential(recorded: RecordedRequest, *, allow_x_api_key: bool) -> str:
        if allow_x_api_key and recorded.headers.get("x-api-key"):
            return recorded.headers["x-api-key"]
        scheme, _, token = recorded.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def _auth_error(self, recorded: RecordedRequest, *, anthropic: bool) -> web.Response | None:
        key = self._credential(recorded, allow_x_api_key=anthropic)
        if not key:
            return _error_response(401, "Missing API key", anthropic=anthropic)
        if key == BAD_KEY:
            # Real providers quote (part of) the key back; the client must not show it.
            return _error_response(401, f"Incorrect API key provided: {key}", anthropic=anthropic)
        return None

    async def _generate(
        self, request: web.Request, make_format: Callable[[str], _Format], *, anthropic: bool
    ) -> web.StreamResponse:
        recorded = await self._record(request)
        refused = self._auth_error(recorded, anthropic=anthropic)
        if refused is not None:
            return refused
        if not isinstance(recorded.body, dict):
            return _error_response(400, "Request body must be a JSON object", anthropic=anthropic)
        model = str(recorded.model or "")
        behaviour = parse_model(model)
        if behaviour.header_delay:
            await asyncio.sleep(behaviour.header_delay)
        if behaviour.error_status:
            message = f"Fake upstream error {behaviour.error_status}"
            return _error_response(
                behaviour.error_status, message, anthropic=anthropic, as_text=behaviour.error_as_text
            )
        fmt = make_format(model)
        options = recorded.body.get("stream_options")
        if isinstance(fmt, _ChatFormat) and isinstance(options, dict) and options.get("include_usage"):
            fmt.include_usage = True
        plan = _plan(fmt, recorded.body, behaviour)
        if not recorded.body.get("stream"):
            return web.json_response(fmt.whole(behaviour.chunks))
        return await self._stream(request, fmt, behaviour, plan)

    async def _stream(
        self, request: web.Request, fmt: _Format, behaviour: Behaviour, plan: _Plan | None = None
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        self._count("started")
        try:
            await response.prepare(request)  # a StreamResponse sends its headers right away
            if behaviour.hang:
                assert self._closing is not None
                await self._closing.wait()
                return response
            if plan is not None and plan.calls:
                for event in fmt.tool_call_events(plan.calls, reasoning=plan.reasoning):
                    await response.write(event)
                await response.write_eof()
                self._count("completed")
                return response
            for event in fmt.begin():
                await response.write(event)
            if plan is not None and plan.reasoning:
                for event in fmt.reasoning_events(REASONING):
                    await response.write(event)
            if plan is not None and plan.preamble:
                await response.write(fmt.text(plan.preamble))
            if behaviour.first_delay:
                await asyncio.sleep(behaviour.first_delay)
            if behaviour.delay:
                await _PacedDeltas(request, response, fmt, behaviour).run()
            else:
                for i in range(behaviour.chunks):
                    await response.write(fmt.delta(i))
            if behaviour.midstream == "drop":
                if request.transport is not None:
                    request.transport.abort()
                self._count("completed")
                raise asyncio.CancelledError  # nothing more can be sent on this connection
            tail = (
                fmt.error(behaviour.chunks) if behaviour.midstream == "error" else fmt.end(behaviour.chunks)
            )
            for event in tail:
                await response.write(event)
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionError):
            if behaviour.midstream != "drop":
                self._count("disconnects")
            raise
        self._count("completed")
        return response

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, _ChatFormat, anthropic=False)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, _ResponsesFormat, anthropic=False)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, _AnthropicFormat, anthropic=True)

    async def _models(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        anthropic = "anthropic-version" in recorded.headers
        refused = self._auth_error(recorded, anthropic=anthropic)
        if refused is not None:
            return refused
        if anthropic:
            data = [
                {"type": "model", "id": model, "display_name": model, "created_at": "2025-01-01T00:00:00Z"}
                for model in FAKE_MODEL_IDS
            ]
            return web.json_response(
                {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
            )
        data = [
            {"id": model, "object": "model", "created": 1735689600, "owned_by": "fake"}
            for model in FAKE_MODEL_IDS
        ]
        return web.json_response({"object": "list", "data": data})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic-compatible LLM server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18099)
    args = parser.parse_args(argv)
    server = FakeLLMServer(args.host, args.port)

    async def serve() -> None:
        await server.start_async()
        print(f"fake LLM server on {server.url} (OpenAI base URL {server.openai_base_url})", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop_async()

    try:
        _event_loop_runner()(serve())
    except KeyboardInterrupt:
        pass


def _event_loop_runner() -> Callable[[Any], Any]:
    """uvloop when installed (it comes with uvicorn[standard]): run standalone, this process
    shares the cores with the server a benchmark measures, and uvloop's timers and transports
    cost it about a third less CPU than the default loop's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


if __name__ == "__main__":
    main()
