"""The ``/local-executor`` Socket.IO namespace (reference realtime §1.3, §4.2-§4.5): thin
handlers over ``devices.services``. Wegent's local executor connects here with a JWT or a
personal API key, registers its device, heartbeats, and reports on the tasks it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from chat.services.outcome import Emit
from devices import handoff, protocol
from devices.services import lapse, registry, results
from devices.streams import DeviceStream, DeviceStreams
from wegent import telemetry
from wegent.errors import DomainError
from wegent.realtime import emitter
from wegent.realtime.db import run_sync
from wegent.realtime.namespaces import ConnectionRefused, Namespace, Socket
from wegent.realtime.rooms import device_room, user_room


async def send(emits: Iterable[Emit]) -> None:
    for item in emits:
        await emitter.emit(item.event, item.payload, room=item.room, namespace=item.namespace)


class LocalExecutorNamespace(Namespace):
    path = protocol.NAMESPACE
    events = {
        protocol.DEVICE_REGISTER: "on_register",
        protocol.DEVICE_HEARTBEAT: "on_heartbeat",
        protocol.DEVICE_STATUS: "on_status",
        protocol.TASK_PROGRESS: "on_progress",
        protocol.TASK_COMPLETE: "on_complete",
        protocol.TASK_RESULT: "on_result",
    }

    def __init__(self) -> None:
        self.accepting = True

    async def on_connect(self, socket: Socket, auth: Any) -> None:
        if not self.accepting:
            raise ConnectionRefused(protocol.SHUTTING_DOWN)
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise ConnectionRefused(protocol.MISSING_TOKEN)
        try:
            user, auth_type, expires = await run_sync(registry.authenticate, token)
        except DomainError as exc:
            raise ConnectionRefused(str(exc.detail)) from None
        socket.session.update(
            user=user,
            auth_type=auth_type,
            token_exp=expires,
            device_id=None,
            registered=False,
            # A device's reports apply in the order it sent them (each event runs as a task).
            reports=asyncio.Lock(),
            streams=DeviceStreams(),
        )
        await socket.enter_room(user_room(user.pk))

    async def on_disconnect(self, socket: Socket) -> None:
        device_id = socket.session.get("device_id")
        if not socket.session.get("registered") or device_id is None:
            return
        user = socket.session["user"]
        async with socket.session["reports"]:
            await socket.session["streams"].end_all()  # the text it sent is kept
        await send(await run_sync(lapse.device_gone, user.pk, device_id, socket.sid))

    # --- device events ------------------------------------------------------------------------------

    async def on_register(self, socket: Socket, data: Any) -> Any:
        payload = protocol.parse(protocol.DeviceRegister, data)
        if isinstance(payload, dict):
            return payload
        user = socket.session["user"]
        try:
            await run_sync(registry.register, user, payload, socket.sid, socket.address)
        except DomainError as exc:
            return protocol.error(f"Registration failed: {exc.detail}")
        previous = socket.session.get("device_id")
        if previous is not None and previous != payload.device_id:
            await socket.leave_room(device_room(user.pk, previous))
        socket.session.update(device_id=payload.device_id, registered=True)
        await socket.enter_room(device_room(user.pk, payload.device_id))
        online = protocol.device_online(device_id=payload.device_id, name=payload.name)
        await emitter.emit(protocol.DEVICE_ONLINE, online, room=user_room(user.pk))
        return {"success": True, "device_id": payload.device_id}

    def _registered_as(self, socket: Socket, device_id: str) -> dict[str, str] | None:
        """The refusal of an event about a device this connection did not register."""
        if not socket.session.get("registered"):
            return protocol.error(protocol.NOT_REGISTERED)
        if socket.session.get("device_id") != device_id:
            return protocol.error(protocol.DEVICE_MISMATCH)
        return None

    async def on_heartbeat(self, socket: Socket, data: Any) -> Any:
        payload = protocol.parse(protocol.DeviceHeartbeat, data)
        if isinstance(payload, dict):
            return payload
        if (refused := self._registered_as(socket, payload.device_id)) is not None:
            return refused
        user = socket.session["user"]
        try:
            slots = await run_sync(registry.heartbeat, user, payload.device_id, socket.sid, payload)
        except DomainError as exc:
            return protocol.error(str(exc.detail))
        await emitter.emit(protocol.DEVICE_SLOT_UPDATE, slots, room=user_room(user.pk))
        return {"success": True}

    async def on_status(self, socket: Socket, data: Any) -> Any:
        payload = protocol.parse(protocol.DeviceStatusReport, data)
        if isinstance(payload, dict):
            return payload
        if (refused := self._registered_as(socket, payload.device_id)) is not None:
            return refused
        user = socket.session["user"]
        try:
            await run_sync(registry.report_status, user, payload.device_id, socket.sid, payload.status)
        except DomainError as exc:
            return protocol.error(str(exc.detail))
        status = protocol.device_status(device_id=payload.device_id, status=payload.status)
        await emitter.emit(protocol.DEVICE_STATUS, status, room=user_room(user.pk))
        return {"success": True}

    # --- task reports ---------------------------------------------------------------------------

    async def _report(self, socket: Socket, event: str, data: Any) -> Any:
        payload = protocol.parse(protocol.TaskReport, data)
        if isinstance(payload, dict):
            return payload
        # Telemetry: a report continues the trace of the chat:send that dispatched the answer.
        with telemetry.resumed(f"device {event}", payload.subtask_id, {"wegent.event": event}):
            return await self._handle_report(socket, event, payload)

    async def _handle_report(self, socket: Socket, event: str, payload: Any) -> Any:
        if not socket.session.get("registered"):
            return protocol.error(protocol.NOT_REGISTERED)
        user, device_id = socket.session["user"], socket.session["device_id"]
        streams: DeviceStreams = socket.session["streams"]
        async with socket.session["reports"]:
            if results.is_progress(event, payload):
                stream = await streams.live(payload.subtask_id)
                if stream is None:
                    found = handoff.take(payload.subtask_id, user.pk, device_id) or await run_sync(
                        results.running_answer, user.pk, device_id, payload.subtask_id
                    )
                    if isinstance(found, results.Reported):
                        return found.ack
                    stream = streams.by_id[payload.subtask_id] = DeviceStream.of(user.pk, device_id, found)
                    await stream.begin(user.user_name)
                chunk = await stream.advance(payload)  # sent now; its text is saved behind it
                if chunk is not None:
                    await send([chunk])
                return {"success": True}
            await streams.end(payload.subtask_id)  # its text is saved before it ends
            handoff.forget(payload.subtask_id)
            outcome = await run_sync(results.complete, user.pk, device_id, event, payload)
            await send(outcome.emits)
        return outcome.ack

    async def on_progress(self, socket: Socket, data: Any) -> Any:
        return await self._report(socket, protocol.TASK_PROGRESS, data)

    async def on_complete(self, socket: Socket, data: Any) -> Any:
        return await self._report(socket, protocol.TASK_COMPLETE, data)

    async def on_result(self, socket: Socket, data: Any) -> Any:
        # The reference ignores task:result; failures reported only there would be lost (§4.8).
        return await self._report(socket, protocol.TASK_RESULT, data)
