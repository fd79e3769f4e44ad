"""SQLite whose writers wait for each other in the process, in order, not in SQLite's busy handler.

Every ``atomic`` block starts with ``BEGIN IMMEDIATE`` (settings: ``transaction_mode``), so a
transaction takes SQLite's write lock up front instead of failing to upgrade a read lock later.
A connection that finds the lock taken waits in SQLite's busy handler, which polls with sleeps
growing to 100 ms: ten concurrent writers (`bench/kinds_load.py`) then waited up to seconds for
a lock held a millisecond at a time, newcomers overtaking the sleepers (p99 about 1 s).

Here each transaction first takes a lock of this process for the database file, handed on in
arrival order, so a writer waiting behind others is woken the moment its turn comes. SQLite's own
lock still guards against other processes (a management command), with the busy timeout as
before. Statements outside a transaction (autocommit) do not take the process lock.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from wegent.sqlite import driver

driver.install()  # before Django's SQLite backend is imported (see driver.py)

from django.db.backends.sqlite3 import base  # noqa: E402


class _WriteLock:
    """A lock handed to its waiters in the order they came (``threading.Lock`` lets a newcomer
    overtake a thread that is waking up, so one writer could wait many turns)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def locked(self) -> bool:
        return self._held

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True  # handed over by release(), still held
        with self._mutex:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        return True  # handed over between the timeout and the mutex

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # the lock passes on without being free
            else:
                self._held = False


_locks: dict[str, _WriteLock] = {}
_locks_guard = threading.Lock()


def _write_lock(name: str) -> _WriteLock:
    with _locks_guard:
        return _locks.setdefault(name, _WriteLock())


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_write_lock: _WriteLock | None = None
        self.has_vec = False  # sqlite-vec loaded into this connection

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        conn = super().get_new_connection(conn_params)
        self.has_vec = driver.load_vec(conn)
        return conn

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
