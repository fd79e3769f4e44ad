"""Answers this process has just given to a device, so that the device's first report, when it
comes to this same process (always in the embedded mode), starts streaming without a database
read: under a burst of ``chat:send``s that read queued behind every other message's writes.

An entry is what the dispatch itself wrote (the answer RUNNING on that device of that owner);
a report of another device or user does not match it and takes the checked path. An answer
cancelled in between is caught by the stream's first save, as in any stream (``streams.py``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from devices.services.results import Started

# Devices report within moments of a dispatch; entries never taken (a device that never
# reported) are dropped oldest first past this many.
MAX_ENTRIES = 10_000

_given: OrderedDict[int, tuple[int, str, Started]] = OrderedDict()
_lock = threading.Lock()  # written from database threads, read on the event loop


def remember(user_id: int, device_id: str, started: Started) -> None:
    with _lock:
        _given[started.subtask_id] = (user_id, device_id, started)
        while len(_given) > MAX_ENTRIES:
            _given.popitem(last=False)


def take(subtask_id: int, user_id: int, device_id: str) -> Started | None:
    """The answer's start if this process gave it to exactly this device of this user."""
    with _lock:
        entry = _given.get(subtask_id)
        if entry is None or entry[:2] != (user_id, device_id):
            return None
        del _given[subtask_id]
    return entry[2]


def forget(subtask_id: int) -> None:
    with _lock:
        _given.pop(subtask_id, None)
