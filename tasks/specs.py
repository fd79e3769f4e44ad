"""The Task and Workspace documents (reference §4.6, §4.7), validated like every Kind spec."""

from __future__ import annotations

from typing import Any, ClassVar

from kinds.specs.base import Ref, Resource, SpecModel


class Repository(SpecModel):
    gitUrl: str
    gitRepo: str
    gitRepoId: int | None = None
    branchName: str
    gitDomain: str


class WorkspaceSpec(SpecModel):
    repository: Repository


class Workspace(Resource):
    KIND: ClassVar[str] = "Workspace"
    spec: WorkspaceSpec


class TeamRef(Ref):
    user_id: int | None = None


class KnowledgeBaseRef(SpecModel):
    id: int | None = None
    name: str
    namespace: str = "default"
    boundBy: str | None = None
    boundAt: str | None = None


class TaskSpec(SpecModel):
    title: str
    prompt: str
    teamRef: TeamRef
    workspaceRef: Ref
    is_group_chat: bool = False
    knowledgeBaseRefs: list[KnowledgeBaseRef] | None = None
    device_id: str | None = None


class AppInfo(SpecModel):
    name: str | None = None
    address: str | None = None
    previewUrl: str | None = None


class TaskStatus(SpecModel):
    state: str = "Available"
    status: str = "PENDING"
    progress: int = 0
    result: dict[str, Any] | None = None
    errorMessage: str | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    completedAt: str | None = None
    app: dict[str, Any] | None = None


class Task(Resource):
    KIND: ClassVar[str] = "Task"
    spec: TaskSpec
    status: TaskStatus | None = None  # type: ignore[assignment]

    def normalised(self) -> dict[str, Any]:
        data = super().normalised()
        if self.status is None:
            data["status"] = TaskStatus().model_dump(mode="json")
        return data


SCHEMAS: dict[str, type[Resource]] = {"Task": Task, "Workspace": Workspace}
