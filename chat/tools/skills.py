"""Skills as a tool source (reference realtime §3.4, §3.9, §7.1).

A turn's skills are the Ghost's ``spec.skills`` and ``spec.preload_skills`` plus the message's
``additional_skills``, each resolved for the user the way the Skills API does (their own skill,
then the team's group namespace, then the public one: ``kinds.skills.find_skill``).

What the model gets:
- ``skill_prompt``: the instructions (SKILL.md body) of the preloaded skills, for the runner to
  add to the system prompt when the turn opens. Preloaded are the Ghost's ``preload_skills`` and
  the skills the user picked for this message (``additional_skills``).
- ``load_skill(skill_name)``: the instructions of any of the turn's skills, as its result.
- The skills' declared tools (``spec.tools``) whose ``provider`` is ``browser``: each runs in the
  user's browser through ``skill:request`` / ``skill:response`` (``chat.skill_requests``), with
  ``config.action`` (default: the tool's name) as the action and the model's arguments as
  ``data``; ``config.description`` and ``config.parameters`` (a JSON Schema) describe it.

Where this differs from the reference: there, ``load_skill`` adds the skill's tools to the
running agent, and tools come from Python providers inside the uploaded package. Here the
toolbox is fixed when the turn opens, so the declared browser tools of every skill of the turn
are offered from the start; uploaded code is never run, so other providers are reported to the
model as unavailable (a ``Problem``). A skill's own ``mcpServers`` are connected for the turn
through the MCP source (``mcp.add_servers``), named ``<skill>.<server>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from accounts.models import User
from chat.skill_requests import SkillRequestError, SkillRequestTimeout, registry
from chat.tools import mcp
from chat.tools.base import Problem, Toolbox, ToolError, ToolSpec, TurnContext
from kinds import skills as kind_skills
from wegent.realtime.db import run_sync

LOAD_SKILL = "load_skill"
BROWSER_PROVIDER = "browser"
# A turn names at most this many skills (the message's own list is capped at 50 on the wire).
MAX_SKILLS = 64
# SKILL.md bodies can be up to 1 MB; what the model reads of one is cut here.
MAX_INSTRUCTIONS_CHARS = 40_000
# Preloaded instructions in the system prompt, all skills together.
MAX_PROMPT_CHARS = 120_000
MAX_DESCRIPTION_CHARS = 500
# What a browser tool's result may put in front of the model.
MAX_RESULT_CHARS = 40_000
# Function names the providers accept (OpenAI: ^[a-zA-Z0-9_-]{1,64}$).
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ANY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": True}


@dataclass(frozen=True)
class BrowserToolDef:
    name: str
    action: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class TurnSkill:
    name: str
    description: str
    row_id: int
    tools: tuple[BrowserToolDef, ...] = ()
    # Declared tools this server cannot run (server-side providers, malformed entries).
    unsupported: tuple[str, ...] = ()
    # The skill's own ``mcpServers``: connected for the turn like the Ghost's.
    mcp_servers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnSkills:
    skills: dict[str, TurnSkill] = field(default_factory=dict)
    missing: tuple[str, ...] = ()


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n\n[... {len(text) - limit} more characters not shown]"


def skill_names(ghost: Any, additional: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(every skill of the turn, the preloaded ones), in order, without repeats."""
    ghost_skills = tuple(getattr(ghost, "skills", ())) if ghost is not None else ()
    ghost_preload = tuple(getattr(ghost, "preload_skills", ())) if ghost is not None else ()
    preload = list(dict.fromkeys(name for name in (*ghost_preload, *additional) if name))
    every = list(dict.fromkeys(name for name in (*ghost_skills, *preload) if name))
    return every[:MAX_SKILLS], [name for name in preload if name in every[:MAX_SKILLS]]


def _tool_defs(skill_name: str, spec: dict[str, Any]) -> tuple[tuple[BrowserToolDef, ...], tuple[str, ...]]:
    tools: list[BrowserToolDef] = []
    unsupported: list[str] = []
    declared = spec.get("tools")
    for entry in declared if isinstance(declared, list) else []:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            unsupported.append(repr(name)[:70])
            continue
        if entry.get("provider") != BROWSER_PROVIDER:
            unsupported.append(name)
            continue
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        action = config.get("action") if isinstance(config.get("action"), str) else name
        parameters = config.get("parameters")
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            parameters = _ANY_OBJECT
        description = config.get("description")
        if not isinstance(description, str) or not description.strip():
            description = f"Runs '{action}' of the '{skill_name}' skill in the user's browser."
        text = f"{description.strip()} (skill '{skill_name}': call {LOAD_SKILL} first for how to use it)"
        tools.append(BrowserToolDef(name, action, _clip(text, MAX_DESCRIPTION_CHARS), parameters))
    return tuple(tools), tuple(unsupported)


def resolve_skills(user_id: int, namespace: str, names: list[str]) -> TurnSkills:
    """The skills ``names`` as ``user_id`` sees them (own -> ``namespace`` group -> public)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    found: dict[str, TurnSkill] = {}
    missing: list[str] = []
    for name in names:
        row = kind_skills.find_skill(user, name, namespace) if user is not None else None
        if row is None:
            missing.append(name)
            continue
        spec = row.spec
        tools, unsupported = _tool_defs(name, spec)
        description = spec.get("description") if isinstance(spec.get("description"), str) else ""
        found[name] = TurnSkill(
            name=name,
            description=_clip(description.strip(), MAX_DESCRIPTION_CHARS),
            row_id=row.pk,
            tools=tools,
            unsupported=unsupported,
            mcp_servers=_mcp_servers(spec.get("mcpServers")),
        )
    return TurnSkills(found, tuple(missing))


def instructions(row_id: int) -> str:
    """A skill's SKILL.md body, bounded (empty when the skill is gone since the turn opened)."""
    row = kind_skills.active_skill(row_id)
    return _clip(kind_skills.skill_instructions(row), MAX_INSTRUCTIONS_CHARS) if row is not None else ""


# --- the tools ------------------------------------------------------------------------------


class LoadSkill:
    """``load_skill(skill_name)``: the skill's instructions as the result."""

    def __init__(self, skills: dict[str, TurnSkill]) -> None:
        self._skills = skills
        self._loaded: dict[str, str] = {}
        listing = "\n".join(f"- {s.name}: {s.description}" for s in skills.values())
        description = (
            "Loads the instructions of a skill (its SKILL.md). Call it before a task one of these "
            f"skills covers, then follow what it says.\nSkills:\n{listing}"
        )
        self.spec = ToolSpec(
            LOAD_SKILL,
            description,
            {
                "type": "object",
                "properties": {"skill_name": {"type": "string", "description": "The skill's name"}},
                "required": ["skill_name"],
            },
        )

    async def run(self, arguments: dict[str, Any]) -> str:
        name = arguments.get("skill_name")
        skill = self._skills.get(name) if isinstance(name, str) else None
        if skill is None:
            available = ", ".join(self._skills) or "none"
            shown = repr(name)[:100] if not isinstance(name, str) else f"'{name[:100]}'"
            raise ToolError(f"Unknown skill {shown}. Available skills: {available}")
        text = self._loaded.get(skill.name)
        if text is None:
            text = self._loaded[skill.name] = await run_sync(instructions, skill.row_id)
        if not text:
            raise ToolError(f"Skill '{skill.name}' has no instructions")
        return text


def _error_text(error: Any) -> str:
    """The web client's error: a string, or ``{message, line?, column?, details?}``."""
    if isinstance(error, dict):
        message = str(error.get("message") or "failed")
        where = [f"{key} {error[key]}" for key in ("line", "column") if error.get(key) is not None]
        details = error.get("details")
        text = message + (f" ({', '.join(where)})" if where else "") + (f": {details}" if details else "")
        return _clip(text, MAX_RESULT_CHARS)
    return _clip(str(error) if error else "failed", MAX_RESULT_CHARS)


class BrowserTool:
    """A skill tool the user's browser runs (``skill:request`` to the task's room)."""

    def __init__(self, ctx: TurnContext, skill_name: str, tool: BrowserToolDef) -> None:
        self._ctx = ctx
        self._skill = skill_name
        self._action = tool.action
        self.spec = ToolSpec(tool.name, tool.description, tool.parameters)

    async def run(self, arguments: dict[str, Any]) -> str:
        try:
            outcome = await registry.request(
                user_id=self._ctx.user_id,
                task_id=self._ctx.task_id,
                skill_name=self._skill,
                action=self._action,
                data=arguments,
            )
        except SkillRequestTimeout as exc:
            raise ToolError(f"'{self.spec.name}' ({self._skill}) timed out: {exc}") from None
        except SkillRequestError as exc:
            raise ToolError(f"'{self.spec.name}' ({self._skill}) failed: {exc}") from None
        if not outcome.success:
            raise ToolError(f"'{self.spec.name}' ({self._skill}) failed: {_error_text(outcome.error)}")
        result = outcome.result
        text = result if isinstance(result, str) else orjson.dumps(result).decode()
        return _clip(text, MAX_RESULT_CHARS)


# --- the source and the prompt -----------------------------------------------------------------


async def skill_source(ctx: TurnContext, ghost: Any, toolbox: Toolbox) -> None:
    """Adds ``load_skill`` and the skills' browser tools; unknown skills and tools this server
    cannot run become problems (the turn goes on without them)."""
    names, _ = skill_names(ghost, ctx.additional_skills)
    if not names:
        return
    turn = await run_sync(resolve_skills, ctx.user_id, ctx.team_namespace, names)
    prompt = await skill_prompt(ctx, ghost)
    if prompt:
        toolbox.instructions.append(prompt)
    for name in turn.missing:
        toolbox.problems.append(Problem(f"skill:{name}", f"Skill '{name}' was not found"))
    for skill in turn.skills.values():
        if skill.unsupported:
            listed = ", ".join(skill.unsupported)
            message = f"Tools of skill '{skill.name}' that this server cannot run: {listed}"
            toolbox.problems.append(Problem(f"skill:{skill.name}", message))
        for tool in skill.tools:
            toolbox.add(BrowserTool(ctx, skill.name, tool))
    if turn.skills:
        toolbox.add(LoadSkill(turn.skills))
    # Named ``<skill>.<server>`` so two skills' servers (or a Ghost's) never shadow each other.
    servers = {f"{s.name}.{name}": raw for s in turn.skills.values() for name, raw in s.mcp_servers.items()}
    await mcp.add_servers(ctx, servers, toolbox)


def _mcp_servers(raw: Any) -> dict[str, Any]:
    """A skill's ``mcpServers`` map; anything else (a list, a string) is treated as none."""
    return {str(name): config for name, config in raw.items()} if isinstance(raw, dict) else {}


def preloaded_prompt(user_id: int, namespace: str, ghost: Any, additional: tuple[str, ...]) -> str:
    """``skill_prompt`` for synchronous callers (the turn being prepared in a database thread)."""
    _, preload = skill_names(ghost, additional)
    if not preload:
        return ""
    turn = resolve_skills(user_id, namespace, preload)
    parts: list[str] = []
    budget = MAX_PROMPT_CHARS
    for skill in turn.skills.values():
        text = instructions(skill.row_id)
        if not text:
            continue
        block = f'<skill name="{skill.name}">\n{text}\n</skill>'
        if len(block) > budget:
            parts.append(f'<skill name="{skill.name}">Too long to preload: call {LOAD_SKILL}.</skill>')
            continue
        budget -= len(block)
        parts.append(block)
    if not parts:
        return ""
    heading = "Instructions of the skills loaded for this conversation:"
    return "<skills>\n" + heading + "\n" + "\n".join(parts) + "\n</skills>"


async def skill_prompt(ctx: TurnContext, ghost: Any) -> str:
    """What the runner appends to the system prompt when the turn opens: the preloaded skills'
    instructions ("" when there are none)."""
    return await run_sync(preloaded_prompt, ctx.user_id, ctx.team_namespace, ghost, ctx.additional_skills)
