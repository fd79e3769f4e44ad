"""Which family a Model belongs to, without importing any SDK (the runner decides from it which
SDK to load in a thread before the first stream)."""

from __future__ import annotations

from chat.providers.base import ModelConfig

OPENAI, ANTHROPIC, GOOGLE, COMPATIBLE = "openai", "anthropic", "google", "openai-compatible"

_ALIASES = {"openai": OPENAI, "gpt": OPENAI, "anthropic": ANTHROPIC, "claude": ANTHROPIC}
_ALIASES |= {"google": GOOGLE, "gemini": GOOGLE}
_PREFIXES = (
    (("gpt-", "o1-", "o3-", "chatgpt-"), OPENAI),
    (("claude-",), ANTHROPIC),
    (("gemini-",), GOOGLE),
)


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
