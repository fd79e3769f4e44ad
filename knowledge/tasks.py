"""Celery tasks of the knowledge app: thin, the work is in ``knowledge.services``."""

from __future__ import annotations

from celery import shared_task

from knowledge.services import indexing, summaries


@shared_task(name="knowledge.index_document", ignore_result=True)
def index_document(document_id: int, generation: int) -> None:
    indexing.run(document_id, generation)


@shared_task(name="knowledge.generate_document_summary", ignore_result=True)
def generate_document_summary(document_id: int) -> None:
    summaries.summarise_document(document_id)


@shared_task(name="knowledge.update_kb_summary", ignore_result=True)
def update_kb_summary(kb_id: int) -> None:
    summaries.summarise_kb(kb_id)


def install() -> None:
    """Indexing and summary requests go to Celery (a worker, or inline when Celery runs eagerly)."""
    indexing.queue_with(index_document.delay)
    summaries.queue_with(generate_document_summary.delay, update_kb_summary.delay)
