from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field

from kinds.specs.base import Resource, SpecModel


class TTSConfig(SpecModel):
    voice: str | None = None
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    output_format: str = "mp3"


class STTConfig(SpecModel):
    language: str | None = None
    transcription_format: str = "text"


class EmbeddingConfig(SpecModel):
    dimensions: int | None = None
    encoding_format: str = "float"


class RerankConfig(SpecModel):
    top_n: int | None = None
    return_documents: bool = True


class ModelSpec(SpecModel):
    modelConfig: dict[str, Any]
    isCustomConfig: bool | None = None
    protocol: str | None = None
    apiFormat: Literal["chat/completions", "responses"] | None = None
    contextWindow: int | None = None
    maxOutputTokens: int | None = None
    modelType: Literal["llm", "tts", "stt", "embedding", "rerank"] | None = "llm"
    ttsConfig: TTSConfig | None = None
    sttConfig: STTConfig | None = None
    embeddingConfig: EmbeddingConfig | None = None
    rerankConfig: RerankConfig | None = None


class Model(Resource):
    KIND: ClassVar[str] = "Model"
    spec: ModelSpec


# --- reading a stored Model spec ---------------------------------------------------------------

OPENAI, ANTHROPIC, GOOGLE, COMPATIBLE = "openai", "anthropic", "google", "openai-compatible"

_FAMILY_ALIASES = {"openai": OPENAI, "gpt": OPENAI, "anthropic": ANTHROPIC, "claude": ANTHROPIC}
_FAMILY_ALIASES |= {"google": GOOGLE, "gemini": GOOGLE}
_FAMILY_PREFIXES = (
    (("gpt-", "o1-", "o3-", "chatgpt-"), OPENAI),
    (("claude-",), ANTHROPIC),
    (("gemini-",), GOOGLE),
)


@dataclass(frozen=True)
class _EnvNames:
    """The ``modelConfig.env`` names a family's own tools use besides ``api_key`` and
    ``base_url`` (ClaudeCode-style Models carry ``ANTHROPIC_AUTH_TOKEN`` and friends)."""

    key: tuple[str, ...] = ()
    base_url: tuple[str, ...] = ()


_ENV_NAMES = {
    OPENAI: _EnvNames(key=("OPENAI_API_KEY",), base_url=("OPENAI_BASE_URL",)),
    COMPATIBLE: _EnvNames(key=("OPENAI_API_KEY",), base_url=("OPENAI_BASE_URL",)),
    ANTHROPIC: _EnvNames(key=("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY"), base_url=("ANTHROPIC_BASE_URL",)),
    GOOGLE: _EnvNames(key=("GEMINI_API_KEY", "GOOGLE_API_KEY")),
}


def provider_family(provider: str | None, model_id: str | None) -> str:
    """``openai``, ``anthropic``, ``google`` or ``openai-compatible``: the ``env.model`` alias,
    else the model id's prefix, else an OpenAI-compatible endpoint."""
    alias = (provider or "").strip().lower()
    if alias in _FAMILY_ALIASES:
        return _FAMILY_ALIASES[alias]
    lowered = (model_id or "").strip().lower()
    for prefixes, family in _FAMILY_PREFIXES:
        if lowered.startswith(prefixes):
            return family
    return COMPATIBLE


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _first(env: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(name, value) of the first non-empty string among ``names``."""
    for name in names:
        value = _text(env.get(name))
        if value is not None:
            return name, value
    return None, None


@dataclass(frozen=True)
class ModelView:
    """A stored Model spec read tolerantly: wrong or missing types read as the defaults.

    ``api_key`` is whatever the document given holds (cipher text at rest, a mask in a
    response, clear text after ``secrets.revealed``); ``api_key_field`` names the env entry it
    came from: ``api_key``, else the family's own name (``ANTHROPIC_AUTH_TOKEN`` ...).
    """

    provider: str  # env.model: "openai", "claude", "gemini", ... ("" when unset)
    model_id: str  # env.model_id ("" when unset)
    base_url: str | None  # as configured; None means the provider's default
    api_key: str = field(repr=False)
    api_key_field: str | None
    headers: dict[str, str]
    protocol: str | None
    api_format: str | None
    context_window: int | None
    max_output_tokens: int | None
    category: str  # spec.modelType: llm, tts, stt, embedding, rerank
    is_custom_config: bool
    family: str

    @classmethod
    def of(cls, spec: Any) -> ModelView:
        spec = _dict(spec)
        config = _dict(spec.get("modelConfig"))
        env = _dict(config.get("env"))
        provider = _text(env.get("model")) or ""
        model_id = _text(env.get("model_id")) or ""
        family = provider_family(provider, model_id)
        names = _ENV_NAMES[family]
        key_field, api_key = _first(env, ("api_key", *names.key))
        _, base_url = _first(env, ("base_url", *names.base_url))
        headers = config.get("DEFAULT_HEADERS") or env.get("DEFAULT_HEADERS") or env.get("custom_headers")
        return cls(
            provider=provider,
            model_id=model_id,
            base_url=base_url,
            api_key=api_key or "",
            api_key_field=key_field,
            headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
            protocol=_text(spec.get("protocol")),
            api_format=_text(spec.get("apiFormat")),
            context_window=_count(spec.get("contextWindow")) or _count(config.get("context_window")),
            max_output_tokens=_count(spec.get("maxOutputTokens")) or _count(config.get("max_output_tokens")),
            category=_text(spec.get("modelType")) or "llm",
            is_custom_config=spec.get("isCustomConfig") is True,
            family=family,
        )
