"""The chat runner: one asyncio task per answer, in the web worker that received the message.

A stream claims its answer (PENDING -> RUNNING, one worker only), announces ``chat:start``,
reads the provider's deltas, appends them to the shared stream state and publishes them to the
task room (deltas that arrive together go out as one ``chat:chunk``), saves the partial text
and renews its lease every few seconds, and ends the answer COMPLETED, FAILED or CANCELLED
with the matching events. It keeps going when the client disconnects.

Cancel requests reach the stream on whichever worker runs it: with Redis every worker listens
on one pub/sub channel for the ids of answers to stop; in one process the stream is local.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from chat import protocol, stream_state
from chat.providers.base import ProviderError, ReasoningDelta, ToolCallRequest, ToolOffer, Usage
from chat.tools.base import Problem, Tool, Toolbox, TurnContext
from chat.tools.loop import CallOutcome, Trace, execute, failed
from tasks import statuses
from tasks.services import lifecycle
from wegent import metrics, telemetry
from wegent.realtime import emitter
from wegent.realtime.db import Coalesced, run_sync
from wegent.realtime.pubsub import listen_forever
from wegent.realtime.redis_batch import UNAVAILABLE, batcher
from wegent.realtime.rooms import task_room, user_room

logger = logging.getLogger(__name__)

WORKER_PREFIX = "chat:"
WORKER_ID = f"{WORKER_PREFIX}{socket.gethostname()[:20]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
CANCEL_CHANNEL = f"{settings.REDIS_CHANNEL_PREFIX}chat:cancel"
EARLY_CANCEL_SECONDS = 60.0
_END, _CANCEL = object(), object()
# Streams that end together (a burst of chats started together) store their endings together.
_update_subtask = Coalesced(lifecycle.update_subtasks)


class AnswerObserver(Protocol):
    """What ``Runner.observe`` calls (on the server loop; each call must be quick)."""

    def delta(self, text: str) -> None: ...

    def ended_with(self, status: str, error: str | None = None) -> None: ...

    def add_usage(self, input_tokens: int, output_tokens: int) -> None: ...


class _PublishError(Exception):
    """A chunk could not be published: a fault of ours, never reported as the model's."""


@dataclass
class Answer:
    """What a stream needs to know about the answer it produces."""

    task_id: int
    subtask_id: int
    message_id: int
    owner_id: int
    owner_name: str
    shell_type: str
    bot_name: str | None
    system_prompt: str
    messages: list[dict[str, Any]]
    model: Any  # chat.providers.base.ModelConfig
    # Claimed by the code that created it (saves the stream a database round trip).
    claimed: bool = False
    # What the turn's tools are drawn from (chat.tools.sources): the Team's first Bot's Ghost
    # (kinds.specs.ghost.GhostView or None), the sender, and the message's attachments/skills.
    ghost: Any = None
    sender_id: int = 0
    sender_name: str = ""
    team_name: str = ""
    team_namespace: str = "default"
    attachment_ids: tuple[int, ...] = ()
    additional_skills: tuple[str, ...] = ()
    web_search: bool = False
    search_engine: str = ""
    knowledge_base_ids: tuple[int, ...] = ()  # picked in the message (knowledge tool source)
    bound_knowledge_base_ids: tuple[int, ...] = ()  # bound to the task
    # Documents the message narrowed its knowledge bases to (``protocol.DocumentScope``).
    document_scopes: tuple[tuple[int, tuple[int, ...], bool], ...] = ()
    # When this answer's row was known here: a cancel remembered for its id before then was for
    # an earlier row with the same id (SQLite reuses the ids of deleted rows), not for this one.
    prepared_at: float = field(default_factory=time.monotonic)
    # How a multi-bot team's turn goes on around this answer (a ``Conductor``); None for one bot.
    conductor: Any = None

    def turn_context(self) -> TurnContext:
        user_id, user_name = self.sender_id or self.owner_id, self.sender_name or self.owner_name
        return TurnContext(
            user_id=user_id,
            user_name=user_name,
            task_id=self.task_id,
            subtask_id=self.subtask_id,
            team_namespace=self.team_namespace,
            team_name=self.team_name,
            bot_name=self.bot_name or "",
            attachment_ids=self.attachment_ids,
            additional_skills=self.additional_skills,
            web_search=self.web_search,
            search_engine=self.search_engine,
            knowledge_base_ids=self.knowledge_base_ids,
            bound_knowledge_base_ids=self.bound_knowledge_base_ids,
            document_scopes=self.document_scopes,
            placeholders={
                "user": {"name": user_name, "id": user_id},
                "task_id": self.task_id,
                "subtask_id": self.subtask_id,
                "team_name": self.team_name,
            },
        )


@dataclass
class FollowUp:
    """What comes after a member's answer of a multi-bot team: the status it ends with
    (COMPLETED, or PENDING_CONFIRMATION for a pipeline stage that waits for the user), the next
    member's answer (its row already written and claimed here), and ``chat:error`` payloads of
    a next answer that failed before it could start."""

    status: str = statuses.COMPLETED
    answer: Answer | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    async def abandon(self) -> None:
        """The answer this followed was ended elsewhere meanwhile: the next one is not run."""
        if self.answer is not None:
            changes = lifecycle.SubtaskChanges(status=statuses.CANCELLED, progress=100)
            try:
                await _update_subtask((self.answer.subtask_id, changes))
            except lifecycle.InvalidTransition:
                pass


class Conductor(Protocol):
    """A multi-bot team's rules around one member's answer (``chat/services/teams.py``)."""

    async def before(self, answer: Answer, open_stream: Callable[..., AsyncIterator[Any]]) -> Routed:
        """The answer to stream: ``answer`` itself, or (route) the member the leader chose."""
        ...

    def tools(self, answer: Answer, runner: Runner) -> list[Tool]:
        """Tools only this team's answer has (coordinate: asking a member)."""
        ...

    async def after(self, answer: Answer, text: str) -> FollowUp:
        """Called once the answer's text is complete, before its ending is written."""
        ...


@dataclass
class Routed:
    answer: Answer
    problems: list[Problem] = field(default_factory=list)


class EarlyStart:
    """A model stream opened before its answer row exists (the turn is being stored): what it
    sends meanwhile is kept, and the runner's relay takes the stream over."""

    def __init__(self, iterator: AsyncIterator[Any]) -> None:
        self.iterator = iterator
        self.parts: list[Any] = []  # text deltas and reasoning (no tools: none were offered)
        self.ended = False
        self.error: BaseException | None = None
        self._handover = False
        self._task = asyncio.ensure_future(self._fill())

    async def _fill(self) -> None:
        try:
            while not self._handover:
                self.parts.append(await anext(self.iterator))
        except StopAsyncIteration:
            self.ended = True
        except Exception as exc:  # noqa: BLE001 - the relay handles it as its own
            self.error = exc

    async def take(self) -> None:
        """Stops reading here; returns once the read under way (if any) has come back, so the
        relay goes on with ``iterator`` from exactly where this stopped. A cancel of the
        caller cancels that read (and closes the model stream)."""
        self._handover = True
        await self._task

    async def discard(self) -> None:
        """The turn was refused or streams elsewhere: the model call is closed."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        close = getattr(self.iterator, "aclose", None)
        if close is not None:
            await close()


@dataclass
class Stream:
    answer: Answer
    early: EarlyStart | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_reason: str | None = None
    # The task relaying the provider's deltas, and whether it is waiting for the provider (the
    # only place a cancel interrupts it: a chunk being delivered is finished first).
    relay: asyncio.Task[Any] | None = None
    reading: bool = False
    length: int = 0  # characters published so far (the next chunk's offset)
    toolbox: Toolbox | None = None
    trace: Trace | None = None
    started: float = field(default_factory=time.monotonic)
    # Tokens the model calls of this answer used (input, output), summed over tool rounds;
    # None while no provider reported any.
    tokens: tuple[int, int] | None = None
    # Telemetry: the span of the model call being read (None when tracing is off).
    model_span: Any = None

    def cancel(self, reason: str = "cancelled") -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
            if self.relay is not None and self.reading:
                self.relay.cancel()


def _prepare(model: Any) -> None:
    importlib.import_module("chat.providers.select").prepare(model)


def _family(model: Any) -> str:
    from chat.providers.families import provider_family

    return provider_family(model)


def provider_stream(
    model: Any, system: str, messages: list[dict[str, Any]], tools: ToolOffer | None = None
) -> AsyncIterator[Any]:
    from chat.providers.select import stream

    return stream(model, system, messages, tools)


async def open_toolbox(answer: Answer) -> Toolbox:
    """The turn's tools from every source; a source failing outright is a problem, not a 500."""
    from chat.tools.sources import SOURCES
    from chat.tools.sources import open_toolbox as open_sources

    if not SOURCES:
        return Toolbox()
    try:
        return await open_sources(answer.turn_context(), answer.ghost)
    except Exception as exc:
        logger.exception("tool sources of %s failed", answer.subtask_id)
        box = Toolbox()
        box.problems.append(Problem("tools", f"Tools could not be loaded ({type(exc).__name__})"))
        return box


def _system_for(system: str, toolbox: Toolbox) -> str:
    """The turn's system prompt: the bot's, then what the tool sources add (preloaded skills'
    instructions), then the sources that could not open, so the model can tell the user."""
    parts = [system] if system else []
    parts.extend(toolbox.instructions)
    if toolbox.problems:
        lines = "\n".join(f"- {p.source}: {p.message}" for p in toolbox.problems)
        parts.append(f"Some tools are unavailable for this answer (tell the user if it matters):\n{lines}")
    return "\n\n".join(parts)


def _usage_of(stream: Stream) -> dict[str, int] | None:
    if stream.tokens is None:
        return None
    used_in, used_out = stream.tokens
    return {"input_tokens": used_in, "output_tokens": used_out, "total_tokens": used_in + used_out}


LIMIT_NOTE = (
    "The tool call limit for this answer is reached: answer now from what you have, without calling any tool."
)


# --- telemetry (wegent/telemetry.py): span attributes; nothing here runs while tracing is off ------


def _answer_attributes(answer: Answer) -> dict[str, Any] | None:
    if not telemetry.tracing():
        return None
    return {
        telemetry.TASK_ID: answer.task_id,
        telemetry.SUBTASK_ID: answer.subtask_id,
        telemetry.TEAM: f"{answer.team_namespace}/{answer.team_name}" if answer.team_name else None,
        "wegent.bot": answer.bot_name,
        "wegent.shell_type": answer.shell_type,
        telemetry.MODEL: getattr(answer.model, "model_id", None),
    }


def _model_attributes(answer: Answer) -> dict[str, Any] | None:
    if not telemetry.tracing():
        return None
    return {
        telemetry.MODEL: getattr(answer.model, "model_id", None),
        "gen_ai.system": getattr(answer.model, "family", None),
        telemetry.SUBTASK_ID: answer.subtask_id,
    }


def _ending_attributes(stream: Stream, ending: str) -> dict[str, Any]:
    tokens = stream.tokens
    return {
        telemetry.FINISH_REASON: ending,
        telemetry.INPUT_TOKENS: tokens[0] if tokens else None,
        telemetry.OUTPUT_TOKENS: tokens[1] if tokens else None,
    }


def _end_model_span(stream: Stream, finish_reason: str) -> None:
    if stream.model_span is not None:
        telemetry.end_span(stream.model_span, {telemetry.FINISH_REASONS: [finish_reason]})
        stream.model_span = None


async def _traced_execute(toolbox: Toolbox, request: ToolCallRequest, timeout: float) -> CallOutcome:
    if not telemetry.tracing():
        return await execute(toolbox, request, timeout)
    attributes = {telemetry.TOOL_NAME: request.name, "gen_ai.tool.call.id": request.id}
    with telemetry.span(f"chat.tool_call {request.name}", attributes) as span:
        outcome = await execute(toolbox, request, timeout)
        if outcome.error is not None:
            telemetry.annotate(span, {"wegent.tool_error": outcome.error[:500]})
        return outcome


class Runner:
    """The streams of this process."""

    def __init__(self) -> None:
        self.streams: dict[int, Stream] = {}
        # Answers whose cancel arrived before their stream was registered (id -> when).
        self._early: dict[int, float] = {}
        self.accepting = True
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loading: dict[str, asyncio.Future[Any]] = {}
        # Watchers of single answers (``observe``; e.g. an /api/v1/responses event log).
        self.observers: dict[int, AnswerObserver] = {}
        # Tests replace this to run streams against something other than a provider.
        self.open_stream: Callable[[Any, str, list[dict[str, Any]]], AsyncIterator[str]] = provider_stream

    # --- cancel messages from any worker -----------------------------------------------------------

    async def _ensure_listener(self) -> None:
        """With several workers (Redis), each listens for cancel requests on one pub/sub channel;
        a single process needs no listener (every stream is local)."""
        if not settings.REDIS_URL:
            return
        listener = self._listener
        if listener is None or listener.done() or listener.get_loop() is not asyncio.get_running_loop():
            self._listener = asyncio.ensure_future(
                listen_forever(
                    settings.REDIS_URL, CANCEL_CHANNEL, self._on_cancel_message, what="chat cancel listener"
                )
            )

    def _on_cancel_message(self, data: bytes) -> None:
        self._cancel_local(int(data))

    def _cancel_local(self, subtask_id: int) -> None:
        stream = self.streams.get(subtask_id)
        if stream is not None:
            stream.cancel()
        else:
            # Its stream may be about to start here (claimed, not yet registered): remember.
            now = time.monotonic()
            self._early = {k: t for k, t in self._early.items() if now - t < EARLY_CANCEL_SECONDS}
            self._early[subtask_id] = now

    def stop(self, subtask_id: int) -> None:
        """Stops a stream of this process (or the one about to start here with that id)."""
        self._cancel_local(subtask_id)

    # --- observers of one answer (a small hook: the runner knows nothing of what they do) ------------

    def observe(self, subtask_id: int, observer: AnswerObserver) -> None:
        """``observer`` hears each text delta of the answer as it is published, then its ending
        once (``completed``, ``failed`` with the message, or ``cancelled``). Call before
        ``start``; an answer whose stream stops without an ending here (another worker's, ended
        elsewhere) tells ``failed``."""
        self.observers[subtask_id] = observer

    def _tell_ended(self, subtask_id: int, status: str, error: str | None = None) -> None:
        observer = self.observers.pop(subtask_id, None)
        if observer is not None:
            try:
                observer.ended_with(status, error)
            except Exception:
                logger.exception("an observer of %s failed", subtask_id)

    async def request_cancel(self, subtask_id: int) -> None:
        """Stops the stream of ``subtask_id`` wherever it runs (no-op when none runs)."""
        if subtask_id in self.streams or not settings.REDIS_URL:
            self._cancel_local(subtask_id)
            return
        # Remembered here too (its stream may be about to start in this process: the echo of the
        # publish would say so, but not while Redis is away), then told to the other workers.
        self._cancel_local(subtask_id)
        commands = batcher(settings.REDIS_URL)
        try:
            await commands.call("PUBLISH", CANCEL_CHANNEL, str(subtask_id))
        except UNAVAILABLE:
            # Redis is away: held by the batcher and published when it is back.
            commands.send("PUBLISH", CANCEL_CHANNEL, str(subtask_id))

    async def _load_providers(self, model: Any) -> None:
        """The SDKs take about a second to import: in a thread, never on the event loop (a
        stream touching a half-imported module would block the loop on the import lock)."""
        key = "anthropic" if _family(model) == "anthropic" else "openai"
        loading = self._loading.get(key)
        if loading is None or loading.get_loop() is not asyncio.get_running_loop():
            loading = self._loading[key] = asyncio.ensure_future(run_sync(_prepare, model))
        await asyncio.shield(loading)

    async def start_early(self, model: Any, system: str, messages: list[dict[str, Any]]) -> EarlyStart:
        """Opens the model stream of an answer about to be created (see ``EarlyStart``)."""
        if self.open_stream is provider_stream:
            await self._load_providers(model)
        return EarlyStart(self.open_stream(model, system, messages))

    def start(self, answer: Answer, early: EarlyStart | None = None) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self.run(answer, early))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run(self, answer: Answer, early: EarlyStart | None = None) -> None:
        # Telemetry: one span per answer, inside the trace of whoever started it (chat:send, a
        # Celery run, an API call); model calls, tool calls and database writes nest in it.
        with telemetry.span("chat.answer", _answer_attributes(answer)):
            await self._run(answer, early)

    async def _run(self, answer: Answer, early: EarlyStart | None = None) -> None:
        if not answer.claimed and not await run_sync(lifecycle.claim_subtask, answer.subtask_id, WORKER_ID):
            if early is not None:
                await early.discard()
            self._tell_ended(answer.subtask_id, "failed", "The answer is not running here")
            return  # cancelled before it started, or another worker has it
        stream = Stream(answer, early)
        self.streams[answer.subtask_id] = stream
        requested = self._early.pop(answer.subtask_id, None)
        if requested is not None and requested >= answer.prepared_at:
            stream.cancel()
        try:
            await self._ensure_listener()
            if self.open_stream is provider_stream and early is None:
                await self._load_providers(answer.model)
            problems: list[Problem] = []
            if answer.conductor is not None:
                routed = await self._route(stream)
                if routed is None:
                    await self._cancelled(stream, "")
                    return
                answer, problems = routed.answer, routed.problems
            await stream_state.start(
                answer.task_id, answer.subtask_id, user_id=answer.owner_id, user_name=answer.owner_name
            )
            await emitter.emit(
                protocol.CHAT_START,
                protocol.chat_start(
                    task_id=answer.task_id,
                    subtask_id=answer.subtask_id,
                    message_id=answer.message_id,
                    shell_type=answer.shell_type,
                    bot_name=answer.bot_name,
                ),
                room=task_room(answer.task_id),
            )
            stream.trace = Trace(answer.shell_type)
            if problems:
                for problem in problems:
                    stream.trace.problem(problem)
                await self._publish_view(stream, [])
            await self._pump(stream)
        except Exception:
            logger.exception("chat stream %s failed", answer.subtask_id)
            await self._fail(stream, stream_state.text(answer.subtask_id) or "", "Internal server error")
        finally:
            self.streams.pop(answer.subtask_id, None)
            if stream.toolbox is not None:
                try:
                    await stream.toolbox.aclose()
                except Exception:
                    logger.exception("closing the tools of %s failed", answer.subtask_id)
            await stream_state.finish(answer.task_id, answer.subtask_id)
            self._tell_ended(answer.subtask_id, "failed", "The answer was ended elsewhere")  # if untold
            stream.done.set()

    async def _route(self, stream: Stream) -> Routed | None:
        """Asks the team's conductor which answer to stream (a cancel interrupts the leader's
        choice); None when cancelled meanwhile."""
        answer = stream.answer
        if stream.cancel_reason is not None:
            return None
        choosing = stream.relay = asyncio.ensure_future(answer.conductor.before(answer, self.open_stream))
        stream.reading = True
        try:
            routed = await choosing
        except asyncio.CancelledError:
            if stream.cancel_reason is not None:
                return None
            raise
        finally:
            stream.reading = False
            stream.relay = None
        if stream.cancel_reason is not None:
            return None
        stream.answer = routed.answer
        return routed

    async def _keep_alive(self, stream: Stream, parts: list[str]) -> None:
        """Saves the partial text and renews the lease on a fixed beat, chunks or not; a stream
        whose answer was ended elsewhere (an operator, the sweeper) stops."""
        answer = stream.answer
        while True:
            await asyncio.sleep(settings.CHAT_SAVE_INTERVAL_SECONDS)
            text = "".join(parts)
            partial: dict[str, Any] = {"value": text, "streaming": True}
            trace = stream.trace
            if trace is not None and trace.rich:
                partial.update(trace.view(text))
            if not await run_sync(lifecycle.save_progress, answer.subtask_id, WORKER_ID, partial):
                stream.cancel("lost")
                return

    async def _relay(self, stream: Stream, parts: list[str]) -> Any:
        """Reads the provider and publishes each text as it comes (one ``chat:chunk`` per read:
        what arrived together goes out together); when a response ends with tool calls, runs
        them and asks the model again with their results (the tool loop). Returns how the
        stream ended: ``_END``, a ``ProviderError`` or ``_CANCEL``."""
        answer = stream.answer
        try:
            toolbox = await self._open_tools(stream, parts)
        except asyncio.CancelledError:
            if stream.cancel_reason is not None:
                return _CANCEL  # cancelled while the sources opened (they closed what they held)
            raise
        if toolbox is None:
            return _CANCEL
        offer = ToolOffer(toolbox.specs()) if toolbox.tools else None
        system = _system_for(answer.system_prompt, toolbox)
        messages = answer.messages
        calls_left = settings.CHAT_MAX_TOOL_CALLS
        iterator: Any = None
        stream.model_span = telemetry.start_span("chat.model_call", _model_attributes(answer))
        try:
            if stream.early is not None:
                iterator = stream.early.iterator
                ended = await self._take_early(stream, stream.early, parts)
                if ended is not None:
                    return ended
            else:
                iterator = self._open(answer, system, messages, offer)
            while True:
                round_start = len(parts)
                requests: list[ToolCallRequest] = []
                while True:
                    if stream.cancel_reason is not None:
                        return _CANCEL
                    stream.reading = True
                    try:
                        item = await anext(iterator)
                    except StopAsyncIteration:
                        break
                    finally:
                        stream.reading = False
                    if stream.cancel_reason is not None:
                        return _CANCEL
                    if type(item) is str:
                        if item:
                            await self._publish(stream, parts, item)
                    elif isinstance(item, ToolCallRequest):
                        requests.append(item)
                    elif isinstance(item, ReasoningDelta) and item.text:
                        await self._publish_reasoning(stream, parts, item.text)
                    elif isinstance(item, Usage):
                        self._count_usage(stream, item)
                _end_model_span(stream, "tool_calls" if requests else "stop")
                if not requests or offer is None:
                    return _END
                if offer.exhausted:
                    # Told it may not call tools and asked anyway: the answer ends readably.
                    limit = settings.CHAT_MAX_TOOL_CALLS
                    note = f"\n\n(Stopped: this answer reached its limit of {limit} tool calls.)"
                    await self._publish(stream, parts, note)
                    return _END
                close = getattr(iterator, "aclose", None)
                iterator = None
                if close is not None:
                    await close()
                allowed, refused = requests[:calls_left], requests[calls_left:]
                calls_left -= len(allowed)
                outcomes = await self._run_tools(stream, parts, toolbox, allowed)
                if outcomes is None:
                    return _CANCEL
                limit = (
                    f"Not run: the limit of {settings.CHAT_MAX_TOOL_CALLS} tool calls per answer is reached"
                )
                outcomes += [failed(request, limit) for request in refused]
                said = "".join(parts[round_start:])
                messages = [
                    *messages,
                    {"role": "assistant", "content": said, "tool_calls": requests},
                    *(outcome.message() for outcome in outcomes),
                ]
                if calls_left <= 0:
                    offer = ToolOffer(offer.specs, exhausted=True)
                    system = f"{system}\n\n{LIMIT_NOTE}" if system else LIMIT_NOTE
                stream.model_span = telemetry.start_span("chat.model_call", _model_attributes(answer))
                iterator = self._open(answer, system, messages, offer)
        except _PublishError:
            raise  # ours, not the model's: the stream ends with an internal error
        except ProviderError as exc:
            return exc
        except asyncio.CancelledError:
            if stream.cancel_reason is not None:
                return _CANCEL  # Stream.cancel interrupted the wait for the provider or a tool
            raise
        except Exception as exc:
            logger.exception("provider stream failed")
            return ProviderError(f"Model call failed: {type(exc).__name__}")
        finally:
            _end_model_span(stream, "interrupted")  # a call that did not end normally
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()

    async def _open_tools(self, stream: Stream, parts: list[str]) -> Toolbox | None:
        """Opens the turn's tool sources (a cancel interrupts it: an MCP server may be slow to
        answer); their problems go out as failed steps. None when cancelled meanwhile."""
        if stream.cancel_reason is not None:
            return None
        stream.reading = True
        try:
            toolbox = stream.toolbox = await open_toolbox(stream.answer)
        finally:
            stream.reading = False
        if stream.cancel_reason is not None:
            return None
        if stream.answer.conductor is not None:
            for tool in stream.answer.conductor.tools(stream.answer, self):
                toolbox.add(tool)
        if toolbox.tools and stream.early is not None:
            # The model stream opened before the tools were known: asked again, with them.
            await stream.early.discard()
            stream.early = None
        if toolbox.problems:
            assert stream.trace is not None
            for problem in toolbox.problems:
                stream.trace.problem(problem)
            await self._publish_view(stream, parts)
        return toolbox

    def _open(
        self, answer: Answer, system: str, messages: list[dict[str, Any]], offer: ToolOffer | None
    ) -> Any:
        if offer is None:
            return self.open_stream(answer.model, system, messages)
        return self.open_stream(answer.model, system, messages, offer)  # type: ignore[call-arg]

    async def _run_tools(
        self, stream: Stream, parts: list[str], toolbox: Toolbox, requests: list[ToolCallRequest]
    ) -> list[CallOutcome] | None:
        """Runs one response's calls at once; each start and end goes out as it happens. The
        results come back in the order the model asked; None when cancelled meanwhile (the
        tools still running are cancelled)."""
        trace = stream.trace
        assert trace is not None
        timeout = settings.CHAT_TOOL_TIMEOUT_SECONDS
        for request in requests:
            trace.tool_started(request, stream.length)
            await self._publish_view(stream, parts)
        running = [asyncio.ensure_future(_traced_execute(toolbox, request, timeout)) for request in requests]
        try:
            for next_done in asyncio.as_completed(running):
                if stream.cancel_reason is not None:
                    return None
                stream.reading = True  # a cancel interrupts the wait for the tools
                try:
                    outcome = await next_done
                finally:
                    stream.reading = False
                if stream.cancel_reason is not None:
                    return None
                trace.tool_ended(outcome)
                await self._publish_view(stream, parts)
        finally:
            for task in running:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        return [task.result() for task in running]

    async def _take_early(self, stream: Stream, early: EarlyStart, parts: list[str]) -> Any:
        """Publishes what the early model stream sent before the answer existed (as one chunk);
        returns how the stream ended if it already has, else None (the relay reads on)."""
        stream.reading = True
        try:
            await early.take()
        finally:
            stream.reading = False
        if stream.cancel_reason is not None:
            return _CANCEL
        texts: list[str] = []
        for item in early.parts:  # texts that came together go out as one chunk
            if type(item) is str:
                texts.append(item)
            elif isinstance(item, ReasoningDelta) and item.text:
                if texts:
                    await self._publish(stream, parts, "".join(texts))
                    texts.clear()
                await self._publish_reasoning(stream, parts, item.text)
            elif isinstance(item, Usage):
                self._count_usage(stream, item)
        if texts and "".join(texts):
            await self._publish(stream, parts, "".join(texts))
        if early.error is not None:
            raise early.error
        return _END if early.ended else None

    def _count_usage(self, stream: Stream, usage: Usage) -> None:
        before = stream.tokens or (0, 0)
        stream.tokens = (before[0] + usage.input_tokens, before[1] + usage.output_tokens)
        telemetry.annotate(
            stream.model_span,
            {telemetry.INPUT_TOKENS: usage.input_tokens, telemetry.OUTPUT_TOKENS: usage.output_tokens},
        )
        observer = self.observers.get(stream.answer.subtask_id)
        if observer is not None:
            observer.add_usage(usage.input_tokens, usage.output_tokens)

    async def _publish(self, stream: Stream, parts: list[str], content: str) -> None:
        """One ``chat:chunk``: into the live text first (a joining reader never misses it), then
        to the task room."""
        answer = stream.answer
        offset = stream.length
        assert stream.trace is not None
        block_id, block_offset = stream.trace.text_position(offset)
        try:
            # Never fails because Redis is away: the live text is kept here and written back
            # when it returns, and publishes to other workers are held (see stream_state and
            # redis_batch); the local sockets get the chunk either way.
            await stream_state.append(answer.subtask_id, content)
            await emitter.emit(
                protocol.CHAT_CHUNK,
                protocol.chat_chunk(
                    task_id=answer.task_id,
                    subtask_id=answer.subtask_id,
                    content=content,
                    offset=offset,
                    block_id=block_id,
                    block_offset=block_offset,
                ),
                room=task_room(answer.task_id),
            )
        except Exception as exc:
            raise _PublishError from exc
        # Counted once sent: the ending's text and chat:done offset are what clients were sent.
        if not stream.length:
            metrics.stream_first_token.observe(time.monotonic() - stream.started)
        parts.append(content)
        stream.length += len(content)
        observer = self.observers.get(answer.subtask_id)
        if observer is not None:
            observer.delta(content)

    async def _publish_view(self, stream: Stream, parts: list[str]) -> None:
        """A tool start/end (or a source problem): ``content`` "" and the full thinking steps
        and blocks in ``result``, also kept as the live state a joining reader gets."""
        answer = stream.answer
        assert stream.trace is not None
        view = stream.trace.view("".join(parts))
        if stream.toolbox is not None and stream.toolbox.result_extras.get("sources"):
            # The sources found so far (reference realtime §2.4: a tool chunk's ``result`` may
            # carry ``sources``), so the client can number citations while the answer streams.
            view["sources"] = stream.toolbox.result_extras["sources"]
        try:
            await stream_state.set_result(answer.subtask_id, view)
            await emitter.emit(
                protocol.CHAT_CHUNK,
                protocol.chat_chunk(
                    task_id=answer.task_id,
                    subtask_id=answer.subtask_id,
                    content="",
                    offset=stream.length,
                    block_id=None,
                    result=view,
                ),
                room=task_room(answer.task_id),
            )
        except Exception as exc:
            raise _PublishError from exc

    async def _publish_reasoning(self, stream: Stream, parts: list[str], text: str) -> None:
        """A reasoning delta: appended to the thinking block (a chunk naming that block, with
        ``result.reasoning_chunk``); the block's first delta sends the full blocks first."""
        answer = stream.answer
        assert stream.trace is not None
        block_id, new = stream.trace.reasoning(text, stream.length)
        if new:
            await self._publish_view(stream, parts)
        try:
            await emitter.emit(
                protocol.CHAT_CHUNK,
                protocol.chat_chunk(
                    task_id=answer.task_id,
                    subtask_id=answer.subtask_id,
                    content="",
                    offset=stream.length,
                    block_id=block_id,
                    block_offset=0,
                    result=protocol.reasoning_view(answer.shell_type, text),
                ),
                room=task_room(answer.task_id),
            )
        except Exception as exc:
            raise _PublishError from exc

    async def _pump(self, stream: Stream) -> None:
        parts: list[str] = []
        relay = stream.relay = asyncio.ensure_future(self._relay(stream, parts))
        keeper = asyncio.ensure_future(self._keep_alive(stream, parts))
        try:
            outcome = await relay
        finally:
            for helper in (relay, keeper):
                if not helper.done():
                    helper.cancel()
            await asyncio.gather(relay, keeper, return_exceptions=True)
        text = "".join(parts)
        ending = (
            "completed"
            if outcome is _END
            else "failed"
            if isinstance(outcome, ProviderError)
            else "cancelled"
        )
        metrics.stream_duration.labels(ending).observe(time.monotonic() - stream.started)
        if telemetry.tracing():
            telemetry.annotate(telemetry.current(), _ending_attributes(stream, ending))
        if outcome is _END:
            await self._complete(stream, text)
        elif isinstance(outcome, ProviderError):
            await self._fail(stream, text, outcome.message)
        elif stream.cancel_reason != "lost":
            await self._cancelled(stream, text)

    # --- endings -----------------------------------------------------------------------------------------

    def _traced(self, stream: Stream, text: str, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` with the thinking steps and blocks when anything besides text happened."""
        trace = stream.trace
        if trace is not None and trace.rich:
            blocks, extra = trace.final(text, fallback_id=str(uuid.uuid4()))
            result.update(extra, blocks=blocks)
        if stream.toolbox is not None and stream.toolbox.result_extras.get("sources"):
            # A failed or cancelled answer still keeps what it cited before it ended.
            result["sources"] = stream.toolbox.result_extras["sources"]
        return result

    async def _complete(self, stream: Stream, text: str) -> None:
        answer = stream.answer
        if stream.trace is not None:
            blocks, extra = stream.trace.final(text, fallback_id=str(uuid.uuid4()))
        else:
            blocks, extra = [protocol.text_block(str(uuid.uuid4()), text, "done", time.time())], {}
        result = {
            "id": f"resp-{uuid.uuid4().hex[:12]}",
            "usage": _usage_of(stream),
            "stop_reason": "end_turn",
            "sources": None,
            "blocks": blocks,
            "silent_exit": None,
            "silent_exit_reason": None,
            "value": text,
            **extra,
        }
        if stream.toolbox is not None:  # what tool sources add (the knowledge tools' sources)
            result.update(stream.toolbox.result_extras)
        # The next member's answer is written before this one ends, so the task stays RUNNING
        # (its status follows its newest answer) instead of flashing COMPLETED in between.
        follow = await answer.conductor.after(answer, text) if answer.conductor is not None else FollowUp()
        changes = lifecycle.SubtaskChanges(
            status=follow.status, progress=100, result=result, usage=stream.tokens
        )
        if not await self._end(answer, changes):
            await follow.abandon()
            return
        self._tell_ended(answer.subtask_id, "completed")
        await self._done(answer, text, result)
        await emitter.emit(
            protocol.CHAT_BOT_COMPLETE,
            protocol.bot_complete(
                task_id=answer.task_id, subtask_id=answer.subtask_id, content=text, result=result
            ),
            room=user_room(answer.owner_id),
        )
        for payload in follow.errors:
            await emitter.emit(protocol.CHAT_ERROR, payload, room=task_room(answer.task_id))
        if follow.answer is not None:
            self.start(follow.answer)

    async def _fail(self, stream: Stream, text: str, message: str) -> None:
        answer = stream.answer
        result = self._traced(stream, text, {"value": text, "error": message})
        changes = lifecycle.SubtaskChanges(
            status=statuses.FAILED, result=result, error_message=message, usage=stream.tokens
        )
        await self._end(answer, changes)
        self._tell_ended(answer.subtask_id, "failed", message)
        await emitter.emit(
            protocol.CHAT_ERROR,
            protocol.chat_error(
                task_id=answer.task_id,
                subtask_id=answer.subtask_id,
                error_text=message,
                message_id=answer.message_id,
            ),
            room=task_room(answer.task_id),
        )
        # As the reference: a closing chat:done whose result carries the error (clients that
        # wait for chat:done mark the message failed).
        await self._done(answer, text, result)

    async def _cancelled(self, stream: Stream, text: str) -> None:
        answer = stream.answer
        result = self._traced(stream, text, {"value": text, "cancelled": True})
        changes = lifecycle.SubtaskChanges(
            status=statuses.CANCELLED, progress=100, result=result, usage=stream.tokens
        )
        if not await self._end(answer, changes):
            return
        self._tell_ended(answer.subtask_id, "cancelled")
        await emitter.emit(
            protocol.CHAT_CANCELLED,
            protocol.chat_cancelled(task_id=answer.task_id, subtask_id=answer.subtask_id),
            room=task_room(answer.task_id),
        )
        await self._done(answer, text, result)

    async def _done(self, answer: Answer, text: str, result: dict[str, Any]) -> None:
        """``chat:done``: every ending sends it last, with the full text and the result."""
        await emitter.emit(
            protocol.CHAT_DONE,
            protocol.chat_done(
                task_id=answer.task_id,
                subtask_id=answer.subtask_id,
                offset=len(text),
                result=result,
                message_id=answer.message_id,
            ),
            room=task_room(answer.task_id),
        )

    async def _end(self, answer: Answer, changes: lifecycle.SubtaskChanges) -> bool:
        """Writes the ending (which re-derives the task and emits ``task:status``); False when the
        answer was already ended elsewhere."""
        try:
            await _update_subtask((answer.subtask_id, changes))
        except lifecycle.InvalidTransition:
            return False
        return True

    # --- shutdown --------------------------------------------------------------------------------------

    async def shutdown(self, grace_seconds: float) -> None:
        """Stops taking new streams, lets running ones finish for ``grace_seconds``, then cancels
        the rest (their partial text is saved)."""
        self.accepting = False
        streams = list(self.streams.values())
        if streams:
            waiting = [asyncio.ensure_future(s.done.wait()) for s in streams]
            _, pending = await asyncio.wait(waiting, timeout=grace_seconds)
            for item in pending:
                item.cancel()
            for stream in list(self.streams.values()):
                stream.cancel("shutdown")
        here = asyncio.get_running_loop()
        mine = [task for task in self._tasks if task.get_loop() is here]
        if mine:
            await asyncio.wait(mine, timeout=10)
        if self._listener is not None:
            self._listener.cancel()
        from chat.providers.common import aclose_http_client

        await aclose_http_client()


runner = Runner()
