from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import AliasChoices, Field

from kinds.specs import read
from kinds.specs.base import Resource, SpecModel


class ShellSpec(SpecModel):
    shellType: str = Field(validation_alias=AliasChoices("shellType", "runtime"))
    supportModel: list[str] | None = None
    baseImage: str | None = None
    baseShellRef: str | None = None
    requiresWorkspace: bool | None = None


class Shell(Resource):
    KIND: ClassVar[str] = "Shell"
    spec: ShellSpec


@dataclass(frozen=True)
class ShellView:
    """A Shell's spec as readers see it."""

    shell_type: str = ""
    support_model: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: Any) -> ShellView:
        spec = read.mapping(spec)
        return cls(
            shell_type=read.text(spec.get("shellType")), support_model=read.strings(spec.get("supportModel"))
        )
