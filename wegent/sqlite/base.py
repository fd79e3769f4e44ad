"""SQLite whose writers wait for each other in the process, in order, not in SQLite's busy handler.

Every ``atomic`` block starts with ``BEGIN IMMEDIATE`` (settings: ``transaction_mode``), so a
transaction takes SQLite's write lock up front instead of failing to upgrade a read lock later.
A connection that finds the lock taken waits in SQLite's busy handler, which polls with sleeps
growing to 100 ms: ten concurrent writers (`bench/kinds_load.py`) then waited up to seconds for
a lock held a millisecond at a time, newcomers overtaking the sleepers (p99 about 1 s).

Here each transaction first takes a lock of this process for the database file, so a writer
waiting behind another one is woken the moment that one commits or rolls back. SQLite's own
lock still guards against other processes (a management command), with the busy timeout as
before. Statements outside a transaction (autocommit) do not take the process lock.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.sqlite3 import base

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _write_lock(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_write_lock: threading.Lock | None = None

    def _start_transaction_under_autocommit(self) -> None:
        lock = _write_lock(str(self.settings_dict["NAME"]))
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        # On a timeout (a writer holding on far too long) carry on: SQLite's busy handler
        # then decides, with its usual "database is locked" if the lock stays taken.
        if lock.acquire(timeout=timeout):
            self._held_write_lock = lock
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _release_write_lock(self) -> None:
        lock, self._held_write_lock = self._held_write_lock, None
        if lock is not None:
            lock.release()

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._release_write_lock()
