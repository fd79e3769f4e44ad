"""Summaries of documents and knowledge bases (reference extras §1.10), through the knowledge
base's summary model (``summaryModelRef``), as Celery tasks.

A document's summary is asked for once it is indexed (both ``SUMMARY_ENABLED`` and the knowledge
base's ``summaryEnabled`` on); the knowledge base's summary is rebuilt from its documents'
completed summaries after each one and after deletions. Status goes ``generating`` ->
``completed`` / ``failed`` (with ``error``). The model is asked for JSON
``{short_summary, long_summary, topics}``; an answer that is not JSON is kept as text (its start
as the short summary), so a model that ignores the format still yields a summary.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from kinds import selectors as kind_selectors
from kinds.connections import connection_for
from kinds.models import DEFAULT_NAMESPACE, Kind
from knowledge import embeddings, selectors, specs
from knowledge.exceptions import KnowledgeBadRequest
from knowledge.models import KnowledgeDocument

logger = logging.getLogger("wegent.knowledge")
MAX_INPUT_BYTES = 45_000  # the reference's ~50,000 bytes less a 10 % margin
GENERATING, COMPLETED, FAILED = "generating", "completed", "failed"
DOCUMENT_PROMPT = (
    "Summarise the document the user sends. Answer with one JSON object only: "
    '{"short_summary": "50 to 100 characters", "long_summary": "at most 500 characters", '
    '"topics": ["up to 5 short topics"]}.'
)
KB_PROMPT = (
    "The user sends the summaries and topics of the documents of a knowledge base. Summarise the "
    'knowledge base as one JSON object only: {"short_summary": "50 to 100 characters", '
    '"long_summary": "at most 500 characters", "topics": ["the 5 most representative topics"]}.'
)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def enabled(kb: Kind) -> bool:
    view = specs.KnowledgeBaseView.of(kb.spec)
    return settings.KNOWLEDGE_SUMMARY_ENABLED and view.summary_enabled and view.summary_model_ref is not None


def _model(kb: Kind) -> Kind:
    ref = specs.KnowledgeBaseView.of(kb.spec).summary_model_ref or {}
    name, namespace = str(ref.get("name") or ""), str(ref.get("namespace") or DEFAULT_NAMESPACE)
    kind = ref.get("type")
    row = None
    if name and kb.owner is not None:
        if namespace == DEFAULT_NAMESPACE:
            row = kind_selectors.usable_model(
                kb.owner, name, kind if kind in ("user", "group", "public") else None
            )
        else:
            row = kind_selectors.resolve(kb.owner, "Model", name, namespace)
    if row is None:
        raise KnowledgeBadRequest(f"Summary model '{name}' not found")
    return row


async def _ask(row: Kind, system: str, text: str) -> str:
    from kinds import model_clients  # the SDKs are large: imported when a model is called

    conn = connection_for(row, timeout=settings.KNOWLEDGE_SUMMARY_TIMEOUT)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    if conn.family == "anthropic":
        client = model_clients.anthropic_client(conn, model_clients.anthropic_base_url(conn.base_url or ""))
        try:
            reply = await client.messages.create(
                model=conn.model_id, system=system, max_tokens=1024, messages=messages[1:]
            )
        finally:
            await model_clients.aclose_http_client()
        return "".join(getattr(block, "text", "") for block in reply.content)
    client = model_clients.openai_client(conn, conn.base_url or "")
    try:
        completion = await client.chat.completions.create(
            model=conn.model_id, messages=messages, stream=False
        )
    finally:
        # Summaries are rare: the knowledge loop keeps no model connection pool open between them.
        await model_clients.aclose_http_client()
    return completion.choices[0].message.content or ""


def parse(answer: str) -> dict[str, Any]:
    """The model's answer as ``{short_summary, long_summary, topics}``."""
    match = re.search(r"\{.*\}", answer, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("short_summary"), str):
            topics = data.get("topics")
            return {
                "short_summary": data["short_summary"][:200],
                "long_summary": str(data.get("long_summary") or "")[:1000],
                "topics": [str(t)[:100] for t in topics][:10] if isinstance(topics, list) else [],
            }
    text = answer.strip()
    return {"short_summary": text[:100], "long_summary": text[:500], "topics": []}


def _call(row: Kind, system: str, text: str) -> dict[str, Any]:
    answer = embeddings.runner.run(_ask(row, system, text))
    if not answer.strip():
        raise KnowledgeBadRequest("The summary model answered nothing")
    return parse(answer)


def _cut(text: str) -> str:
    return text.encode()[:MAX_INPUT_BYTES].decode(errors="ignore")


def summarise_document(document_id: int) -> None:
    doc = selectors.document_row(document_id)
    kb = kind_selectors.row_by_id(selectors.KIND, doc.kind_id) if doc is not None else None
    if doc is None or kb is None or not enabled(kb):
        return
    KnowledgeDocument.objects.filter(pk=doc.pk).update(summary={"status": GENERATING, "updated_at": _now()})
    try:
        summary = {
            **_call(_model(kb), DOCUMENT_PROMPT, _cut(selectors.document_text(doc))),
            "status": COMPLETED,
        }
        summary["meta_info"] = {"document_name": doc.name}
    except Exception as exc:  # noqa: BLE001 - any failure is the summary's status, never the task's crash
        logger.warning("summary of document %s failed: %s", document_id, exc)
        summary = {"status": FAILED, "error": _reason(exc)}
    summary["updated_at"] = _now()
    KnowledgeDocument.objects.filter(pk=doc.pk).update(summary=summary)
    if summary["status"] == COMPLETED:
        _queue_kb(kb.pk)


def _reason(exc: Exception) -> str:
    detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {detail}"[:500]


def summarise_kb(kb_id: int) -> None:
    kb = kind_selectors.row_by_id(selectors.KIND, kb_id)
    if kb is None or not enabled(kb):
        return
    current = specs.KnowledgeBaseView.of(kb.spec).summary or {}
    docs = list(selectors.documents_of(kb_id).exclude(summary__isnull=True))
    done = [d for d in docs if isinstance(d.summary, dict) and d.summary.get("status") == COMPLETED]
    _write_kb_summary(kb_id, {**current, "status": GENERATING})
    try:
        if not done:
            raise KnowledgeBadRequest("No document has a summary yet")
        lines = [f"- {d.name}: {d.summary.get('short_summary', '')} ({_topics(d.summary)})" for d in done]
        summary = {**_call(_model(kb), KB_PROMPT, _cut("\n".join(lines))), "status": COMPLETED}
        summary["topics"] = summary["topics"][:5]
    except Exception as exc:  # noqa: BLE001 - as above
        summary = {"status": FAILED, "error": _reason(exc)}
    count = selectors.documents_of(kb_id).count()
    summary.update(
        meta_info={"document_count": count, "last_updated": _now()},
        updated_at=_now(),
        last_summary_doc_count=count,
    )
    _write_kb_summary(kb_id, summary)


def _topics(summary: dict[str, Any]) -> str:
    topics = summary.get("topics")
    return "topics: " + ", ".join(str(t) for t in topics) if isinstance(topics, list) else "no topics"


def _write_kb_summary(kb_id: int, summary: dict[str, Any]) -> None:
    with transaction.atomic():
        kb = kind_selectors.locked_row_by_id(selectors.KIND, kb_id)
        if kb is None:
            return
        kb.document = {**kb.document, "spec": {**kb.spec, "summary": summary}}
        kb.save(update_fields=["document", "updated_at"])


# --- queueing (Celery, filled in by knowledge.tasks; inline until then) -------------------------

_queue_document: Callable[[int], Any] = summarise_document
_queue_kb: Callable[[int], Any] = summarise_kb


def queue_with(document: Callable[[int], Any], kb: Callable[[int], Any]) -> None:
    global _queue_document, _queue_kb
    _queue_document, _queue_kb = document, kb


def after_indexed(doc: KnowledgeDocument, kb: Kind) -> None:
    """Asks for the document's summary once its indexing committed."""
    if enabled(kb):
        doc_id = doc.pk
        transaction.on_commit(lambda: _queue_document(doc_id), robust=True)


def after_deleted(kb: Kind) -> None:
    if enabled(kb):
        kb_id = kb.pk
        transaction.on_commit(lambda: _queue_kb(kb_id), robust=True)


def refresh_document(*, actor: Any, kb_id: int, doc_id: int) -> None:
    doc, kb = selectors.readable_document(actor, doc_id, kb_id=kb_id)
    selectors.writable_kb(actor, kb.pk)
    if not enabled(kb):
        raise KnowledgeBadRequest("Summaries are not enabled for this knowledge base")
    _queue_document(doc.pk)


def refresh_kb(*, actor: Any, kb_id: int) -> None:
    kb = selectors.writable_kb(actor, kb_id)
    if not enabled(kb):
        raise KnowledgeBadRequest("Summaries are not enabled for this knowledge base")
    _queue_kb(kb.pk)
