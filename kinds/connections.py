"""A Model row resolved into what a provider call needs, and the stored key a masked one means.

``connection_for(row)`` is the one rule for every caller of a model (chat, the provider checks,
later embeddings and rerank): provider family, base URL with that family's default, the key in
clear (``api_key`` or the family's env-style name, e.g. ``ANTHROPIC_API_KEY``), headers, model
id, API format and limits. The SDK clients built from a connection are in
``kinds.model_clients`` (imported only when a call is made: the SDKs are large).

``stored_key_for_mask`` serves the settings page, which sends back the masked key it was shown
(``****abcd``) to test a connection or list a provider's models: the mask stands for the
caller's stored key only when exactly one key among the Models the caller may use has that mask
and that base URL, so a stored key never goes to a URL the caller chose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kinds.specs.model import ANTHROPIC, COMPATIBLE, GOOGLE, OPENAI, ModelView, provider_family
from wegent import crypto

if TYPE_CHECKING:  # the chat providers import this module before Django is set up
    from accounts.models import User
    from kinds.models import Kind

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
# No Google SDK is installed: chat reaches Gemini through Google's OpenAI-compatible endpoint.
GEMINI_OPENAI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
DEFAULT_BASE_URLS = {
    OPENAI: OPENAI_BASE_URL,
    COMPATIBLE: OPENAI_BASE_URL,
    ANTHROPIC: ANTHROPIC_BASE_URL,
    GOOGLE: GEMINI_OPENAI_BASE_URL,
}
DEFAULT_TIMEOUT_SECONDS = 120.0
# The model the reference asks for when a Model names none (realtime §3.4).
DEFAULT_MODEL_ID = "gpt-4"


@dataclass(frozen=True)
class ModelConnection:
    """One Model, ready for a provider call (its key in clear: never log or return it)."""

    provider: str  # spec.modelConfig.env.model: "openai", "claude", "anthropic", "gemini", ...
    model_id: str
    api_key: str = field(repr=False)
    base_url: str | None = None  # None: the family's default (``default_base_url``)
    api_format: str | None = None  # "responses" selects the OpenAI Responses API
    protocol: str | None = None
    default_headers: dict[str, str] = field(default_factory=dict)
    context_window: int | None = None
    max_output_tokens: int | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    model_name: str = ""
    model_namespace: str = "default"
    family: str = field(init=False)  # from provider and model_id (``provider_family``)

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", provider_family(self.provider, self.model_id))


def default_base_url(family: str) -> str:
    return DEFAULT_BASE_URLS.get(family, OPENAI_BASE_URL)


def connection_for(row: Kind, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> ModelConnection:
    """A Model row as one provider call needs it; the key is decrypted for this call only."""
    view = ModelView.of(row.spec)
    api_format = view.api_format or ("responses" if view.protocol == "openai-responses" else None)
    return ModelConnection(
        provider=view.provider,
        model_id=view.model_id or DEFAULT_MODEL_ID,
        api_key=crypto.decrypt(view.api_key),
        base_url=view.base_url or default_base_url(view.family),
        api_format=api_format,
        protocol=view.protocol,
        default_headers=view.headers,
        context_window=view.context_window,
        max_output_tokens=view.max_output_tokens,
        timeout=timeout,
        model_name=row.name,
        model_namespace=row.namespace,
    )


@dataclass(frozen=True)
class ProviderTarget:
    """What the settings page sends to reach a provider: its type, a key (or the mask of a stored
    one), an optional base URL and headers, and optionally the Model whose key a mask means."""

    provider_type: str | None
    api_key: str | None
    base_url: str | None = None
    custom_headers: dict[str, str] | None = None
    model_name: str | None = None
    namespace: str | None = None


def _usable_models(actor: User) -> list[Kind]:
    """Active Models ``actor`` may call: own, their readable groups', public."""
    from kinds import selectors

    return list(selectors.visible_rows(actor, "Model"))


def _same_url(stored: str | None, sent: str | None) -> bool:
    return (stored or "").strip().rstrip("/") == (sent or "").strip().rstrip("/")


def stored_key_for_mask(actor: User, mask: str, base_url: str | None, family: str) -> str | None:
    """The clear key ``mask`` stands for, or None when no key or several keys match.

    A match is a Model ``actor`` may use whose key shows as ``mask`` and whose configured base
    URL is ``base_url`` (both unset counts only when ``family``'s default URL is the Model's own:
    a key never goes to another provider's host). Only the caller's visible Models are read, so a mask
    copied from another user's Model matches nothing.
    """
    keys: set[str] = set()
    for row in _usable_models(actor):
        view = ModelView.of(row.spec)
        if not view.api_key or not _same_url(view.base_url, base_url):
            continue
        if view.base_url is None and default_base_url(view.family) != default_base_url(family):
            continue
        if crypto.mask(view.api_key) == mask:
            keys.add(crypto.decrypt(view.api_key))
    return keys.pop() if len(keys) == 1 else None
