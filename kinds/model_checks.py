"""The settings page's provider checks: ``test-connection`` and ``fetch-available-models``.

Each check becomes a ``ModelConnection`` (the key sent, or the stored key a mask stands for)
and one call through the official SDKs (``kinds.model_clients``). Gemini has no SDK here and
its OpenAI-compatible endpoint lists models differently (no display names), so its native API
is called through the openai SDK's generic request methods with Google's key header.

A check never raises for an unreachable or failing provider: it answers ``success: false`` with
a message that never carries the key. Importing this module imports the SDKs (do it when a
check runs, not at start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

import openai

from accounts.models import User
from kinds import connections, selectors
from kinds.connections import ANTHROPIC, COMPATIBLE, GOOGLE, OPENAI, ModelConnection, ProviderTarget
from kinds.model_clients import (
    ResponseTooLarge,
    anthropic_base_url,
    checking_anthropic_client,
    checking_openai_client,
)
from kinds.models import DEFAULT_NAMESPACE
from kinds.secrets import KEEP_MARKERS
from kinds.specs.model import ModelView
from wegent import crypto

CHECK_TIMEOUT_SECONDS = 30.0
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"  # the native API (checks only)
MASKED_KEY_REFUSAL = (
    "The API key is masked; send the key, or model_name (and namespace) to use the stored key"
)
# The settings page's provider types, by the family whose default host they reach.
PROVIDER_FAMILIES = {
    "openai": OPENAI,
    "openai-responses": OPENAI,
    "custom": COMPATIBLE,
    "anthropic": ANTHROPIC,
    "gemini": GOOGLE,
    "gemini-deep-research": GOOGLE,
}
_PROMPT = [{"role": "user", "content": "hi"}]


class CheckFailed(Exception):
    """A check that failed; ``message`` is safe to show (no secrets)."""

    def __init__(self, message: str, status: int | None = None, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.unreachable = unreachable


# --- which key, which URL ----------------------------------------------------------------------


def _is_masked(value: str) -> bool:
    return crypto.is_mask(value) or value in KEEP_MARKERS


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _stored_by_name(actor: User, model_name: str, namespace: str) -> tuple[str, str | None]:
    """(key, base URL) of a Model the caller names; the caller's own URL is then ignored."""
    row = selectors.resolve(actor, "Model", model_name, namespace)
    if row is None:
        raise CheckFailed(f"Model '{model_name}' not found")
    view = ModelView.of(row.spec)
    key = crypto.decrypt(view.api_key)
    if not key:
        raise CheckFailed(f"Model '{model_name}' has no stored API key")
    return key, view.base_url


def check_connection_of(actor: User, target: ProviderTarget) -> ModelConnection:
    """The connection one check uses: the key sent, or the stored key a mask stands for.

    A mask with ``model_name`` means that Model's key, sent to its stored base URL (or the
    provider's default). A mask alone means the one key among the caller's usable Models that
    shows as that mask at that base URL (``connections.stored_key_for_mask``). A stored key
    never goes to a URL the caller chose.
    """
    provider_type, api_key, base_url = target.provider_type or "", target.api_key or "", target.base_url
    family = PROVIDER_FAMILIES.get(provider_type, COMPATIBLE)
    if _is_masked(api_key):
        if target.model_name:
            namespace = target.namespace or DEFAULT_NAMESPACE
            api_key, base_url = _stored_by_name(actor, target.model_name, namespace)
        else:
            stored = connections.stored_key_for_mask(actor, api_key, base_url, family)
            if stored is None:
                raise CheckFailed(MASKED_KEY_REFUSAL)
            api_key = stored
    if base_url and not _is_http_url(base_url):
        raise CheckFailed("base_url must be an http(s) URL")
    return ModelConnection(
        provider=provider_type,
        model_id="",
        api_key=api_key,
        base_url=base_url.rstrip("/") if base_url else None,
        api_format="responses" if provider_type == "openai-responses" else None,
        default_headers=dict(target.custom_headers or {}),
        timeout=CHECK_TIMEOUT_SECONDS,
    )


# --- calls -------------------------------------------------------------------------------------


def _openai(connection: ModelConnection) -> openai.OpenAI:
    return checking_openai_client(connection, connection.base_url or connections.OPENAI_BASE_URL)


def _anthropic(connection: ModelConnection) -> Any:
    base_url = anthropic_base_url(connection.base_url or connections.ANTHROPIC_BASE_URL)
    return checking_anthropic_client(connection, base_url)


def _gemini(connection: ModelConnection, path: str, body: Any = None) -> Any:
    """One call to Gemini's native API: Google's key header instead of a bearer token."""
    keyed = replace(
        connection, default_headers={"x-goog-api-key": connection.api_key, **connection.default_headers}
    )
    options: Any = {"headers": {"Authorization": openai.omit}}
    with checking_openai_client(keyed, connection.base_url or GEMINI_BASE_URL) as client:
        if body is None:
            return client.get(path, cast_to=object, options=options)
        return client.post(path, cast_to=object, body=body, options=options)


def _gemini_model(model_id: str) -> str:
    return quote(model_id.removeprefix("models/"), safe="-._~")


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _failure(exc: Exception) -> CheckFailed:
    """Any SDK or transport failure as a CheckFailed (status errors keep their status)."""
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    if isinstance(status, int) and response is not None:
        return CheckFailed(f"HTTP {status}: {response.text[:200]}", status=status)
    if _caused_by(exc, ResponseTooLarge):
        return CheckFailed("The provider's response is too large")
    cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) and exc.__cause__ else exc
    return CheckFailed(f"{type(cause).__name__}: {cause}", unreachable=True)


def _probe_llm(connection: ModelConnection, model_id: str) -> str:
    provider = connection.provider
    if provider == "openai":
        with _openai(connection) as client:
            client.chat.completions.create(model=model_id, messages=_PROMPT, max_tokens=1)  # type: ignore[arg-type]
        return f"Successfully connected to {model_id} using Chat Completions API"
    if provider == "openai-responses":
        with _openai(connection) as client:
            client.responses.create(model=model_id, input="hi", max_output_tokens=16)
        return f"Successfully connected to {model_id} using Responses API"
    if provider == "anthropic":
        with _anthropic(connection) as client:
            client.messages.create(model=model_id, messages=_PROMPT, max_tokens=1)
        return f"Successfully connected to {model_id}"
    if provider == "gemini":
        body = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 1}}
        _gemini(connection, f"/v1beta/models/{_gemini_model(model_id)}:generateContent", body)
        return f"Successfully connected to {model_id}"
    if provider == "gemini-deep-research":
        # Checks the key without starting a (billed) research job, unlike the reference.
        _gemini(connection, "/v1beta/models")
        return "Successfully connected to Gemini Deep Research API"
    raise CheckFailed(f"Unsupported provider type: {provider}")


def _probe_embedding(connection: ModelConnection, model_id: str) -> str:
    provider = connection.provider
    if provider in ("openai", "openai-responses", "custom"):
        if provider == "custom" and not connection.base_url:
            raise CheckFailed("base_url is required for custom provider")
        base_url = (connection.base_url or connections.OPENAI_BASE_URL).removesuffix("/embeddings")
        with checking_openai_client(connection, base_url) as client:
            client.embeddings.create(model=model_id, input="test", encoding_format="float")
        return f"Successfully connected to embedding model {model_id}"
    if provider == "gemini":
        body = {"content": {"parts": [{"text": "test"}]}}
        _gemini(connection, f"/v1beta/models/{_gemini_model(model_id)}:embedContent", body)
        return f"Successfully connected to embedding model {model_id}"
    raise CheckFailed(f"Embedding not supported for provider: {provider}")


def _listed(items: Any) -> list[Any]:
    return list(items) if isinstance(items, list) else []


def _models(connection: ModelConnection) -> list[dict[str, Any]]:
    provider = connection.provider
    if provider in ("openai", "openai-responses", "custom"):
        with _openai(connection) as client:
            page = client.models.list()
        return [
            {
                "id": m.id,
                "name": m.id,
                "created": getattr(m, "created", None),
                "owned_by": getattr(m, "owned_by", None),
            }
            for m in _listed(getattr(page, "data", None))
        ]
    if provider == "anthropic":
        with _anthropic(connection) as client:
            page = client.models.list()
        return [
            {
                "id": m.id,
                "name": getattr(m, "display_name", None) or m.id,
                "created": getattr(m, "created_at", None),
                "owned_by": None,
            }
            for m in _listed(getattr(page, "data", None))
        ]
    if provider == "gemini":
        data = _gemini(connection, "/v1/models")
        models = []
        for m in _listed(data.get("models") if isinstance(data, dict) else None):
            if not isinstance(m, dict):
                continue
            model_id = str(m.get("name") or "").removeprefix("models/")
            models.append(
                {"id": model_id, "name": m.get("displayName") or model_id, "created": None, "owned_by": None}
            )
        return models
    raise CheckFailed(f"Unsupported provider type: {provider}")


def _run(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing provider is an answer, never a server error
        raise _failure(exc) from None


# --- the two checks ----------------------------------------------------------------------------

_UNTESTED_CATEGORIES = {
    "tts": "TTS model {model_id} configured. Audio synthesis test requires actual audio output.",
    "stt": "STT model {model_id} configured. Audio transcription test requires actual audio input.",
    "rerank": "Rerank model {model_id} configured. Please verify with actual rerank request.",
}


def _scrub(message: str, secret: str) -> str:
    return message.replace(secret, "****") if secret else message


def _checked(actor: User, target: ProviderTarget, call: Callable[[ModelConnection], Any]) -> Any:
    """``call`` on the check's connection; a failure is re-raised with its message scrubbed of the
    key (the one sent, or the stored key a mask stood for)."""
    connection = None
    try:
        connection = check_connection_of(actor, target)
        return _run(call, connection)
    except CheckFailed as exc:
        secret = connection.api_key if connection else target.api_key or ""
        raise CheckFailed(_scrub(exc.message, secret), exc.status, unreachable=exc.unreachable) from None


def check_connection(
    actor: User, target: ProviderTarget, *, model_id: str | None, category: str | None = None
) -> dict[str, Any]:
    """``{success, message}``; a failing or unreachable provider is ``success: false``, never an error."""
    if not target.provider_type or not model_id or not target.api_key:
        return {"success": False, "message": "Missing required fields: provider_type, model_id, api_key"}
    category = category or "llm"
    if category in _UNTESTED_CATEGORIES:
        return {"success": True, "message": _UNTESTED_CATEGORIES[category].format(model_id=model_id)}
    probe = _probe_embedding if category == "embedding" else _probe_llm
    try:
        return {"success": True, "message": _checked(actor, target, lambda conn: probe(conn, model_id))}
    except CheckFailed as exc:
        message = (
            exc.message if exc.message.startswith("Unsupported") else f"Connection failed: {exc.message}"
        )
        return {"success": False, "message": message}


def _fetch_failure(exc: CheckFailed) -> str:
    if exc.unreachable:
        return "Network connection failed"
    return {
        401: "API Key authentication failed",
        403: "Permission denied",
        404: "API endpoint not found",
    }.get(exc.status or 0, f"HTTP error {exc.status}" if exc.status else exc.message)


def fetch_available_models(actor: User, target: ProviderTarget) -> dict[str, Any]:
    """``{success, models, message?}`` from the provider's model list."""
    if not target.provider_type or not target.api_key:
        return {"success": False, "message": "Missing required fields: provider_type, api_key", "models": []}
    try:
        return {"success": True, "models": _checked(actor, target, _models)}
    except CheckFailed as exc:
        return {"success": False, "message": _fetch_failure(exc), "models": []}
