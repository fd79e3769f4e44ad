"""A device's running answers as its connection streams them: after a first report checked
in the database (``results.report``), each ``task:progress`` is turned into its ``chat:chunk``
from what the connection remembers and sent at once; the text is saved behind it, one write
at a time per answer, later writes folding into the next one while one is under way.

So a chunk's delivery never waits for the database; the database still gets every text. Only
this connection writes the answer while it runs (executor callbacks refuse device answers); a
save that finds the answer no longer RUNNING (cancelled, failed elsewhere) ends the stream
here, and the next report takes the checked path again, which refuses it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from chat import protocol as chat_protocol
from chat import stream_state
from chat.services.outcome import Emit
from devices import protocol
from devices.services import results
from wegent.realtime.db import run_sync
from wegent.realtime.rooms import task_room


@dataclass
class DeviceStream:
    user_id: int
    device_id: str
    subtask_id: int
    task_id: int
    value: str
    thinking: Any
    workbench: Any
    live: bool = True
    _pending: tuple[int | None, dict[str, Any]] | None = None
    _writer: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, user_id: int, device_id: str, started: results.Started) -> DeviceStream:
        return cls(
            user_id=user_id,
            device_id=device_id,
            subtask_id=started.subtask_id,
            task_id=started.task_id,
            value=started.result.get("value") or "",
            thinking=started.result.get("thinking"),
            workbench=started.result.get("workbench"),
        )

    async def begin(self, user_name: str) -> None:
        """Publishes the stream state a ``task:join`` reads (the exact text so far), as chat's
        own streams do."""
        await stream_state.start(self.task_id, self.subtask_id, user_id=self.user_id, user_name=user_name)
        if self.value:
            await stream_state.append(self.subtask_id, self.value)

    async def advance(self, report: protocol.TaskReport) -> Emit | None:
        """Takes a progress report; its ``chat:chunk`` if it adds text, thinking or workbench."""
        incoming = report.result
        if incoming is None:
            self._save(report.progress)
            return None
        sent = len(self.value)
        value = incoming.get("value")
        delta = value[sent:] if isinstance(value, str) and len(value) > sent else ""
        if "thinking" in incoming:
            self.thinking = incoming["thinking"]
        if "workbench" in incoming:
            self.workbench = incoming["workbench"]
        self.value += delta
        if delta:  # the live text first: a join at any moment sees it before the chunk
            await stream_state.append(self.subtask_id, delta)
        self._save(report.progress)
        if not delta and not incoming.get("thinking") and not incoming.get("workbench"):
            return None
        shown = {"value": self.value, "thinking": self.thinking, "workbench": self.workbench}
        chunk = chat_protocol.chat_chunk(
            task_id=self.task_id,
            subtask_id=self.subtask_id,
            content=delta,
            offset=sent,
            block_id=None,
            result=shown,
        )
        return Emit(chat_protocol.CHAT_CHUNK, chunk, task_room(self.task_id))

    def _save(self, progress: int | None) -> None:
        result = {
            "value": self.value,
            "thinking": self.thinking,
            "workbench": self.workbench,
            results.OFFSET_KEY: len(self.value),
        }
        previous = self._pending[0] if self._pending is not None else None
        self._pending = (progress if progress is not None else previous, result)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        while self._pending is not None and self.live:
            progress, result = self._pending
            self._pending = None
            saved = await run_sync(
                results.save_progress, self.user_id, self.device_id, self.subtask_id, progress, result
            )
            if not saved:
                self.live = False

    async def flush(self) -> None:
        """Waits until every text taken so far is saved (or the stream ended)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def close(self) -> None:
        await self.flush()
        await stream_state.finish(self.task_id, self.subtask_id)


class DeviceStreams:
    """The running answers of one connection, by answer id."""

    def __init__(self) -> None:
        self.by_id: dict[int, DeviceStream] = {}

    async def live(self, subtask_id: int) -> DeviceStream | None:
        stream = self.by_id.get(subtask_id)
        if stream is not None and not stream.live:
            await self.end(subtask_id)
            return None
        return stream

    async def end(self, subtask_id: int) -> None:
        stream = self.by_id.pop(subtask_id, None)
        if stream is not None:
            await stream.close()

    async def end_all(self) -> None:
        for subtask_id in list(self.by_id):
            await self.end(subtask_id)
