"""``/api/models``: Model rows as unified models, legacy public models, and provider checks.

Reads and writes the same Kind rows as the CRD API; every write goes through
``kinds.services``. Secrets are masked in every shape returned from here. The provider checks
(test-connection, fetch-available-models) call OpenAI-compatible, Anthropic and Gemini HTTP
APIs with ``requests``; they never raise for an unreachable or failing provider.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.db import transaction

from accounts.models import User
from kinds import registry, secrets, selectors, services
from kinds.adapters.admin import public_row_by_id, rename_public, require_admin, without_version
from kinds.adapters.shells import listing_namespaces, source_type
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.registry import KindType
from wegent import crypto
from wegent.errors import BadRequest, DomainError, NotFound

# Providers a shell type accepts when the shell itself names none (supportModel empty).
SHELL_PROVIDERS = {"Agno": ("openai", "claude", "gemini"), "ClaudeCode": ("claude",)}
MODEL_TYPES = ("public", "user")


def _model_type() -> KindType:
    kind_type = registry.by_kind("Model")
    assert kind_type is not None
    return kind_type


# --- reading model rows ------------------------------------------------------------------------


def model_config(row: Kind) -> dict[str, Any]:
    """``spec.modelConfig`` with secrets masked."""
    config = secrets.masked("Model", row.document).get("spec", {}).get("modelConfig")
    return config if isinstance(config, dict) else {}


def _env(row: Kind) -> dict[str, Any]:
    config = row.spec.get("modelConfig")
    env = config.get("env") if isinstance(config, dict) else None
    return env if isinstance(env, dict) else {}


def _category(row: Kind) -> str:
    return row.spec.get("modelType") or "llm"


def _is_custom(row: Kind) -> bool:
    return bool(row.spec.get("isCustomConfig"))


@dataclass(frozen=True)
class ShellFilter:
    """Which providers a shell (found by name, else taken as a shell type) accepts."""

    shell_type: str
    support_model: tuple[str, ...]

    def allows(self, provider: Any) -> bool:
        if self.support_model:
            return provider in self.support_model
        accepted = SHELL_PROVIDERS.get(self.shell_type)
        return accepted is None or provider in accepted


def _shell_row(actor: User, shell: str) -> Kind | None:
    return selectors.resolve(actor, "Shell", shell)


def shell_filter(actor: User, shell: str | None) -> ShellFilter | None:
    """``shell`` may be a shell name (the caller's own, then public) or a shell type."""
    if not shell:
        return None
    row = _shell_row(actor, shell)
    if row is None:
        return ShellFilter(shell_type=shell, support_model=())
    support = tuple(str(p) for p in (row.spec.get("supportModel") or []) if p)
    return ShellFilter(shell_type=row.spec.get("shellType") or shell, support_model=support)


def unified_model(row: Kind, *, include_config: bool) -> dict[str, Any]:
    env = _env(row)
    item: dict[str, Any] = {
        "name": row.name,
        "type": source_type(row),
        "displayName": row.display_name,
        "provider": env.get("model"),
        "modelId": env.get("model_id"),
        "namespace": row.namespace,
        "modelCategoryType": _category(row),
    }
    if include_config:
        item["config"] = model_config(row)
        item["isActive"] = row.is_active
    return item


def list_unified_models(
    *,
    actor: User,
    shell_type: str | None = None,
    include_config: bool = False,
    scope: str = "personal",
    group_name: str | None = None,
    category: str | None = None,
) -> list[dict[str, Any]]:
    """Own/group models (not bot-private custom ones, each name once) plus every public model.

    Filtered by shell compatibility and category, sorted by name; a name may appear twice
    with different ``type``.
    """
    namespaces = listing_namespaces(actor, scope, group_name)
    compatible = shell_filter(actor, shell_type)

    def wanted(row: Kind) -> bool:
        if compatible is not None and not compatible.allows(_env(row).get("model")):
            return False
        return not category or _category(row) == category

    listed: list[Kind] = []
    seen: set[str] = set()
    for namespace in namespaces:
        for row in selectors.scoped_rows(actor, "Model", namespace).order_by("name", "id"):
            if _is_custom(row) or not wanted(row) or row.name in seen:
                continue
            seen.add(row.name)
            listed.append(row)
    listed.extend(
        row
        for row in selectors.scoped_rows(None, "Model", DEFAULT_NAMESPACE).order_by("name", "id")
        if wanted(row)
    )
    listed.sort(key=lambda row: row.name)
    return [unified_model(row, include_config=include_config) for row in listed]


def get_unified_model(*, actor: User, name: str, model_type: str | None = None) -> dict[str, Any]:
    """``user`` or ``public`` when asked; otherwise the caller's own model, then the public one."""
    row = None
    if model_type in (None, "", "user") or model_type not in MODEL_TYPES:
        row = selectors.find(actor, "Model", DEFAULT_NAMESPACE, name)
    if row is None and model_type != "user":
        row = selectors.public_row("Model", name)
    if row is None:
        raise NotFound("Model not found")
    return unified_model(row, include_config=True)


def model_names(*, actor: User, shell_type: str) -> list[dict[str, Any]]:
    """Legacy: names of own and public models the shell's ``supportModel`` accepts."""
    shell = _shell_row(actor, shell_type)
    if shell is None:
        raise BadRequest("Shell type not found")
    support = {str(p) for p in (shell.spec.get("supportModel") or []) if p}
    names: dict[str, str | None] = {}
    for owner in (actor, None):
        for row in selectors.scoped_rows(owner, "Model", DEFAULT_NAMESPACE):
            if (not support or _env(row).get("model") in support) and row.name not in names:
                names[row.name] = row.display_name
    return [{"name": name, "displayName": names[name]} for name in sorted(names)]


# --- legacy public models (/api/models) --------------------------------------------------------


def public_model_item(row: Kind) -> dict[str, Any]:
    return {
        "id": row.pk,
        "name": row.name,
        "config": model_config(row),
        "is_active": row.is_active,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def public_models() -> Any:
    return selectors.scoped_rows(None, "Model", DEFAULT_NAMESPACE).order_by("-created_at", "-id")


def get_public_model(model_id: int, *, lock: bool = False) -> Kind:
    row = public_row_by_id("Model", model_id, lock=lock)
    if row is None:
        raise NotFound("Model not found")
    return row


def _refuse_inactive(is_active: bool | None) -> None:
    if is_active is False:
        raise BadRequest("Inactive models are not supported; delete the model instead")


def _create_public_model(actor: User, name: str, config: dict[str, Any]) -> Kind:
    document = {"kind": "Model", "metadata": {"name": name}, "spec": {"modelConfig": config}}
    return services.create_resource(
        actor=actor,
        kind_type=_model_type(),
        namespace=DEFAULT_NAMESPACE,
        body=document,
        owner=services.Owner(None),
    )


def _replace_public_model(actor: User, row: Kind, spec: dict[str, Any]) -> Kind:
    document = without_version(selectors.render(row))
    updated, _ = services.update_resource(
        actor=actor,
        kind_type=_model_type(),
        namespace=DEFAULT_NAMESPACE,
        name=row.name,
        body={**document, "spec": {**document.get("spec", {}), **spec}},
        owner=services.Owner(None),
    )
    return updated


@transaction.atomic
def create_public_model(
    *, actor: User, name: str, config: dict[str, Any], is_active: bool | None = True
) -> Kind:
    """Admins only (the reference lets anyone create public models)."""
    require_admin(actor)
    _refuse_inactive(is_active)
    if selectors.public_row("Model", name) is not None:
        raise BadRequest("Model name already exists")
    return _create_public_model(actor, name, config)


@transaction.atomic
def upsert_public_models(*, actor: User, items: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Creates or updates (``modelConfig.env``) each item; a failing item is skipped with a reason."""
    require_admin(actor)
    created: list[Kind] = []
    updated: list[Kind] = []
    skipped: list[dict[str, str]] = []
    for item in items:
        name = item["name"]
        try:
            with transaction.atomic():
                _refuse_inactive(item.get("is_active"))
                row = selectors.public_row("Model", name)
                if row is None:
                    created.append(_create_public_model(actor, name, {"env": item["env"]}))
                else:
                    config = {**model_config(row), "env": item["env"]}
                    updated.append(_replace_public_model(actor, row, {"modelConfig": config}))
        except DomainError as exc:
            skipped.append({"name": name, "reason": exc.detail if isinstance(exc.detail, str) else str(exc)})
    return {"created": created, "updated": updated, "skipped": skipped}


@transaction.atomic
def update_public_model(
    *,
    actor: User,
    model_id: int,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    is_active: bool | None = None,
) -> Kind:
    require_admin(actor)
    row = get_public_model(model_id, lock=True)
    _refuse_inactive(is_active)
    if name is not None and name != row.name:
        row = rename_public(row, name, taken="Model name already exists")
    if config is None:
        return row
    return _replace_public_model(actor, row, {"modelConfig": config})


@transaction.atomic
def delete_public_model(*, actor: User, model_id: int) -> None:
    require_admin(actor)
    row = get_public_model(model_id)
    services.delete_resource(
        actor=actor,
        kind_type=_model_type(),
        namespace=DEFAULT_NAMESPACE,
        name=row.name,
        owner=services.Owner(None),
    )


# --- provider checks ---------------------------------------------------------------------------

TIMEOUT = (5, 30)  # connect, read (seconds)
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
OPENAI_BASE = "https://api.openai.com/v1"
ANTHROPIC_BASE = "https://api.anthropic.com"
GEMINI_BASE = "https://generativelanguage.googleapis.com"
ANTHROPIC_VERSION = "2023-06-01"
_KEY_NAMES = ("api_key", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY")
_BASE_URL_NAMES = ("base_url", "ANTHROPIC_BASE_URL")


class ProviderError(Exception):
    """A provider check that failed; ``message`` is safe to show (no secrets)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ProviderUnreachable(ProviderError):
    pass


@dataclass(frozen=True)
class Target:
    """Where a check goes and with which key."""

    provider_type: str
    api_key: str
    base_url: str | None
    headers: dict[str, str]


def _is_masked(value: str) -> bool:
    return crypto.is_mask(value) or value in secrets.KEEP_MARKERS


def _stored_credentials(actor: User, model_name: str, namespace: str) -> tuple[str, str | None]:
    row = selectors.resolve(actor, "Model", model_name, namespace or DEFAULT_NAMESPACE)
    if row is None:
        raise ProviderError(f"Model '{model_name}' not found")
    clear = secrets.revealed("Model", row.document)
    env = (clear.get("spec", {}).get("modelConfig") or {}).get("env") or {}
    key = next((env[k] for k in _KEY_NAMES if isinstance(env.get(k), str) and env[k]), "")
    if not key:
        raise ProviderError(f"Model '{model_name}' has no stored API key")
    base = next((env[k] for k in _BASE_URL_NAMES if isinstance(env.get(k), str) and env[k]), None)
    return key, base


def resolve_target(
    *,
    actor: User,
    provider_type: str,
    api_key: str,
    base_url: str | None,
    custom_headers: dict[str, str] | None,
    model_name: str | None,
    namespace: str | None,
) -> Target:
    """The key the caller sent, or (when it sent a mask) the stored key of ``model_name``.

    A stored key only ever goes to that model's stored base URL (or the provider's default),
    never to a URL the caller chose, so a masked key cannot be sent elsewhere.
    """
    if _is_masked(api_key):
        if not model_name:
            raise ProviderError(
                "The API key is masked; send the key, or model_name (and namespace) to use the stored key"
            )
        api_key, base_url = _stored_credentials(actor, model_name, namespace or DEFAULT_NAMESPACE)
    if base_url and not _is_http_url(base_url):
        raise ProviderError("base_url must be an http(s) URL")
    return Target(
        provider_type=provider_type,
        api_key=api_key,
        base_url=base_url.rstrip("/") if base_url else None,
        headers=dict(custom_headers or {}),
    )


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _read_capped(response: requests.Response) -> bytes:
    """At most one byte past the cap, so an oversize body is detected without reading it all."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)


def _call(method: str, url: str, *, headers: dict[str, str], body: Any = None) -> Any:
    """One HTTP call; returns the parsed JSON body or raises ProviderError."""
    try:
        response = requests.request(
            method, url, headers=headers, json=body, timeout=TIMEOUT, allow_redirects=False, stream=True
        )
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnreachable(f"{type(exc).__name__}: {exc}") from exc
    with response:
        try:
            raw = _read_capped(response)
        except (requests.RequestException, OSError, ValueError) as exc:
            raise ProviderUnreachable(f"{type(exc).__name__}: {exc}") from exc
    text = raw[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace")
    if response.status_code >= 300:
        raise ProviderError(f"HTTP {response.status_code}: {text[:200]}", status=response.status_code)
    if len(raw) > MAX_RESPONSE_BYTES:
        raise ProviderError("The provider's response is too large")
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ProviderError("The provider did not answer with JSON") from exc


def _openai_base(target: Target) -> str:
    return target.base_url or OPENAI_BASE


def _anthropic_url(target: Target, path: str) -> str:
    base = target.base_url or ANTHROPIC_BASE
    return f"{base}{path}" if base.endswith("/v1") else f"{base}/v1{path}"


def _gemini_model(model_id: str) -> str:
    return quote(model_id.removeprefix("models/"), safe="-._~")


def _openai_headers(target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.api_key}", **target.headers}


def _anthropic_headers(target: Target) -> dict[str, str]:
    return {"x-api-key": target.api_key, "anthropic-version": ANTHROPIC_VERSION, **target.headers}


def _gemini_headers(target: Target) -> dict[str, str]:
    return {"x-goog-api-key": target.api_key, **target.headers}


def _probe_llm(target: Target, model_id: str) -> str:
    provider = target.provider_type
    prompt = [{"role": "user", "content": "hi"}]
    if provider == "openai":
        url = f"{_openai_base(target)}/chat/completions"
        _call(
            "POST",
            url,
            headers=_openai_headers(target),
            body={"model": model_id, "messages": prompt, "max_tokens": 1},
        )
        return f"Successfully connected to {model_id} using Chat Completions API"
    if provider == "openai-responses":
        url = f"{_openai_base(target)}/responses"
        _call(
            "POST",
            url,
            headers=_openai_headers(target),
            body={"model": model_id, "input": "hi", "max_output_tokens": 16},
        )
        return f"Successfully connected to {model_id} using Responses API"
    if provider == "anthropic":
        url = _anthropic_url(target, "/messages")
        _call(
            "POST",
            url,
            headers=_anthropic_headers(target),
            body={"model": model_id, "messages": prompt, "max_tokens": 1},
        )
        return f"Successfully connected to {model_id}"
    if provider == "gemini":
        url = f"{target.base_url or GEMINI_BASE}/v1beta/models/{_gemini_model(model_id)}:generateContent"
        body = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 1}}
        _call("POST", url, headers=_gemini_headers(target), body=body)
        return f"Successfully connected to {model_id}"
    if provider == "gemini-deep-research":
        # Checks the key without starting a (billed) research job, unlike the reference.
        _call("GET", f"{target.base_url or GEMINI_BASE}/v1beta/models", headers=_gemini_headers(target))
        return "Successfully connected to Gemini Deep Research API"
    raise ProviderError(f"Unsupported provider type: {provider}")


def _probe_embedding(target: Target, model_id: str) -> str:
    provider = target.provider_type
    if provider in ("openai", "openai-responses", "custom"):
        if provider == "custom" and not target.base_url:
            raise ProviderError("base_url is required for custom provider")
        base = _openai_base(target).removesuffix("/embeddings")
        _call(
            "POST",
            f"{base}/embeddings",
            headers=_openai_headers(target),
            body={"model": model_id, "input": "test"},
        )
        return f"Successfully connected to embedding model {model_id}"
    if provider == "gemini":
        url = f"{target.base_url or GEMINI_BASE}/v1beta/models/{_gemini_model(model_id)}:embedContent"
        _call("POST", url, headers=_gemini_headers(target), body={"content": {"parts": [{"text": "test"}]}})
        return f"Successfully connected to embedding model {model_id}"
    raise ProviderError(f"Embedding not supported for provider: {provider}")


_UNTESTED_CATEGORIES = {
    "tts": "TTS model {model_id} configured. Audio synthesis test requires actual audio output.",
    "stt": "STT model {model_id} configured. Audio transcription test requires actual audio input.",
    "rerank": "Rerank model {model_id} configured. Please verify with actual rerank request.",
}


def _scrub(message: str, secret: str) -> str:
    return message.replace(secret, "****") if secret else message


def check_connection(
    *,
    actor: User,
    provider_type: str | None,
    model_id: str | None,
    api_key: str | None,
    base_url: str | None = None,
    custom_headers: dict[str, str] | None = None,
    category: str | None = None,
    model_name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """``{success, message}``; a failing or unreachable provider is ``success: false``, never an error."""
    if not provider_type or not model_id or not api_key:
        return {"success": False, "message": "Missing required fields: provider_type, model_id, api_key"}
    category = category or "llm"
    if category in _UNTESTED_CATEGORIES:
        return {"success": True, "message": _UNTESTED_CATEGORIES[category].format(model_id=model_id)}
    target = None
    try:
        target = resolve_target(
            actor=actor,
            provider_type=provider_type,
            api_key=api_key,
            base_url=base_url,
            custom_headers=custom_headers,
            model_name=model_name,
            namespace=namespace,
        )
        probe = _probe_embedding if category == "embedding" else _probe_llm
        return {"success": True, "message": probe(target, model_id)}
    except ProviderError as exc:
        message = (
            exc.message if exc.message.startswith("Unsupported") else f"Connection failed: {exc.message}"
        )
        return {"success": False, "message": _scrub(message, target.api_key if target else api_key)}


def _fetch_failure(exc: ProviderError) -> str:
    if isinstance(exc, ProviderUnreachable):
        return "Network connection failed"
    return {
        401: "API Key authentication failed",
        403: "Permission denied",
        404: "API endpoint not found",
    }.get(exc.status or 0, f"HTTP error {exc.status}" if exc.status else exc.message)


def _listed(data: Any, key: str) -> list[dict[str, Any]]:
    items = data.get(key) if isinstance(data, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _fetch(target: Target) -> list[dict[str, Any]]:
    provider = target.provider_type
    if provider in ("openai", "openai-responses", "custom"):
        data = _call("GET", f"{_openai_base(target)}/models", headers=_openai_headers(target))
        return [
            {
                "id": m.get("id"),
                "name": m.get("id"),
                "created": m.get("created"),
                "owned_by": m.get("owned_by"),
            }
            for m in _listed(data, "data")
        ]
    if provider == "anthropic":
        data = _call("GET", _anthropic_url(target, "/models"), headers=_anthropic_headers(target))
        return [
            {
                "id": m.get("id"),
                "name": m.get("display_name") or m.get("id"),
                "created": m.get("created_at"),
                "owned_by": None,
            }
            for m in _listed(data, "data")
        ]
    if provider == "gemini":
        data = _call("GET", f"{target.base_url or GEMINI_BASE}/v1/models", headers=_gemini_headers(target))
        models = []
        for m in _listed(data, "models"):
            model_id = str(m.get("name") or "").removeprefix("models/")
            models.append(
                {"id": model_id, "name": m.get("displayName") or model_id, "created": None, "owned_by": None}
            )
        return models
    raise ProviderError(f"Unsupported provider type: {provider}")


def fetch_available_models(
    *,
    actor: User,
    provider_type: str | None,
    api_key: str | None,
    base_url: str | None = None,
    custom_headers: dict[str, str] | None = None,
    model_name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """``{success, models, message?}`` from the provider's model list."""
    if not provider_type or not api_key:
        return {"success": False, "message": "Missing required fields: provider_type, api_key", "models": []}
    target = None
    try:
        target = resolve_target(
            actor=actor,
            provider_type=provider_type,
            api_key=api_key,
            base_url=base_url,
            custom_headers=custom_headers,
            model_name=model_name,
            namespace=namespace,
        )
        return {"success": True, "models": _fetch(target)}
    except ProviderError as exc:
        message = _scrub(_fetch_failure(exc), target.api_key if target else api_key)
        return {"success": False, "message": message, "models": []}
