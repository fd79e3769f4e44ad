from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from kinds.specs import read
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


@dataclass(frozen=True)
class MemberView:
    """One entry of ``spec.members``; ``raw`` is the stored entry (chat reads its prompt)."""

    bot_ref: dict[str, Any] | None
    prompt: str
    role: str
    require_confirmation: bool
    raw: dict[str, Any]

    @classmethod
    def of(cls, member: dict[str, Any]) -> MemberView:
        return cls(
            bot_ref=read.ref(member.get("botRef")),
            prompt=read.text(member.get("prompt")),
            role=read.text(member.get("role")),
            require_confirmation=bool(member.get("requireConfirmation")),
            raw=member,
        )

    @property
    def bot_name(self) -> str:
        return read.text(self.bot_ref.get("name")) if self.bot_ref is not None else ""


def _members(value: Any) -> tuple[MemberView, ...]:
    entries = value if isinstance(value, list) else []
    return tuple(MemberView.of(entry) for entry in entries if isinstance(entry, dict))


@dataclass(frozen=True)
class TeamView(read.SpecView):
    """A Team's spec as readers see it: members in order (entries that are not objects skipped)."""

    members: tuple[MemberView, ...] = field(default=(), metadata=read.reads("members", _members))
    collaboration_model: str = field(default="", metadata=read.reads("collaborationModel", read.text))
