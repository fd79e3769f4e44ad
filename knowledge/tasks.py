"""Celery tasks of the knowledge app: thin, the work is in ``knowledge.services``."""

from __future__ import annotations

from celery import shared_task

from knowledge.services import indexing


@shared_task(name="knowledge.index_document", ignore_result=True)
def index_document(document_id: int, generation: int) -> None:
    indexing.run(document_id, generation)


def install() -> None:
    """Indexing requests go to Celery (a worker, or inline when Celery runs eagerly)."""
    indexing.queue_with(index_document.delay)
