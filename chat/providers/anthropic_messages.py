"""Anthropic Messages API (``POST {base_url}/v1/messages``, streamed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

# Imported with this module so that ``select.prepare`` loads the SDK (~1 s) in its thread, not
# on the event loop at the first stream.
import anthropic  # noqa: F401
import orjson

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
    is_empty,
    parse_data_url,
    provider_error,
    require_model_id,
    split_system,
)
from kinds.connections import ANTHROPIC_BASE_URL
from kinds.model_clients import anthropic_base_url, anthropic_client

DEFAULT_MAX_TOKENS = 4096  # the Messages API requires max_tokens


def _content_blocks(content: list[Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "input_text"):
            if part.get("text"):
                blocks.append({"type": "text", "text": str(part["text"])})
        elif kind == "image_url":
            url = image_url_of(part)
            inline = parse_data_url(url) if url else None
            if inline:
                media_type, data = inline
                blocks.append(
                    {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
                )
            elif url:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
        elif kind in ("image", "document"):
            blocks.append(part)
    return blocks


def _tool_input(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object ``tool_use.input`` must be (``{}`` when the model wrote
    something that is not a JSON object: the tool result already told it so)."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def anthropic_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": message.get("content") or "(empty)",
            }
            if message.get("is_error"):
                result["is_error"] = True
            # The results of one round go back together, in one user message.
            last = out[-1] if out else None
            if (
                last is not None
                and last["role"] == "user"
                and isinstance(last["content"], list)
                and all(b.get("type") == "tool_result" for b in last["content"])
            ):
                last["content"].append(result)
            else:
                out.append({"role": "user", "content": [result]})
            continue
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and calls:
            blocks: list[dict[str, Any]] = []
            text = message.get("content")
            if isinstance(text, str) and text.strip():
                blocks.append({"type": "text", "text": text})
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c.arguments)}
                for c in calls
            )
            out.append({"role": "assistant", "content": blocks})
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = _content_blocks(content)
        # The API rejects empty text blocks (e.g. an earlier answer that failed before any text).
        if is_empty(content):
            continue
        out.append({"role": message.get("role", "user"), "content": content})
    return out


def anthropic_tools(offer: ToolOffer) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in offer.specs]


class AnthropicMessagesProvider:
    api_label = "Anthropic Messages API"

    async def stream(
        self, config: ModelConfig, system: str, messages: list[Message], tools: ToolOffer | None = None
    ) -> AsyncIterator[StreamItem]:
        require_model_id(config)
        base_url = anthropic_base_url(config.base_url or ANTHROPIC_BASE_URL)
        extra_system, conversation = split_system(messages)
        system_text = "\n\n".join([system, *extra_system] if system else extra_system)
        params: dict[str, Any] = {
            "model": config.model_id,
            "max_tokens": config.max_output_tokens or DEFAULT_MAX_TOKENS,
            "messages": anthropic_messages(conversation),
            "stream": True,
        }
        if system_text:
            params["system"] = system_text
        if tools is not None and tools.specs:
            params["tools"] = anthropic_tools(tools)
            params["tool_choice"] = {"type": "none" if tools.exhausted else "auto"}
        calls: dict[int, list[str]] = {}  # block index -> [id, name, input json pieces...]
        tokens = [0, 0]  # input (message_start), output (the last message_delta's count)
        reported = False
        response = None
        started = False
        try:
            response = await anthropic_client(config, base_url).messages.create(**params)
            started = True  # connected: a transport error from here on is a dropped stream
            async for event in response:
                if event.type == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta":
                        if delta.text:
                            yield delta.text
                    elif delta.type == "thinking_delta":
                        if delta.thinking:
                            yield ReasoningDelta(delta.thinking)
                    elif delta.type == "input_json_delta" and event.index in calls:
                        calls[event.index].append(delta.partial_json or "")
                elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                    calls[event.index] = [event.content_block.id, event.content_block.name]
                elif event.type == "message_start":
                    used = getattr(event.message, "usage", None)
                    if isinstance(getattr(used, "input_tokens", None), int):
                        tokens[0], reported = used.input_tokens, True
                elif event.type == "message_delta":
                    used = getattr(event, "usage", None)
                    if isinstance(getattr(used, "output_tokens", None), int):
                        tokens[1], reported = used.output_tokens, True
            for _, call in sorted(calls.items()):
                yield ToolCallRequest(call[0], call[1], "".join(call[2:]))
            if reported:
                yield Usage(tokens[0], tokens[1])
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure must reach the runner as ProviderError
            # ``from None``: the SDK exception text may quote the API key (logged tracebacks).
            raise provider_error(exc, config, base_url, started=started) from None
        finally:
            await close_quietly(response)
