from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kinds.specs.base import Resource, SpecModel, Status


class SkillTool(SpecModel):
    name: str
    provider: str | None = None
    config: dict[str, Any] | None = None


class SkillProvider(SpecModel):
    module: str = "provider"
    class_: str | None = Field(default=None, alias="class")


class SkillSource(SpecModel):
    type: str = "upload"
    repo_url: str | None = None
    skill_path: str | None = None
    imported_at: str | None = None


class SkillSpec(SpecModel):
    description: str
    displayName: str | None = None
    prompt: str | None = None
    version: str | None = None
    author: str | None = None
    tags: list[str] | None = None
    bindShells: list[str] | None = None
    config: dict[str, Any] | None = None
    tools: list[SkillTool] | None = None
    provider: SkillProvider | None = None
    mcpServers: dict[str, Any] | None = None
    source: SkillSource | None = None


class SkillStatus(Status):
    fileSize: int | None = None
    fileHash: str | None = None


class Skill(Resource):
    KIND: ClassVar[str] = "Skill"
    spec: SkillSpec
    status: SkillStatus | None = None
