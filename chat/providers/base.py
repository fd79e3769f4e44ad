"""What the chat runner hands a provider and gets back.

A provider streams the answer to ``(system, messages)`` as text deltas. Any failure (timeout,
bad credentials, HTTP error, malformed stream) is raised as ``ProviderError`` with a message a
person can read; nothing else escapes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from kinds.connections import ModelConnection

# A Model resolved for one call (``kinds.connections.connection_for``, reference realtime §3.4).
ModelConfig = ModelConnection


class ProviderError(Exception):
    """A provider call failed; ``message`` is shown to the user as ``chat:error``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# One chat message: {"role": "user"|"assistant", "content": str | list of content parts}.
Message = dict[str, Any]


class Provider(Protocol):
    def stream(self, config: ModelConfig, system: str, messages: list[Message]) -> AsyncIterator[str]: ...
