"""OpenAI chat completions (``POST {base_url}/chat/completions``, streamed).

The default for every provider we do not know: most self-hosted and proxy endpoints (vLLM,
Ollama, LiteLLM, OpenRouter, Gemini's OpenAI endpoint, the fake test server) speak it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson
from django.conf import settings

from chat.providers.base import (
    Message,
    ModelConfig,
    ProviderError,
    ReasoningDelta,
    StreamItem,
    ToolCallRequest,
    ToolOffer,
    Usage,
)
from chat.providers.common import close_quietly, provider_error, require_model_id
from kinds.connections import OPENAI_BASE_URL
from kinds.model_clients import openai_client

# Asks the SDK for the HTTP response unread (what its ``with_streaming_response`` sets).
RAW_STREAM_HEADER = "X-Stainless-Raw-Response"


def max_tokens_param(base_url: str) -> str:
    # OpenAI and Azure OpenAI reject ``max_tokens`` for reasoning models; many compatible
    # servers only know ``max_tokens``.
    try:
        host = (urlsplit(base_url).hostname or "").lower()
    except ValueError:
        return "max_tokens"
    official = host == "api.openai.com" or host.endswith(".openai.azure.com")
    return "max_completion_tokens" if official else "max_tokens"


def _chat_message(m: Message) -> dict[str, Any]:
    role = m.get("role", "user")
    if role == "tool":
        return {"role": "tool", "tool_call_id": m.get("tool_call_id"), "content": m.get("content") or ""}
    calls = m.get("tool_calls")
    if role == "assistant" and calls:
        return {
            "role": "assistant",
            "content": m.get("content") or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in calls
            ],
        }
    return {"role": role, "content": m.get("content") or ""}


def chat_messages(system: str, messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    out.extend(_chat_message(m) for m in messages)
    return out


def chat_tools(offer: ToolOffer) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in offer.specs
    ]


class Extras:
    """What a tool-enabled stream carries besides text: reasoning deltas since the last read,
    and tool-call fragments by index (id and name come first, arguments in pieces)."""

    __slots__ = ("calls", "reasoning", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None  # the last chunk's ``usage`` (``stream_options``)
        self.reasoning: list[str] = []
        self.calls: dict[int, list[str]] = {}  # index -> [id, name, arguments...]

    def add_calls(self, fragments: Any) -> None:
        if not isinstance(fragments, list):
            return
        for fragment in fragments:
            if not isinstance(fragment, dict):
                continue
            index = fragment.get("index", 0)
            call = self.calls.setdefault(index if isinstance(index, int) else 0, ["", ""])
            if isinstance(fragment.get("id"), str) and fragment["id"]:
                call[0] = fragment["id"]
            function = fragment.get("function")
            if isinstance(function, dict):
                if isinstance(function.get("name"), str) and function["name"]:
                    call[1] = function["name"]
                if isinstance(function.get("arguments"), str):
                    call.append(function["arguments"])

    def requests(self) -> list[ToolCallRequest]:
        return [
            ToolCallRequest(call[0] or f"call_{index}", call[1], "".join(call[2:]))
            for index, call in sorted(self.calls.items())
        ]


def delta_text(payload: str | bytes, extras: Extras | None = None) -> str | None:
    """The text of one ``chat.completion.chunk`` (an ``error`` object ends the stream)."""
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ProviderError("Provider stream error: malformed chunk") from None
    if not isinstance(chunk, dict):
        return None
    error = chunk.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        raise ProviderError(f"Provider stream error: {str(message)[:300]}")
    if extras is not None:
        reported = chunk.get("usage")
        if isinstance(reported, dict):
            prompt, completion = reported.get("prompt_tokens"), reported.get("completion_tokens")
            if isinstance(prompt, int) and isinstance(completion, int):
                extras.usage = Usage(prompt, completion)
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return None
    parts = []
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        content = delta.get("content")
        if isinstance(content, str):
            parts.append(content)
        if extras is not None:
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                extras.reasoning.append(reasoning)
            if "tool_calls" in delta:
                extras.add_calls(delta["tool_calls"])
    return "".join(parts)


class SSELines:
    """Splits a byte stream into complete lines (``\n`` or ``\r\n``), keeping a partial one."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        if self._pending:
            data = self._pending + data
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return lines


def chunk_texts(lines: list[bytes], extras: Extras | None = None) -> tuple[str, bool, ProviderError | None]:
    """The text of the ``data:`` lines among ``lines``, whether ``[DONE]`` was seen, and the
    error an ``error`` chunk carried (the text before it still counts). ``extras``: collects
    reasoning and tool-call fragments too (tool-enabled and reasoning streams)."""
    texts = []
    for line in lines:
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return "".join(texts), True, None
        try:
            text = delta_text(payload, extras)
        except ProviderError as exc:
            return "".join(texts), True, exc
        if text:
            texts.append(text)
    return "".join(texts), False, None


class OpenAIChatProvider:
    api_label = "Chat Completions API"

    def __init__(self, default_base_url: str = OPENAI_BASE_URL) -> None:
        self.default_base_url = default_base_url

    async def stream(
        self, config: ModelConfig, system: str, messages: list[Message], tools: ToolOffer | None = None
    ) -> AsyncIterator[StreamItem]:
        require_model_id(config)
        base_url = config.base_url or self.default_base_url
        params: dict[str, Any] = {
            "model": config.model_id,
            "messages": chat_messages(system, messages),
            "stream": True,
        }
        if settings.CHAT_REQUEST_USAGE:
            # The tokens used, in a last chunk (``/api/v1/responses`` returns them as ``usage``).
            params["stream_options"] = {"include_usage": True}
        if tools is not None and tools.specs:
            params["tools"] = chat_tools(tools)
            params["tool_choice"] = "none" if tools.exhausted else "auto"
        # Reasoning deltas are read on every stream (any model may send them); the tool-call
        # fragments only matter when tools were offered.
        extras = Extras()
        if config.max_output_tokens:
            params[max_tokens_param(base_url)] = config.max_output_tokens
        response = None
        started = False
        try:
            # The SDK sends the request (auth, headers, timeouts) and turns HTTP errors into its
            # exceptions, through its documented generic ``post``: ``chat.completions.create``
            # first walks the messages against its typed parameter definitions (~2.5 ms of CPU
            # per call, measured), and parsing each chunk into its typed models cost ~75 us per
            # delta. The body is the API's JSON as built here; the response is read raw.
            response = await openai_client(config, base_url).post(
                "/chat/completions",
                cast_to=httpx2.Response,
                body=params,
                options={"headers": {RAW_STREAM_HEADER: "stream"}},
            )
            started = True  # connected: a transport error from here on is a dropped stream
            # Bytes (content-decoded), split into lines here: the SDK's line iterator adds text
            # and line decoding layers per network read. The texts of the chunks one read
            # brought are yielded together (they arrived together; the runner would coalesce).
            lines = SSELines()
            async for data in response.aiter_bytes():
                texts, finished, error = chunk_texts(lines.feed(data), extras)
                if extras.reasoning:
                    yield ReasoningDelta("".join(extras.reasoning))
                    extras.reasoning.clear()
                if texts:
                    yield texts
                if error is not None:
                    raise error
                if finished:
                    break
            if extras.calls:
                for request in extras.requests():
                    yield request
            if extras.usage is not None:
                yield extras.usage
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure must reach the runner as ProviderError
            # ``from None``: the SDK exception text may quote the API key (logged tracebacks).
            raise provider_error(exc, config, base_url, started=started) from None
        finally:
            await close_quietly(response)
