"""Anthropic Messages API (``POST {base_url}/v1/messages``, streamed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

# Imported with this module so that ``select.prepare`` loads the SDK (~1 s) in its thread, not
# on the event loop at the first stream.
import anthropic  # noqa: F401

from chat.providers.base import Message, ModelConfig, ProviderError
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


def anthropic_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = _content_blocks(content)
        # The API rejects empty text blocks (e.g. an earlier answer that failed before any text).
        if is_empty(content):
            continue
        out.append({"role": message.get("role", "user"), "content": content})
    return out


class AnthropicMessagesProvider:
    api_label = "Anthropic Messages API"

    async def stream(self, config: ModelConfig, system: str, messages: list[Message]) -> AsyncIterator[str]:
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
        response = None
        started = False
        try:
            response = await anthropic_client(config, base_url).messages.create(**params)
            started = True  # connected: a transport error from here on is a dropped stream
            async for event in response:
                if (
                    event.type == "content_block_delta"
                    and event.delta.type == "text_delta"
                    and event.delta.text
                ):
                    yield event.delta.text
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure must reach the runner as ProviderError
            # ``from None``: the SDK exception text may quote the API key (logged tracebacks).
            raise provider_error(exc, config, base_url, started=started) from None
        finally:
            await close_quietly(response)
