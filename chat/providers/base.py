"""What the chat runner hands a provider and gets back.

A provider streams the answer to ``(system, messages)`` as text deltas (``str``), plus, when the
model streams them, ``ReasoningDelta``s, and at the end of a response that asks for tools one
``ToolCallRequest`` per call. Any failure (timeout, bad credentials, HTTP error, malformed
stream) is raised as ``ProviderError`` with a message a person can read; nothing else escapes.

Tool rounds add two provider-neutral message forms to ``messages`` (each provider writes them
in its API's format):

- ``{"role": "assistant", "content": text, "tool_calls": [ToolCallRequest, ...]}``
- ``{"role": "tool", "tool_call_id": id, "name": name, "content": text, "is_error": bool}``
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Reasoning text the model streams apart from its answer (``reasoning_content``, Anthropic
    thinking, Responses reasoning summaries)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """One tool call the model asked for; ``arguments`` is the JSON text it wrote (may be
    invalid: the tool loop answers that with an error result)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one model call used, when the provider reports them (sent once, at its end)."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class ToolOffer:
    """The tools a call declares (``chat.tools.base.ToolSpec``s). ``exhausted``: the turn used
    its tool calls; the tools stay declared (the history names them) but the model is told
    not to call them (``tool_choice`` none)."""

    specs: Sequence[Any]
    exhausted: bool = False


StreamItem = str | ReasoningDelta | ToolCallRequest | Usage


class Provider(Protocol):
    def stream(
        self, config: ModelConfig, system: str, messages: list[Message], tools: ToolOffer | None = None
    ) -> AsyncIterator[StreamItem]: ...
