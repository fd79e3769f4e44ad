"""The SQLite driver: ``pysqlite3`` (pysqlite3-binary) where installed, else Python's ``sqlite3``.

Why: vector search in SQLite uses the ``sqlite-vec`` extension (``knowledge.sqlite_vec``), and
this platform's Python ``sqlite3`` is built without loadable extensions
(``Connection.enable_load_extension`` is missing). ``pysqlite3`` is the same DB-API module built
against a current SQLite (3.51) with extension loading. Django's SQLite backend imports
``sqlite3`` by name (module level, and its cursor class subclasses ``sqlite3.Cursor``), so the
module is swapped in ``sys.modules`` before that backend is first imported: the one way to give
it another driver without copying its code. Nothing else in the process uses ``sqlite3``.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)


def install() -> bool:
    """Makes ``sqlite3`` mean ``pysqlite3`` for Django's backend; True when that driver is used."""
    try:
        import pysqlite3
        import pysqlite3.dbapi2
    except ImportError:
        return False
    if sys.modules.get("sqlite3") is pysqlite3:
        return True
    if "django.db.backends.sqlite3.base" in sys.modules:
        logger.warning("Django's SQLite backend was loaded before its driver was chosen: sqlite-vec is off")
        return False
    sys.modules["sqlite3"] = pysqlite3
    sys.modules["sqlite3.dbapi2"] = pysqlite3.dbapi2
    return True


def load_vec(connection) -> bool:
    """Loads sqlite-vec into a new connection; False where the driver or the package is missing."""
    if not hasattr(connection, "enable_load_extension"):
        return False
    try:
        import sqlite_vec
    except ImportError:
        return False
    try:
        connection.enable_load_extension(True)
        try:
            sqlite_vec.load(connection)
        finally:
            connection.enable_load_extension(False)
    except Exception as exc:  # noqa: BLE001 - an unloadable build: search falls back, loudly
        logger.warning("sqlite-vec could not be loaded: %s", exc)
        return False
    return True
