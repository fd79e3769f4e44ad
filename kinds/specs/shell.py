from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

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
class ShellView(read.SpecView):
    """A Shell's spec as readers see it."""

    shell_type: str = field(default="", metadata=read.reads("shellType", read.text))
    support_model: tuple[str, ...] = field(default=(), metadata=read.reads("supportModel", read.strings))
