"""The tool loop's two halves the runner (``chat.streams``) drives: running the calls of one
model response (concurrently, each bounded in time, every failure turned into a result the
model reads), and the trace of what happened (text, reasoning and tool blocks, thinking steps)
that the browser is sent and the answer keeps.

A call never raises into the runner except by cancellation: bad JSON arguments, an unknown
tool, a ``ToolError``, any other exception and a timeout all become an error result.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from chat import protocol
from chat.providers.base import ToolCallRequest
from chat.tools.base import Problem, Toolbox, ToolError

logger = logging.getLogger(__name__)

# What the model reads of one tool result, and what a thinking step shows of a tool's input and
# output (the steps go out with every tool chunk and are saved with the answer: kept small).
MAX_RESULT_CHARS = 100_000
MAX_SHOWN_CHARS = 2_000


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters cut)"


@dataclass(frozen=True)
class CallOutcome:
    request: ToolCallRequest
    output: str  # what the model reads
    error: str | None = None

    def message(self) -> dict[str, Any]:
        """The provider-neutral ``tool`` message (``chat.providers.base``)."""
        return {
            "role": "tool",
            "tool_call_id": self.request.id,
            "name": self.request.name,
            "content": self.output,
            "is_error": self.error is not None,
        }


def failed(request: ToolCallRequest, message: str) -> CallOutcome:
    return CallOutcome(request, f"Error: {message}", message)


def parse_arguments(request: ToolCallRequest) -> dict[str, Any]:
    """The call's arguments as an object; ``ToolError`` when the model wrote anything else."""
    try:
        value = json.loads(request.arguments or "{}")
    except ValueError as exc:
        raise ToolError(
            f"The arguments of {request.name} are not valid JSON ({exc.msg}); retry with a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise ToolError(f"The arguments of {request.name} must be a JSON object")
    return value


def shown_input(request: ToolCallRequest) -> Any:
    """The call's input as a thinking step shows it: the object, or the raw text when invalid."""
    try:
        value = json.loads(request.arguments or "{}")
    except ValueError:
        return _cut(request.arguments, MAX_SHOWN_CHARS)
    text = json.dumps(value, ensure_ascii=False)
    return value if len(text) <= MAX_SHOWN_CHARS else _cut(text, MAX_SHOWN_CHARS)


async def execute(toolbox: Toolbox, request: ToolCallRequest, timeout: float) -> CallOutcome:
    """Runs one call; cancellation (the user's cancel) is the only thing that propagates."""
    tool = toolbox.tools.get(request.name)
    if tool is None:
        known = ", ".join(sorted(toolbox.tools)) or "none"
        return failed(request, f"Unknown tool {request.name!r} (available: {known})")
    try:
        arguments = parse_arguments(request)
        # A tool may need longer than the per-tool limit (a team member writing a whole answer).
        async with asyncio.timeout(getattr(tool, "timeout", None) or timeout):
            output = await tool.run(arguments)
    except ToolError as exc:
        return failed(request, exc.message)
    except TimeoutError:
        return failed(request, f"Tool {request.name} timed out after {timeout:g}s")
    except Exception as exc:
        logger.exception("tool %s failed", request.name)
        detail = f": {str(exc)[:300]}" if str(exc) else ""
        return failed(request, f"Tool {request.name} failed ({type(exc).__name__}{detail})")
    if not isinstance(output, str):
        output = json.dumps(output, ensure_ascii=False, default=str)
    return CallOutcome(request, _cut(output, MAX_RESULT_CHARS))


class Trace:
    """The blocks and thinking steps of one answer, in the order they happened.

    Text blocks are positions in the answer's text (``value``): a text delta extends the open
    text block; any other block (reasoning, a tool) closes it, so text after a tool opens a new
    block. Nothing here runs per text delta but ``text_position`` (two attribute reads once a
    block is open), so a turn without tools pays nothing for it.
    """

    def __init__(self, shell_type: str) -> None:
        self.shell_type = shell_type
        self.thinking: list[dict[str, Any]] = []
        # Each block: a dict as sent, plus for text blocks ``_start``/``_end`` in the text.
        self._blocks: list[dict[str, Any]] = []
        self._text: dict[str, Any] | None = None
        self._reasoning: dict[str, Any] | None = None
        self._reasoning_parts: list[str] = []
        self._tools: dict[str, dict[str, Any]] = {}

    @property
    def rich(self) -> bool:
        """Anything besides text happened (the result then carries thinking and blocks)."""
        return (
            len(self._blocks) > 1
            or bool(self.thinking)
            or (bool(self._blocks) and self._blocks[0]["type"] != "text")
        )

    # --- text and reasoning

    def text_position(self, offset: int) -> tuple[str, int]:
        """The text block a delta at answer ``offset`` extends (opened if none is) and the
        delta's offset in it."""
        block = self._text
        if block is None:
            self._close_reasoning()
            block = self._text = {
                "id": f"text-{uuid.uuid4().hex[:12]}",
                "type": "text",
                "_start": offset,
                "_end": None,
                "status": "streaming",
                "timestamp": time.time(),
            }
            self._blocks.append(block)
        return block["id"], offset - block["_start"]

    def _close_text(self, offset: int) -> None:
        if self._text is not None:
            self._text["_end"] = offset
            self._text["status"] = "done"
            self._text = None

    def reasoning(self, text: str, offset: int) -> tuple[str, bool]:
        """Adds reasoning text; returns its block id and whether the block is new."""
        self._close_text(offset)
        new = self._reasoning is None
        if new:
            self._reasoning = protocol.thinking_block(
                f"thinking-{uuid.uuid4().hex[:12]}", "", "streaming", time.time()
            )
            self._reasoning_parts = []
            self._blocks.append(self._reasoning)
        self._reasoning_parts.append(text)
        assert self._reasoning is not None
        return self._reasoning["id"], new

    def _close_reasoning(self) -> None:
        if self._reasoning is not None:
            self._reasoning["content"] = "".join(self._reasoning_parts)
            self._reasoning["status"] = "done"
            self._reasoning = None

    # --- tools

    def tool_started(self, request: ToolCallRequest, offset: int) -> None:
        self._close_text(offset)
        self._close_reasoning()
        shown = shown_input(request)
        block = protocol.tool_block(
            f"tool-{request.id}",
            tool_use_id=request.id,
            tool_name=request.name,
            tool_input=shown,
            status="pending",
            timestamp=time.time(),
        )
        self._tools[request.id] = block
        self._blocks.append(block)
        self.thinking.append(
            protocol.thinking_step(
                title=f"Using tool {request.name}",
                run_id=request.id,
                kind=protocol.TOOL_USE,
                tool_name=request.name,
                status=protocol.STARTED,
                input=shown,
            )
        )

    def tool_ended(self, outcome: CallOutcome) -> None:
        request = outcome.request
        shown = _cut(outcome.output, MAX_SHOWN_CHARS)
        block = self._tools.get(request.id)
        if block is not None:
            block["status"] = "error" if outcome.error is not None else "done"
            block["tool_output"] = shown
        ok = outcome.error is None
        self.thinking.append(
            protocol.thinking_step(
                title=f"Tool {request.name} {'completed' if ok else 'failed'}",
                run_id=request.id,
                kind=protocol.TOOL_RESULT,
                tool_name=request.name,
                status=protocol.COMPLETED if ok else protocol.FAILED,
                output=shown if ok else None,
                error=outcome.error,
            )
        )

    def problem(self, problem: Problem) -> None:
        self.thinking.append(
            protocol.thinking_step(
                title=f"{problem.source} is unavailable",
                run_id=f"problem-{uuid.uuid4().hex[:8]}",
                kind=protocol.TOOL_RESULT,
                tool_name=problem.source,
                status=protocol.FAILED,
                error=problem.message,
            )
        )

    # --- views

    def blocks(self, text: str, *, final: bool = False) -> list[dict[str, Any]]:
        """The blocks as sent: text blocks with their content so far (``final``: all closed)."""
        out = []
        for block in self._blocks:
            if block["type"] == "text":
                end = block["_end"] if block["_end"] is not None else len(text)
                status = "done" if final or block["_end"] is not None else "streaming"
                out.append(
                    protocol.text_block(block["id"], text[block["_start"] : end], status, block["timestamp"])
                )
            elif block is self._reasoning:
                content = "".join(self._reasoning_parts)
                out.append({**block, "content": content, "status": "done" if final else "streaming"})
            else:
                out.append(dict(block))
        return out

    def view(self, text: str) -> dict[str, Any]:
        """A tool chunk's ``result`` (and the live state a joining reader gets)."""
        return protocol.tool_result_view(self.shell_type, self.thinking, self.blocks(text))

    def final(self, text: str, *, fallback_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The blocks of the ended answer (one text block when nothing but text happened) and
        the extra result keys (``thinking``, ``shell_type`` when anything else did)."""
        if not self._blocks:
            # No text and no tool ran; a source problem may still be in ``thinking`` and must
            # reach the user with the answer.
            only_text = [protocol.text_block(fallback_id, text, "done", time.time())]
            return only_text, (
                {"thinking": self.thinking, "shell_type": self.shell_type} if self.thinking else {}
            )
        blocks = self.blocks(text, final=True)
        if not self.rich:
            return blocks, {}
        return blocks, {"thinking": self.thinking, "shell_type": self.shell_type}
