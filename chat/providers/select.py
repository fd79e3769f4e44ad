"""Which provider serves a Model (reference realtime §3.8).

1. ``config.provider`` alias: ``openai``/``gpt`` -> OpenAI; ``anthropic``/``claude`` ->
   Anthropic; ``google``/``gemini`` -> OpenAI-compatible (see below).
2. Else the ``model_id`` prefix: ``gpt-``, ``o1-``, ``o3-``, ``chatgpt-`` -> OpenAI;
   ``claude-`` -> Anthropic; ``gemini-`` -> Google.
3. Else OpenAI-compatible chat completions (the default).

Every OpenAI-family model (OpenAI, Google, unknown) uses the Responses API when the Model asks
for it (``api_format == "responses"`` or ``protocol == "openai-responses"``), chat completions
otherwise. Anthropic always uses its Messages API.

Google/Gemini: the reference uses LangChain's Google client; there is no Google SDK here, so
Gemini models go through Google's OpenAI-compatible endpoint (the default base URL below when
the Model sets none). The ``gemini-deep-research`` protocol (create job / poll) is not
supported and falls back to plain chat completions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from chat.providers.anthropic_messages import AnthropicMessagesProvider
from chat.providers.base import Message, ModelConfig, Provider
from chat.providers.openai_chat import OpenAIChatProvider
from chat.providers.openai_responses import OpenAIResponsesProvider

GEMINI_OPENAI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"

OPENAI, ANTHROPIC, GOOGLE, COMPATIBLE = "openai", "anthropic", "google", "openai-compatible"

_ALIASES = {"openai": OPENAI, "gpt": OPENAI, "anthropic": ANTHROPIC, "claude": ANTHROPIC}
_ALIASES |= {"google": GOOGLE, "gemini": GOOGLE}
_PREFIXES = (
    (("gpt-", "o1-", "o3-", "chatgpt-"), OPENAI),
    (("claude-",), ANTHROPIC),
    (("gemini-",), GOOGLE),
)

_anthropic = AnthropicMessagesProvider()
_openai_chat = OpenAIChatProvider()
_openai_responses = OpenAIResponsesProvider()
_gemini_chat = OpenAIChatProvider(default_base_url=GEMINI_OPENAI_BASE_URL)
_gemini_responses = OpenAIResponsesProvider(default_base_url=GEMINI_OPENAI_BASE_URL)


def provider_family(config: ModelConfig) -> str:
    """``openai``, ``anthropic``, ``google`` or ``openai-compatible``."""
    alias = (config.provider or "").strip().lower()
    if alias in _ALIASES:
        return _ALIASES[alias]
    model_id = (config.model_id or "").strip().lower()
    for prefixes, family in _PREFIXES:
        if model_id.startswith(prefixes):
            return family
    return COMPATIBLE


def wants_responses_api(config: ModelConfig) -> bool:
    return (config.api_format or "").lower() == "responses" or (
        config.protocol or ""
    ).lower() == "openai-responses"


def provider_for(config: ModelConfig) -> Provider:
    family = provider_family(config)
    if family == ANTHROPIC:
        return _anthropic
    responses = wants_responses_api(config)
    if family == GOOGLE:
        return _gemini_responses if responses else _gemini_chat
    return _openai_responses if responses else _openai_chat


def api_label(config: ModelConfig) -> str:
    """Human name of the API a Model is called through ("Chat Completions API", ...)."""
    return provider_for(config).api_label  # type: ignore[attr-defined]


async def stream(config: ModelConfig, system: str, messages: list[Message]) -> AsyncIterator[str]:
    """Stream the answer's text deltas; raises ``ProviderError`` on any failure.

    Closing this generator early (``aclose()``, e.g. on cancel) closes the HTTP response.
    """
    deltas = provider_for(config).stream(config, system, messages)
    try:
        async for delta in deltas:
            yield delta
    finally:
        await deltas.aclose()  # type: ignore[attr-defined]
