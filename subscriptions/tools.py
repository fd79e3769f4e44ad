"""``silent_exit``: the tool a subscription run's agent calls when nothing needs the user's
attention (reference extras §2.5); the run then ends COMPLETED_SILENT (no timeline entry).

Offered only in answers that a subscription run is streaming in this process (``runs``
registers them while it streams), so ordinary chat turns cost nothing: no query, no tool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chat.tools.base import Toolbox, ToolSpec, TurnContext
from chat.tools.sources import SOURCES
from subscriptions.services import executions
from wegent.realtime.db import run_sync

MAX_REASON = 500
# Task id -> the execution whose run streams the task's answers here (every member's answer of
# a multi-bot team), while it runs.
silenceable: dict[int, int] = {}


@dataclass
class SilentExit:
    execution_id: int
    spec: ToolSpec = field(
        default_factory=lambda: ToolSpec(
            name="silent_exit",
            description=(
                "Call this when this scheduled run found nothing that needs the user's attention: "
                "the run ends silently, without a feed entry or notification."
            ),
            parameters={
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "Why nothing is reported."}},
                "required": [],
            },
        )
    )

    async def run(self, arguments: dict[str, Any]) -> str:
        reason = str(arguments.get("reason") or "Nothing to report")[:MAX_REASON]
        await run_sync(executions.mark_silent, self.execution_id, reason)
        return "This run will end silently; finish with a short note of why."


async def silent_exit_source(ctx: TurnContext, ghost: Any, toolbox: Toolbox) -> None:
    execution_id = silenceable.get(ctx.task_id)
    if execution_id is not None:
        toolbox.add(SilentExit(execution_id))


def register() -> None:
    if silent_exit_source not in SOURCES:
        SOURCES.append(silent_exit_source)
