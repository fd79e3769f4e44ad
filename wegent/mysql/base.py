from __future__ import annotations

from django.db.backends.mysql import base

from wegent.db_checks import SocketCheckedConnection


class DatabaseWrapper(SocketCheckedConnection, base.DatabaseWrapper):
    def socket_fileno(self) -> int | None:
        sock = getattr(self.connection, "_sock", None)  # PyMySQL's socket (None once closed)
        return sock.fileno() if sock is not None else None
