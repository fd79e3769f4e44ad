from __future__ import annotations

from typing import Any, ClassVar

from kinds.specs.base import Resource, SpecModel


class GhostSpec(SpecModel):
    systemPrompt: str
    mcpServers: dict[str, Any] | None = None
    skills: list[str] | None = None
    preload_skills: list[str] | None = None


class Ghost(Resource):
    KIND: ClassVar[str] = "Ghost"
    spec: GhostSpec
