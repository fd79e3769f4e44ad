from __future__ import annotations

from typing import ClassVar

from kinds.specs.base import Ref, Resource, SpecModel


class TeamMember(SpecModel):
    botRef: Ref
    prompt: str | None = None
    role: str | None = None
    requireConfirmation: bool = False


class TeamSpec(SpecModel):
    members: list[TeamMember]
    collaborationModel: str
    bind_mode: list[str] | None = None
    description: str | None = None
    icon: str | None = None
    requiresWorkspace: bool | None = None


class Team(Resource):
    KIND: ClassVar[str] = "Team"
    spec: TeamSpec
