"""The ``/chat`` Socket.IO namespace (reference realtime §1.3-§2.3): thin handlers over
``chat.services`` and the runner.
"""

from __future__ import annotations

import time
from typing import Any

from audit.services import Target
from chat import executors, protocol
from chat.services import answers, joining, sending, skill_responses, trail
from chat.services.auth import authenticate
from chat.services.outcome import ACCESS_DENIED, Outcome, visible_task
from chat.streams import EarlyStart, runner
from wegent import telemetry
from wegent.errors import DomainError
from wegent.realtime import emitter
from wegent.realtime.db import Coalesced, run_sync
from wegent.realtime.namespaces import AfterEmits, ConnectionRefused, Namespace, Socket
from wegent.realtime.rooms import task_room, user_room


def _plan_sends(requests: list[tuple[Any, protocol.ChatSend]]) -> list[Any]:
    return sending.plan_sends(requests, accepting=runner.accepting)


# Messages sent at about the same moment are checked and looked up together.
_plan_send = Coalesced(_plan_sends)


def _send(user: Any, payload: protocol.ChatSend, plan: Any, address: str) -> Outcome:
    outcome = sending.send(user, payload, accepting=runner.accepting, plan=plan)
    return trail.record_send(user, address, outcome)


def _retry(user: Any, payload: protocol.ChatRetry, address: str) -> Outcome:
    outcome = answers.retry(user, payload, accepting=runner.accepting)
    if outcome.ack == {"success": True}:
        trail.record(
            user, "chat:retry", address, Target("Subtask", payload.subtask_id), task_id=payload.task_id
        )
    return outcome


class ChatNamespace(Namespace):
    path = protocol.NAMESPACE
    events = {
        "task:join": "on_task_join",
        "task:leave": "on_task_leave",
        "chat:send": "on_chat_send",
        "chat:cancel": "on_chat_cancel",
        "chat:retry": "on_chat_retry",
        "chat:resume": "on_chat_resume",
        "history:sync": "on_history_sync",
        "task:close-session": "on_task_close_session",
        "skill:response": "on_skill_response",
    }

    async def on_connect(self, socket: Socket, auth: Any) -> None:
        if not runner.accepting:
            raise ConnectionRefused("Server is shutting down")
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise ConnectionRefused("Missing authentication token")
        try:
            user, expires = await run_sync(authenticate, token)
        except DomainError:
            raise ConnectionRefused("Invalid or expired token")
        socket.session.update(user=user, token_exp=expires)
        await socket.enter_room(user_room(user.pk))

    # --- helpers --------------------------------------------------------------------------------------

    async def _expired(self, socket: Socket) -> dict[str, str] | None:
        """The reference's mid-session expiry: ``auth:error``, disconnect, error ack."""
        expires = socket.session.get("token_exp")
        if expires is not None and expires > time.time():
            return None
        await socket.emit(protocol.AUTH_ERROR, protocol.auth_error())
        await socket.disconnect()
        return protocol.error("Token expired")

    async def _deliver(self, socket: Socket, outcome: Outcome, early: EarlyStart | None = None) -> Any:
        """Rooms first, then events, then the streams; the ack last (as the reference).
        ``early``: the model stream already opened for the (single) answer."""
        for room in outcome.rooms:
            await socket.enter_room(room)
        for item in outcome.emits:
            await emitter.emit(
                item.event,
                item.payload,
                room=item.room,
                skip=socket.connection_id if item.skip_sender else None,
                namespace=item.namespace,
            )
        for answer in outcome.answers:
            runner.start(answer, early)
            early = None
        if early is not None:
            await early.discard()  # no answer after all (its setup failed when stored)
        return AfterEmits(outcome.ack) if outcome.emits else outcome.ack

    # --- events ------------------------------------------------------------------------------------

    async def on_task_join(self, socket: Socket, data: Any) -> Any:
        if (expired := await self._expired(socket)) is not None:
            return expired
        payload = protocol.parse(protocol.TaskJoin, data)
        if isinstance(payload, dict):
            return payload
        user = socket.session["user"]
        if not await run_sync(joining.can_join, user, payload.task_id):
            return protocol.error(ACCESS_DENIED)
        await socket.enter_room(task_room(payload.task_id))
        return await run_sync(joining.join_data, user, payload.task_id, payload.after_message_id)

    async def on_task_leave(self, socket: Socket, data: Any) -> Any:
        payload = protocol.parse(protocol.TaskLeave, data)
        if isinstance(payload, dict):
            return payload
        await socket.leave_room(task_room(payload.task_id))
        return {"success": True}

    async def on_chat_send(self, socket: Socket, data: Any) -> Any:
        # Telemetry: the root span of a chat turn's trace (wegent/telemetry.py); the answer's
        # stream, started inside it, continues the trace.
        with telemetry.span("chat:send") as span:
            ack = await self._chat_send(socket, data)
            if span is not None:
                sent = ack.value if isinstance(ack, AfterEmits) else ack
                if isinstance(sent, dict):
                    telemetry.annotate(
                        span,
                        {
                            telemetry.TASK_ID: sent.get("task_id"),
                            "wegent.message_subtask_id": sent.get("subtask_id"),
                            "wegent.error": sent.get("error"),
                        },
                    )
            return ack

    async def _chat_send(self, socket: Socket, data: Any) -> Any:
        if (expired := await self._expired(socket)) is not None:
            return expired
        payload = protocol.parse(protocol.ChatSend, data)
        if isinstance(payload, dict):
            return payload
        user = socket.session["user"]
        plan = await _plan_send((user, payload))
        if isinstance(plan, Outcome):
            return await self._deliver(socket, plan)
        # A new conversation's model call starts now, while the turn is stored: its first
        # tokens are on their way by the time the answer row exists.
        early = None
        if plan.early_setup is not None:
            setup = plan.early_setup
            messages = [{"role": "user", "content": payload.message}]
            early = await runner.start_early(setup.model, setup.system_prompt, messages)
        try:
            outcome = await run_sync(_send, user, payload, plan, socket.address)
        except BaseException:
            if early is not None:
                await early.discard()
            raise
        return await self._deliver(socket, outcome, early)

    async def on_chat_cancel(self, socket: Socket, data: Any) -> Any:
        if (expired := await self._expired(socket)) is not None:
            return expired
        payload = protocol.parse(protocol.ChatCancel, data)
        if isinstance(payload, dict):
            return payload
        row = await run_sync(answers.cancellable_answer, socket.session["user"], payload)
        if isinstance(row, dict):
            return row
        target = Target("Subtask", row.pk)
        await run_sync(
            trail.record, socket.session["user"], "chat:cancel", socket.address, target, task_id=row.task_id
        )
        # An answer a device or executor runs is stopped there (devices app).
        ended = await run_sync(executors.cancel, row, payload.partial_content)
        if ended is not None:
            return await self._deliver(socket, Outcome(ack={"success": True}, emits=ended))
        if not await run_sync(answers.end_unclaimed, row):
            await runner.request_cancel(row.pk)
        return {"success": True}

    async def on_chat_retry(self, socket: Socket, data: Any) -> Any:
        if (expired := await self._expired(socket)) is not None:
            return expired
        payload = protocol.parse(protocol.ChatRetry, data)
        if isinstance(payload, dict):
            return payload
        outcome = await run_sync(_retry, socket.session["user"], payload, socket.address)
        return await self._deliver(socket, outcome)

    async def on_chat_resume(self, socket: Socket, data: Any) -> Any:
        payload = protocol.parse(protocol.ChatResume, data)
        if isinstance(payload, dict):
            return payload
        ack, missed = await run_sync(joining.resume_text, socket.session["user"], payload)
        if "error" not in ack:
            await socket.enter_room(task_room(payload.task_id))
            if missed:
                await socket.emit(
                    protocol.CHAT_CHUNK,
                    {"subtask_id": payload.subtask_id, "content": missed, "offset": payload.offset},
                )
        return ack

    async def on_history_sync(self, socket: Socket, data: Any) -> Any:
        payload = protocol.parse(protocol.HistorySync, data)
        if isinstance(payload, dict):
            return payload
        return await run_sync(joining.history_since, socket.session["user"], payload)

    async def on_task_close_session(self, socket: Socket, data: Any) -> Any:
        if (expired := await self._expired(socket)) is not None:
            return expired
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if task_id is None:
            return protocol.error("Missing task_id")
        task = await run_sync(visible_task, socket.session["user"], task_id)
        if task is None:
            return protocol.error("Task not found")
        if await run_sync(executors.close_session, task):  # its device (devices app)
            return {"success": True}
        return protocol.error("No device executor found for this task")

    async def on_skill_response(self, socket: Socket, data: Any) -> Any:
        # The reference checks no token expiry here (realtime §1.4): an answer is not a new action.
        return await skill_responses.respond(socket.session["user"].pk, data)
