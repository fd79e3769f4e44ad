"""The tool sources a turn draws from, in order. Each is ``async (ctx, ghost, toolbox)`` where
``ghost`` is the Team's first Bot's ``kinds.specs.ghost.GhostView`` (or None).

Sources register here (MCP servers, skills, built-ins) so the loop needs no knowledge of them.
"""

from __future__ import annotations

from typing import Any

from chat.tools import skills
from chat.tools.base import Toolbox, ToolSource, TurnContext
from chat.tools.mcp import mcp_source

# Skills first: the server's own tools keep their names, a Ghost's MCP tool of the same name
# gets the numeric suffix (``Toolbox.add``).
SOURCES: list[ToolSource] = [skills.skill_source, mcp_source]


async def open_toolbox(ctx: TurnContext, ghost: Any) -> Toolbox:
    """Opens every source for one turn; the caller must ``await toolbox.aclose()``."""
    toolbox = Toolbox()
    try:
        for source in SOURCES:
            await source(ctx, ghost, toolbox)
    except BaseException:
        await toolbox.aclose()
        raise
    return toolbox
