"""Devices that went away: a disconnect ends the device's running answers at once; a periodic
job ends those whose device's online entry lapsed (no heartbeat for the TTL). Reference
realtime §4.3. Each answer is ended under its row lock and only while still RUNNING, so with
any number of workers (and a disconnect racing the job) exactly one of them ends it and sends
its events.
"""

from __future__ import annotations

from django.db import transaction

from chat import protocol as chat_protocol
from chat.services.outcome import Emit
from devices import handoff, presence, protocol, selectors
from devices.services.dispatch import end_stream_state
from tasks import statuses
from tasks.models import Subtask
from tasks.services import lifecycle
from wegent.realtime.rooms import task_room, user_room

DISCONNECTED = ("Device disconnected unexpectedly", "Device disconnected")
LAPSED = ("Device connection lost (heartbeat timeout)", "Device connection lost")


def _end(answer_id: int, reason: tuple[str, str]) -> Emit | None:
    """FAILED if still RUNNING (then the ``chat:error`` to send); None when someone else ended it."""
    stored_message, shown = reason
    handoff.forget(answer_id)
    with transaction.atomic():
        row = Subtask.objects.select_for_update().filter(pk=answer_id).first()
        if row is None or row.status != statuses.RUNNING:
            return None
        stored = row.result if isinstance(row.result, dict) else {}
        result = {**stored, "value": stored.get("value") or "", "error": stored_message}
        lifecycle.update_subtask(
            row.pk,
            lifecycle.SubtaskChanges(status=statuses.FAILED, error_message=stored_message, result=result),
        )
    end_stream_state(row.task_id, row.pk)
    error = chat_protocol.chat_error(
        task_id=row.task_id, subtask_id=row.pk, error_text=shown, message_id=row.message_id
    )
    return Emit(chat_protocol.CHAT_ERROR, error, task_room(row.task_id))


def device_gone(user_id: int, device_id: str, socket_id: str) -> list[Emit]:
    """The device's connection closed: unless it is already back on another connection, it is
    offline and its running answers fail."""
    if not presence.release(user_id, device_id, socket_id):
        return []
    emits = []
    for row in selectors.running_answers(user_id, [device_id]):
        ended = _end(row.pk, DISCONNECTED)
        if ended is not None:
            emits.append(ended)
    emits.append(
        Emit(protocol.DEVICE_OFFLINE, protocol.device_offline(device_id=device_id), user_room(user_id))
    )
    return emits


def end_lapsed() -> list[Emit]:
    """Ends RUNNING device answers whose device has not been heard from within the TTL."""
    emits = []
    for row in selectors.lapsed_answers():
        ended = _end(row.pk, LAPSED)
        if ended is not None:
            emits.append(ended)
    return emits
