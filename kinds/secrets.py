"""Secrets inside Kind documents: encrypted at rest, masked on the way out.

A client that sends the mask back (or the reference's ``***``) means "keep what is stored".
Internal consumers that need the clear value (the chat runner calling a model) use ``revealed``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from wegent import crypto

_SECRET_ENV_KEY = re.compile(r"(api[_-]?key|token|secret|password)", re.IGNORECASE)
KEEP_MARKERS = ("***",)


def _locations(kind: str, document: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(container, key) pairs holding a secret string in ``document``."""
    spec = document.get("spec") if isinstance(document, dict) else None
    if not isinstance(spec, dict):
        return
    if kind == "Model":
        config = spec.get("modelConfig")
        env = config.get("env") if isinstance(config, dict) else None
        if isinstance(env, dict):
            for key, value in env.items():
                if isinstance(value, str) and _SECRET_ENV_KEY.search(key):
                    yield env, key
    elif kind == "Retriever":
        storage = spec.get("storageConfig")
        if isinstance(storage, dict):
            for key in ("password", "apiKey"):
                if isinstance(storage.get(key), str):
                    yield storage, key


def _lookup(document: dict[str, Any] | None, kind: str) -> dict[str, str]:
    """Stored secrets by key (each kind keeps its secrets in one container)."""
    if document is None:
        return {}
    return {key: container[key] for container, key in _locations(kind, document)}


def _means_keep(value: str) -> bool:
    return crypto.is_mask(value) or value in KEEP_MARKERS


def seal(kind: str, document: dict[str, Any], stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """Encrypts secrets; a mask keeps the stored value. Returns a new document."""
    sealed = copy.deepcopy(document)
    previous = _lookup(stored, kind)
    for container, key in _locations(kind, sealed):
        value = container[key]
        stored_value = previous.get(key, "")
        if _means_keep(value):
            container[key] = stored_value
        elif stored_value and crypto.decrypt(stored_value) == value:
            # Same secret re-sent in clear: keep the ciphertext so the document is unchanged.
            container[key] = stored_value
        elif value:
            container[key] = crypto.encrypt(value)
    return sealed


def masked(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    shown = copy.deepcopy(document)
    for container, key in _locations(kind, shown):
        container[key] = crypto.mask(container[key])
    return shown


def revealed(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    """The document with secrets in clear, for server-side use only (never a response)."""
    clear = copy.deepcopy(document)
    for container, key in _locations(kind, clear):
        container[key] = crypto.decrypt(container[key])
    return clear


def has_secrets(kind: str) -> bool:
    return kind in ("Model", "Retriever")
