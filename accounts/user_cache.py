"""A short per-process cache of the users behind bearer tokens.

Every API request resolves its token to a user; without this that is a database query per
request (about a fifth of a list request's CPU, measured). Entries live at most
``AUTH_USER_CACHE_SECONDS`` and are dropped in this process as soon as the user is saved or
deleted, so a deactivation or rename takes effect here at once and in other processes within
that bound (tokens themselves live for days, so seconds of staleness elsewhere is the usual
trade). ``0`` turns the cache off.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable

from django.conf import settings

from accounts.models import User

_entries: dict[int, tuple[float, User]] = {}
_lock = threading.Lock()
_MAX_ENTRIES = 10_000


def get_or_load(user_id: int, load: Callable[[], User | None]) -> User | None:
    ttl = settings.AUTH_USER_CACHE_SECONDS
    if ttl <= 0:
        return load()
    now = time.monotonic()
    with _lock:
        entry = _entries.get(user_id)
    if entry is not None and entry[0] > now:
        # A copy per request: views may change the user they are given.
        return copy.copy(entry[1])
    user = load()
    if user is not None and user.is_active:
        with _lock:
            if len(_entries) >= _MAX_ENTRIES:
                _entries.clear()
            _entries[user_id] = (now + ttl, copy.copy(user))
    return user


def forget(user_id: int | None) -> None:
    if user_id is None:
        return
    with _lock:
        _entries.pop(user_id, None)


def forget_all() -> None:
    with _lock:
        _entries.clear()
