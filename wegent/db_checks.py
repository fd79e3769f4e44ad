"""Connection health checks at most once a second per connection, not once per request.

With ``CONN_HEALTH_CHECKS`` Django runs ``SELECT 1`` (MySQL: a ping) before the first query of
every request that reuses a connection, so a connection the server dropped (a database restart)
is replaced instead of failing the request. That is one more round trip on every request: on the
Kind write bench, one of the five to nine a request makes, each costing a thread switch and a
wait for the GIL. Here a connection that passed a check, or was opened, less than
``CHECK_EVERY_SECONDS`` ago is not checked again; a database restart within that second can
fail one request per connection, after which Django closes the connection at the request's end
(``errors_occurred``), as it would for a drop in the middle of a request.
"""

from __future__ import annotations

import time

CHECK_EVERY_SECONDS = 1.0


class RecentlyCheckedConnection:
    """Mixed into a Django ``DatabaseWrapper`` ahead of it (``wegent.postgresql``, ``wegent.mysql``)."""

    _checked_at = float("-inf")

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._checked_at = time.monotonic()  # a new connection is as good as checked

    def close_if_health_check_failed(self) -> None:
        if self.connection is not None and self.health_check_enabled and not self.health_check_done:  # type: ignore[attr-defined]
            now = time.monotonic()
            if now - self._checked_at < CHECK_EVERY_SECONDS:
                self.health_check_done = True
                return
            self._checked_at = now
        super().close_if_health_check_failed()  # type: ignore[misc]
