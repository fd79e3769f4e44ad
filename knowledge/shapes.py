"""The wire shapes of knowledge bases, documents and chunks (reference extras §1.3), built in one
place for every route, event and tool that shows them."""

from __future__ import annotations

from typing import Any

from kinds.models import Kind
from knowledge import specs
from knowledge.models import KnowledgeChunk, KnowledgeDocument

MAX_DETAIL_CHARS = 100_000


def knowledge_base(kb: Kind, document_count: int) -> dict[str, Any]:
    """``KnowledgeBaseResponse``."""
    view = specs.KnowledgeBaseView.of(kb.spec)
    return {
        "id": kb.pk,
        "name": view.name,
        "description": view.description,
        "user_id": kb.owner_id or 0,
        "namespace": kb.namespace,
        "kb_type": view.kb_type,
        "document_count": document_count,
        "is_active": kb.is_active,
        "retrieval_config": view.retrieval_config,
        "summary_enabled": view.summary_enabled,
        "summary_model_ref": view.summary_model_ref,
        "summary": view.summary,
        "max_calls_per_conversation": view.max_calls,
        "exempt_calls_before_check": view.exempt_calls,
        "created_at": kb.created_at,
        "updated_at": kb.updated_at,
    }


def accessible_item(kb: Kind, document_count: int) -> dict[str, Any]:
    view = specs.KnowledgeBaseView.of(kb.spec)
    return {
        "id": kb.pk,
        "name": view.name,
        "description": view.description,
        "document_count": document_count,
        "updated_at": kb.updated_at,
    }


def document(doc: KnowledgeDocument) -> dict[str, Any]:
    """``KnowledgeDocumentResponse`` plus this server's indexing progress fields."""
    return {
        "id": doc.pk,
        "kind_id": doc.kind_id,
        "attachment_id": doc.attachment_id,
        "name": doc.name,
        "file_extension": doc.file_extension,
        "file_size": doc.file_size,
        "status": doc.status,
        "user_id": doc.user_id,
        "is_active": doc.is_active,
        "splitter_config": doc.splitter_config or None,
        "source_type": doc.source_type,
        "source_config": doc.source_config or {},
        "doc_ref": doc.doc_ref,
        "index_status": doc.index_status,
        "index_progress": doc.index_progress,
        "index_error": doc.index_error or None,
        "chunk_count": doc.chunk_count,
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
    }


def chunk_item(chunk: KnowledgeChunk) -> dict[str, Any]:
    return {
        "index": chunk.position,
        "content": chunk.content,
        "token_count": chunk.token_count,
        "start_position": chunk.start_position,
        "end_position": chunk.end_position,
    }


def detail(doc: KnowledgeDocument, text: str | None, *, include_summary: bool) -> dict[str, Any]:
    content = None if text is None else text[:MAX_DETAIL_CHARS]
    return {
        "document_id": doc.pk,
        "content": content,
        "content_length": None if text is None else len(text),
        "truncated": text is not None and len(text) > MAX_DETAIL_CHARS,
        "summary": doc.summary if include_summary else None,
    }


def mcp_knowledge_base(kb: Kind, count: int) -> dict[str, Any]:
    """A knowledge base as the Knowledge MCP server's tools list it."""
    view = specs.KnowledgeBaseView.of(kb.spec)
    return {
        "id": kb.pk,
        "name": view.name,
        "description": view.description,
        "namespace": kb.namespace,
        "kb_type": view.kb_type,
        "document_count": count,
        "rag_enabled": view.rag_enabled,
    }


def mcp_document(doc: KnowledgeDocument) -> dict[str, Any]:
    """A document as the Knowledge MCP server's tools list it."""
    return {
        "id": doc.pk,
        "name": doc.name,
        "file_extension": doc.file_extension,
        "file_size": doc.file_size,
        "status": doc.status,
        "is_active": doc.is_active,
        "source_type": doc.source_type,
        "index_status": doc.index_status,
        "created_at": doc.created_at.isoformat(),
    }
