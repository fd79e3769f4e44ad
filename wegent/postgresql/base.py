from __future__ import annotations

from django.db.backends.postgresql import base

from wegent.db_checks import SocketCheckedConnection


class DatabaseWrapper(SocketCheckedConnection, base.DatabaseWrapper):
    def socket_fileno(self) -> int | None:
        return self.connection.pgconn.socket
