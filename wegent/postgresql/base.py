from __future__ import annotations

from django.db.backends.postgresql import base

from wegent.db_checks import RecentlyCheckedConnection


class DatabaseWrapper(RecentlyCheckedConnection, base.DatabaseWrapper):
    pass
