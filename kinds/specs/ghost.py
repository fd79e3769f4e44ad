from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from kinds.specs import read
from kinds.specs.base import Resource, SpecModel


class GhostSpec(SpecModel):
    systemPrompt: str
    mcpServers: dict[str, Any] | None = None
    skills: list[str] | None = None
    preload_skills: list[str] | None = None


class Ghost(Resource):
    KIND: ClassVar[str] = "Ghost"
    spec: GhostSpec


@dataclass(frozen=True)
class GhostView(read.SpecView):
    """A Ghost's spec as readers see it."""

    system_prompt: str = field(default="", metadata=read.reads("systemPrompt", read.text))
    mcp_servers: dict[str, Any] = field(default_factory=dict, metadata=read.reads("mcpServers", read.mapping))
    skills: tuple[str, ...] = field(default=(), metadata=read.reads("skills", read.strings))
    preload_skills: tuple[str, ...] = field(default=(), metadata=read.reads("preload_skills", read.strings))
