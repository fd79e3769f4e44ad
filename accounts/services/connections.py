"""A disabled user's open connections end with the change: tokens and keys are refused on their
next use, but a Socket.IO connection authenticated earlier would otherwise go on working."""

from __future__ import annotations

from django.db import transaction

from wegent.realtime.emitter import close_room_sync
from wegent.realtime.rooms import user_room


def end_connections(user_id: int) -> None:
    """Once the caller's transaction commits: every socket of the user, on every namespace and
    worker, is disconnected by the server (devices included, which ends their running work)."""
    transaction.on_commit(lambda: close_room_sync(user_room(user_id)), robust=True)
