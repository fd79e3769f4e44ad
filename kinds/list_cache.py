"""Cached list responses, invalidated by a "kinds generation" counter in the shared cache.

The Kind list and the legacy agent lists are the most-read routes (the web frontend asks for
``/api/teams`` several times on every page load) and change rarely. A rendered list is cached
per user and query under the current generation; any write that could change any list (a Kind,
a group or membership, a user's name) bumps the generation, so the next read builds afresh.

The bump happens at once (readers in the same transaction see their own writes) and again
after commit: a reader that ran between the first bump and the commit may have cached the old
rows under the new generation, and the second bump retires that entry. In the scaled mode the
counter lives in Redis, so every worker sees every bump.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

_GENERATION_KEY = "kinds:list-generation"


def generation() -> int:
    value = cache.get(_GENERATION_KEY)
    if value is None:
        cache.add(_GENERATION_KEY, 1, None)
        value = cache.get(_GENERATION_KEY) or 1
    return int(value)


def _bump_now() -> None:
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:  # the key is missing (first write, or evicted)
        cache.add(_GENERATION_KEY, 2, None)


def bump() -> None:
    """Retires every cached list: call after any write that could change one."""
    _bump_now()
    transaction.on_commit(_bump_now)


def cached(parts: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """``build()``'s result for ``parts`` under the current generation."""
    ttl = settings.LIST_CACHE_SECONDS
    if ttl <= 0:
        return build()
    key = "kinds:list:" + ":".join(str(part) for part in (generation(), *parts))
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, ttl)
    return value


def bump_on_signal(sender: type, **kwargs: Any) -> None:
    bump()
