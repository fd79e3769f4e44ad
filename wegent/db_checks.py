"""Connection health checks only when the connection's socket says something happened.

With ``CONN_HEALTH_CHECKS`` Django runs ``SELECT 1`` (MySQL: a ping) before the first query of
every request that reuses a connection, so a connection the server dropped (a database restart)
is replaced instead of failing the request. That is one more round trip on every request: on the
Kind write bench, one of the five to nine a request made, each costing a thread switch and a wait
for the GIL. Between queries an idle connection's socket has nothing to read unless the server
sent something on its own: the error and the close of a terminated connection (a restart, an
administrator's kill, an idle timeout) make it readable. So the socket is polled first (no round
trip) and the full check runs only when it is readable, or when its state cannot be read. A
peer that vanished without closing (a network partition) is not detected by this, nor in time
by ``SELECT 1``, which would wait for the TCP timeout.
"""

from __future__ import annotations

import select


def socket_readable(fileno: int) -> bool:
    """Whether a socket has data, an error or an end to read now (never waits)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fileno, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    readable, _, errored = select.select([fileno], [], [fileno], 0)  # Windows: sockets only
    return bool(readable or errored)


class SocketCheckedConnection:
    """Mixed into a Django ``DatabaseWrapper`` ahead of it (``wegent.postgresql``, ``wegent.mysql``),
    which says where its driver connection's socket is (``socket_fileno``)."""

    def socket_fileno(self) -> int | None:
        raise NotImplementedError

    def close_if_health_check_failed(self) -> None:
        if self.connection is not None and self.health_check_enabled and not self.health_check_done:  # type: ignore[attr-defined]
            try:
                fileno = self.socket_fileno()
                quiet = fileno is not None and not socket_readable(fileno)
            except Exception:  # noqa: BLE001 - a state that cannot be read is checked in full
                quiet = False
            if quiet:
                self.health_check_done = True
                return
        super().close_if_health_check_failed()  # type: ignore[misc]
