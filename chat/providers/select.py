"""Which provider serves a Model (reference realtime §3.8), by its family
(``kinds.specs.model.provider_family``):

1. ``config.provider`` alias: ``openai``/``gpt`` -> OpenAI; ``anthropic``/``claude`` ->
   Anthropic; ``google``/``gemini`` -> OpenAI-compatible (see below).
2. Else the ``model_id`` prefix: ``gpt-``, ``o1-``, ``o3-``, ``chatgpt-`` -> OpenAI;
   ``claude-`` -> Anthropic; ``gemini-`` -> Google.
3. Else OpenAI-compatible chat completions (the default).

Every OpenAI-family model (OpenAI, Google, unknown) uses the Responses API when the Model asks
for it (``api_format == "responses"`` or ``protocol == "openai-responses"``), chat completions
otherwise. Anthropic always uses its Messages API.

Google/Gemini: the reference uses LangChain's Google client; there is no Google SDK here, so
Gemini models go through Google's OpenAI-compatible endpoint (``GEMINI_OPENAI_BASE_URL``
when the Model sets none). The ``gemini-deep-research`` protocol (create job / poll) is not
supported and falls back to plain chat completions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from chat.providers.base import Message, ModelConfig, Provider, StreamItem, ToolOffer
from chat.providers.families import ANTHROPIC, GOOGLE, OPENAI, provider_family  # noqa: F401
from chat.providers.openai_chat import OpenAIChatProvider
from chat.providers.openai_responses import OpenAIResponsesProvider
from kinds.connections import GEMINI_OPENAI_BASE_URL

_anthropic: Provider | None = None
_openai_chat = OpenAIChatProvider()
_openai_responses = OpenAIResponsesProvider()
_gemini_chat = OpenAIChatProvider(default_base_url=GEMINI_OPENAI_BASE_URL)
_gemini_responses = OpenAIResponsesProvider(default_base_url=GEMINI_OPENAI_BASE_URL)


def _anthropic_provider() -> Provider:
    # Imported on first use: the anthropic SDK costs ~40 MiB that OpenAI-only servers never need.
    global _anthropic
    if _anthropic is None:
        from chat.providers.anthropic_messages import AnthropicMessagesProvider

        _anthropic = AnthropicMessagesProvider()
    return _anthropic


def prepare(config: ModelConfig) -> None:
    """Imports what ``config``'s provider needs (call it in a thread: SDK imports take ~1 s)."""
    provider_for(config)


def wants_responses_api(config: ModelConfig) -> bool:
    return (config.api_format or "").lower() == "responses" or (
        config.protocol or ""
    ).lower() == "openai-responses"


def provider_for(config: ModelConfig) -> Provider:
    family = provider_family(config)
    if family == ANTHROPIC:
        return _anthropic_provider()
    responses = wants_responses_api(config)
    if family == GOOGLE:
        return _gemini_responses if responses else _gemini_chat
    return _openai_responses if responses else _openai_chat


def api_label(config: ModelConfig) -> str:
    """Human name of the API a Model is called through ("Chat Completions API", ...)."""
    return provider_for(config).api_label  # type: ignore[attr-defined]


def stream(
    config: ModelConfig, system: str, messages: list[Message], tools: ToolOffer | None = None
) -> AsyncIterator[StreamItem]:
    """Stream the answer's text deltas (and reasoning, tool calls: ``base.StreamItem``); raises
    ``ProviderError`` on any failure.

    The provider's own generator, unwrapped (a wrapper costs a hop per delta): closing it early
    (``aclose()``, e.g. on cancel) closes the HTTP response.
    """
    if tools is None:
        return provider_for(config).stream(config, system, messages)
    return provider_for(config).stream(config, system, messages, tools)
