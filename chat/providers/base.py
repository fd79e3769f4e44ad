"""What the chat runner hands a provider and gets back.

A provider streams the answer to ``(system, messages)`` as text deltas. Any failure (timeout,
bad credentials, HTTP error, malformed stream) is raised as ``ProviderError`` with a message a
person can read; nothing else escapes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class ModelConfig:
    """A Model resource resolved for one call (reference realtime §3.4)."""

    provider: str  # spec.modelConfig.env.model: "openai", "claude", "anthropic", "gemini", ...
    model_id: str
    api_key: str = field(repr=False)
    base_url: str | None = None
    api_format: str | None = None  # "responses" selects the OpenAI Responses API
    protocol: str | None = None
    default_headers: dict[str, str] = field(default_factory=dict)
    context_window: int | None = None
    max_output_tokens: int | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    model_name: str = ""
    model_namespace: str = "default"


class ProviderError(Exception):
    """A provider call failed; ``message`` is shown to the user as ``chat:error``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# One chat message: {"role": "user"|"assistant", "content": str | list of content parts}.
Message = dict[str, Any]


class Provider(Protocol):
    def stream(self, config: ModelConfig, system: str, messages: list[Message]) -> AsyncIterator[str]: ...
