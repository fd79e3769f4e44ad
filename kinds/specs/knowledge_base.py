from __future__ import annotations

from typing import Any, ClassVar

from kinds.specs.base import Resource, SpecModel


class KnowledgeBaseSpec(SpecModel):
    """Stored as a Kind row; its own routes (the knowledge app) own the detailed rules."""

    name: str
    description: str | None = None
    kbType: str | None = "notebook"
    retrievalConfig: dict[str, Any] | None = None
    summaryEnabled: bool | None = False


class KnowledgeBase(Resource):
    KIND: ClassVar[str] = "KnowledgeBase"
    spec: KnowledgeBaseSpec
