"""OpenAI Responses API (``POST {base_url}/responses``, streamed), chosen by the Model's
``apiFormat: responses`` / ``protocol: openai-responses``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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
from chat.providers.common import (
    close_quietly,
    image_url_of,
    provider_error,
    redact,
    require_model_id,
    text_of,
)
from kinds.connections import OPENAI_BASE_URL
from kinds.model_clients import openai_client


def _input_parts(content: list[Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "input_text"):
            parts.append({"type": "input_text", "text": str(part.get("text") or "")})
        elif kind == "image_url":
            url = image_url_of(part)
            if url:
                parts.append({"type": "input_image", "image_url": url, "detail": "auto"})
        elif kind in ("input_image", "input_file"):
            parts.append(part)
    return parts


def response_input(messages: list[Message]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role", "user")
        content = message.get("content") or ""
        if role == "tool":
            items.append(
                {"type": "function_call_output", "call_id": message.get("tool_call_id"), "output": content}
            )
            continue
        calls = message.get("tool_calls")
        if role == "assistant" and calls:
            if content:
                items.append({"type": "message", "role": "assistant", "content": text_of(content)})
            items.extend(
                {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
                for c in calls
            )
            continue
        if isinstance(content, list):
            # Earlier answers are plain text (output parts have another type); users may send images.
            content = text_of(content) if role == "assistant" else _input_parts(content)
        items.append({"type": "message", "role": role, "content": content})
    return items


def _failure_text(event: Any) -> str:
    error = getattr(getattr(event, "response", None), "error", None)
    message = getattr(error, "message", None) or getattr(event, "message", None)
    return f"Provider stream error: {message}" if message else "Provider stream error"


def response_tools(offer: ToolOffer) -> list[dict[str, Any]]:
    return [
        {"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
        for t in offer.specs
    ]


_REASONING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")


class OpenAIResponsesProvider:
    api_label = "Responses API"

    def __init__(self, default_base_url: str = OPENAI_BASE_URL) -> None:
        self.default_base_url = default_base_url

    async def stream(
        self, config: ModelConfig, system: str, messages: list[Message], tools: ToolOffer | None = None
    ) -> AsyncIterator[StreamItem]:
        require_model_id(config)
        base_url = config.base_url or self.default_base_url
        params: dict[str, Any] = {"model": config.model_id, "input": response_input(messages), "stream": True}
        if tools is not None and tools.specs:
            params["tools"] = response_tools(tools)
            params["tool_choice"] = "none" if tools.exhausted else "auto"
        calls: list[ToolCallRequest] = []
        usage: Usage | None = None
        if system:
            params["instructions"] = system
        if config.max_output_tokens:
            params["max_output_tokens"] = config.max_output_tokens
        response = None
        started = False
        try:
            response = await openai_client(config, base_url).responses.create(**params)
            started = True  # connected: a transport error from here on is a dropped stream
            async for event in response:
                kind = getattr(event, "type", None)
                if kind == "response.output_text.delta":
                    if event.delta:
                        yield event.delta
                elif kind in _REASONING_DELTAS:
                    if event.delta:
                        yield ReasoningDelta(event.delta)
                elif kind == "response.output_item.done":
                    item = event.item
                    if getattr(item, "type", None) == "function_call":
                        calls.append(ToolCallRequest(item.call_id, item.name, item.arguments or ""))
                elif kind in ("error", "response.failed"):
                    raise ProviderError(redact(_failure_text(event), config.api_key))
                elif kind == "response.completed":
                    used = getattr(event.response, "usage", None)
                    used_in, used_out = (
                        getattr(used, "input_tokens", None),
                        getattr(used, "output_tokens", None),
                    )
                    if isinstance(used_in, int) and isinstance(used_out, int):
                        usage = Usage(used_in, used_out)
            for call in calls:
                yield call
            if usage is not None:
                yield usage
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure must reach the runner as ProviderError
            raise provider_error(exc, config, base_url, started=started) from None
        finally:
            await close_quietly(response)
