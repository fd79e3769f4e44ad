from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field

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
