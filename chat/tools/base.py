"""What a tool is to the chat runner, and what a tool source gives it for one turn.

The runner's tool loop (``chat/tools/loop.py``) only sees ``Tool`` objects in a ``Toolbox``.
Every source (MCP servers, skills, built-ins) turns what it knows into ``Tool``s when a turn
opens, and releases what it holds (sessions, pending requests) when the toolbox closes. A
source that cannot open (an MCP server that is down, a skill that is missing) does not fail the
turn: it adds a ``Problem``, which the runner shows as a thinking step and tells the model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class ToolError(Exception):
    """A tool failed in a way the model should read (bad arguments, the server answered an
    error, a timeout). ``message`` goes back to the model as the tool's result."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ToolSpec:
    """How the model sees a tool: OpenAI/Anthropic function definitions are built from it."""

    name: str
    description: str
    # A JSON Schema object (``{"type": "object", "properties": {...}, "required": [...]}``).
    parameters: dict[str, Any]


@dataclass(frozen=True)
class TurnContext:
    """Who the turn is for and what it is about: tools read this, never the request."""

    user_id: int
    user_name: str
    task_id: int
    subtask_id: int
    team_namespace: str = "default"
    team_name: str = ""
    bot_name: str = ""
    # Attachment ids of the user message this turn answers (the file reader's scope).
    attachment_ids: tuple[int, ...] = ()
    # Names of skills the message asked for on top of the Ghost's (``additional_skills``).
    additional_skills: tuple[str, ...] = ()
    # The message asked for web search (``enable_web_search``), and with which engine ("" = the
    # server's first); the tool is offered only when the server has it on as well.
    web_search: bool = False
    search_engine: str = ""
    # Knowledge base ids the message picked (``contexts`` of type ``knowledge_base``); the
    # knowledge source adds the task's bound ones itself.
    knowledge_base_ids: tuple[int, ...] = ()
    # Knowledge base ids bound to the task (``spec.knowledgeBaseRefs``), read from the task row.
    bound_knowledge_base_ids: tuple[int, ...] = ()
    # (knowledge base id, document ids, from the notebook's ``selected_documents``): the message
    # narrowed those knowledge bases to these documents.
    document_scopes: tuple[tuple[int, tuple[int, ...], bool], ...] = ()
    # Free-form data for ``${{...}}`` placeholders (reference realtime §3.4): user, task, team.
    placeholders: dict[str, Any] = field(default_factory=dict)


class Tool(Protocol):
    spec: ToolSpec

    async def run(self, arguments: dict[str, Any]) -> str:
        """The tool's result as text for the model; raises ``ToolError`` for a readable failure.
        Cancellation (the user cancelled the turn, the per-tool timeout) must stop it at once."""
        ...


@dataclass(frozen=True)
class Problem:
    """A tool source that could not open for this turn, told to the model and the user."""

    source: str  # e.g. "mcp:github", "skill:pdf"
    message: str


@dataclass
class Toolbox:
    """The tools of one turn, by name, and what must be released when the turn ends."""

    tools: dict[str, Tool] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Text a source adds to the system prompt for this turn (a preloaded skill's instructions).
    instructions: list[str] = field(default_factory=list)
    # Keys a source adds to the answer's stored and sent ``result`` (the knowledge source's
    # ``sources``); the runner merges them when the answer completes.
    result_extras: dict[str, Any] = field(default_factory=dict)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def add(self, tool: Tool) -> None:
        """Adds a tool; a second tool with the same name is kept apart by a numeric suffix so
        two MCP servers that both export ``search`` both stay callable."""
        name, n = tool.spec.name, 2
        while name in self.tools:
            name, n = f"{tool.spec.name}_{n}", n + 1
        if name != tool.spec.name:
            tool = _Renamed(tool, name)
        self.tools[name] = tool

    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self.tools.values()]

    @property
    def stack(self) -> contextlib.AsyncExitStack:
        """Sources enter their sessions here; ``aclose`` leaves them in reverse order."""
        return self._stack

    async def aclose(self) -> None:
        await self._stack.aclose()


@dataclass
class _Renamed:
    inner: Tool
    name: str

    @property
    def spec(self) -> ToolSpec:  # type: ignore[override]
        s = self.inner.spec
        return ToolSpec(self.name, s.description, s.parameters)

    async def run(self, arguments: dict[str, Any]) -> str:
        return await self.inner.run(arguments)


# A tool source: fills the toolbox for one turn (adds tools, or problems; never raises for a
# source that is merely unavailable). Registered in ``chat/tools/sources.py``.
ToolSource = Callable[[TurnContext, Any, Toolbox], Awaitable[None]]
