"""What the knowledge app plugs into the apps below it (installed by KnowledgeConfig.ready)."""

from __future__ import annotations

from knowledge import selectors
from tasks.services import task_knowledge


def install() -> None:
    task_knowledge.document_counters.register(selectors.document_counts)
