"""Cached list responses, invalidated by a "kinds generation" counter in the shared cache.

The Kind list and the legacy agent lists are the most-read routes (the web frontend asks for
``/api/teams`` several times on every page load) and change rarely. A rendered list is cached
per user and query under the current generation; any write that could change any list (a Kind,
a group or membership, a user's name) bumps the generation, so the next read builds afresh.

Rendered values are kept per process; only the counter is shared.

A write outside a transaction bumps at once. Inside one, the bump happens after commit, once
per transaction however many rows it writes (before the commit no other reader can see the
write, and an entry cached meanwhile from the old rows is retired by that bump); until then
the writing connection's own list reads are built afresh, so they see its writes. In the
scaled mode the counter lives in Redis, so every worker sees every bump; a bump there is one
round trip.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

_GENERATION_KEY = "kinds:list-generation"
logger = logging.getLogger(__name__)


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
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        # One round trip instead of the three of incr() (EXISTS, INCR) and add() on a miss.
        key = backend.make_and_validate_key(_GENERATION_KEY)
        with backend._cache.get_client(key, write=True).pipeline(transaction=False) as pipe:
            pipe.set(key, _fresh_start(), nx=True).incr(key).execute()
        return
    try:
        backend.incr(_GENERATION_KEY)
    except ValueError:  # the key is missing (first write, restart or eviction)
        backend.add(_GENERATION_KEY, _fresh_start(), None)


def _bump_pending() -> bool:
    """Whether the open transaction on this thread's connection has a bump waiting for commit.

    Django keeps the open transaction's hooks and drops those of rolled-back savepoints, so
    the hook itself marks "this transaction changed a list".
    """
    connection = transaction.get_connection()
    # ``run_on_commit`` is Django's own list of (savepoint ids, callable, robust): internal, and
    # pinned by kinds/tests/test_write_path.py (one bump per transaction, none after rollback).
    return connection.in_atomic_block and any(
        hook is _bump_after_commit for _, hook, _ in connection.run_on_commit
    )


def _bump_after_commit() -> None:
    """The bump of a committed write. The write stands whatever the cache does: a cache that
    cannot be reached (a Redis restart) must not turn a saved write into a 500. This process
    then drops its rendered lists; other processes' lists expire within LIST_CACHE_SECONDS, or at
    once when the counter was lost with the cache (it restarts at a random value)."""
    try:
        _bump_now()
    except Exception:
        logger.warning("list cache: the bump after a write failed; lists expire by age", exc_info=True)
        with _local_lock:
            _local.clear()


def bump() -> None:
    """Retires every cached list: call after any write that could change one."""
    if not transaction.get_connection().in_atomic_block:
        _bump_after_commit()  # autocommit: the write has committed already
    elif not _bump_pending():
        transaction.on_commit(_bump_after_commit)


# Values live in this process (the shared counter decides freshness for every process):
# a hit then costs one cache read, not two plus unpickling the list.
_local: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
_local_lock = threading.Lock()
_LOCAL_MAX = 512


def cached(parts: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """``build()``'s result for ``parts`` under the current generation."""
    ttl = settings.LIST_CACHE_SECONDS
    if ttl <= 0 or _bump_pending():
        return build()
    try:
        current = generation()
    except Exception:
        # The shared cache is unreachable (a Redis restart): without the counter no cached
        # list can be known fresh, so the list is built from the database, as uncached.
        logger.warning("list cache: the generation could not be read; building the list", exc_info=True)
        return build()
    key = (current, *parts)
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
