"""Cached list responses, invalidated by a "kinds generation" counter in the shared cache.

The Kind list and the legacy agent lists are the most-read routes (the web frontend asks for
``/api/teams`` several times on every page load) and change rarely. A rendered list is cached
per user and query under the current generation; any write that could change any list (a Kind,
a group or membership, a user's name) bumps the generation, so the next read builds afresh.

Rendered values are kept per process; only the counter is shared.

The bump happens at once (readers in the same transaction see their own writes) and again
after commit: a reader that ran between the first bump and the commit may have cached the old
rows under the new generation, and the second bump retires that entry. In the scaled mode the
counter lives in Redis, so every worker sees every bump.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

_GENERATION_KEY = "kinds:list-generation"


def _fresh_start() -> int:
    # A lost counter (cache restart, eviction) restarts at a random point, never at a value a
    # process may still hold entries for.
    return secrets.randbits(62)


def generation() -> int:
    value = cache.get(_GENERATION_KEY)
    if value is None:
        cache.add(_GENERATION_KEY, _fresh_start(), None)
        value = cache.get(_GENERATION_KEY)
    return int(value) if value is not None else _fresh_start()


def _bump_now() -> None:
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:  # the key is missing (first write, restart or eviction)
        cache.add(_GENERATION_KEY, _fresh_start(), None)


def bump() -> None:
    """Retires every cached list: call after any write that could change one."""
    _bump_now()
    transaction.on_commit(_bump_now)


# Values live in this process (the shared counter decides freshness for every process):
# a hit then costs one cache read, not two plus unpickling the list.
_local: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
_local_lock = threading.Lock()
_LOCAL_MAX = 512


def cached(parts: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """``build()``'s result for ``parts`` under the current generation."""
    ttl = settings.LIST_CACHE_SECONDS
    if ttl <= 0:
        return build()
    key = (generation(), *parts)
    now = time.monotonic()
    with _local_lock:
        entry = _local.get(key)
        if entry is not None and entry[0] > now:
            _local.move_to_end(key)
            return entry[1]
    value = build()
    with _local_lock:
        _local[key] = (now + ttl, value)
        while len(_local) > _LOCAL_MAX:
            _local.popitem(last=False)
    return value


def bump_on_signal(sender: type, **kwargs: Any) -> None:
    bump()
