"""Which family a Model belongs to, without importing any SDK (the runner decides from it which
SDK to load in a thread before the first stream). The rule is ``kinds.specs.model``'s."""

from __future__ import annotations

from chat.providers.base import ModelConfig
from kinds.connections import ANTHROPIC, COMPATIBLE, GOOGLE, OPENAI

__all__ = ["ANTHROPIC", "COMPATIBLE", "GOOGLE", "OPENAI", "provider_family"]


def provider_family(config: ModelConfig) -> str:
    """``openai``, ``anthropic``, ``google`` or ``openai-compatible``."""
    return config.family
