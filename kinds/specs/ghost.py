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
class GhostView:
    """A Ghost's spec as readers see it."""

    system_prompt: str = ""
    mcp_servers: dict[str, Any] = field(default_factory=dict)
    skills: tuple[str, ...] = ()
    preload_skills: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: Any) -> GhostView:
        spec = read.mapping(spec)
        return cls(
            system_prompt=read.text(spec.get("systemPrompt")),
            mcp_servers=read.mapping(spec.get("mcpServers")),
            skills=read.strings(spec.get("skills")),
            preload_skills=read.strings(spec.get("preload_skills")),
        )
