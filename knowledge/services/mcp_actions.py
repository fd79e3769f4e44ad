"""What the Knowledge MCP server's tools do (reference extras §1.11), as the user a task token
acts for: sync functions for a database thread, through the same services and the one gate
(``knowledge.selectors.can``) as the REST routes.

A task token is ``Authorization: Bearer <JWT>`` with ``type`` ``task_token`` (the reference's)
or ``task`` (what this server's executor payload issues as ``task_token``), signed with the
server's JWT key, naming a user and a task that user may still open.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Mapping
from typing import Any

import jwt
from django.conf import settings

from accounts.models import User
from kinds import selectors as kind_selectors
from kinds.models import DEFAULT_NAMESPACE
from knowledge import selectors, shapes, specs
from knowledge.models import KnowledgeDocument
from knowledge.services import bases, documents
from tasks import selectors as task_selectors
from tasks.services import attachments
from wegent.errors import DomainError

TOKEN_TYPES = ("task_token", "task")
MAX_CONTENT_CHARS = 5_000_000
MCP_SCORE_THRESHOLD = 0.5  # knowledge bases made through MCP (the reference's choice)


class TokenRefused(Exception):
    pass


# --- who is calling ---------------------------------------------------------------------------------


def actor_for_token(raw: str) -> User:
    """The user a task token acts for; raises ``TokenRefused``."""
    try:
        claims = jwt.decode(raw, settings.JWT_SECRET_KEY, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError:
        raise TokenRefused("Invalid or expired task token") from None
    user_id, task_id = claims.get("user_id"), claims.get("task_id")
    if claims.get("type") not in TOKEN_TYPES:
        raise TokenRefused("Not a task token")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (user_id, task_id)):
        raise TokenRefused("Invalid task token")
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise TokenRefused("The task token's user no longer exists")
    try:
        task_selectors.accessible_task(user, task_id)
    except DomainError:
        raise TokenRefused("The task token's task is gone") from None
    return user


def bearer(headers: Mapping[str, str] | None) -> str:
    value = (headers or {}).get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRefused("A task token is required (Authorization: Bearer)")
    return token.strip()


# --- what the tools do (sync, in a database thread) -------------------------------------------------


def kb_list(actor: User, scope: str) -> list[dict[str, Any]]:
    if scope not in ("all", "personal", "group", "organization"):
        raise ValueError("scope must be one of all, personal, group, organization")
    rows = list(selectors.for_user(actor, scope=scope))
    counts = selectors.document_counts([kb.pk for kb in rows])
    return [shapes.mcp_knowledge_base(kb, counts.get(kb.pk, 0)) for kb in rows]


def doc_list(actor: User, kb_id: int) -> list[dict[str, Any]]:
    kb = selectors.readable_kb(actor, kb_id)
    return [shapes.mcp_document(doc) for doc in selectors.documents_of(kb.pk).order_by("id")]


def _first_embedding_model(actor: User) -> str | None:
    """The first embedding model the user may use (their own, then public), by id."""
    rows = kind_selectors.visible_rows(actor, "Model", groups=[]).order_by("owner_id", "id")
    own_first = sorted(rows, key=lambda row: (row.owner_id != actor.pk, row.pk))
    return next((row.name for row in own_first if selectors.model_category(row) == "embedding"), None)


def kb_create(actor: User, name: str, description: str, namespace: str, kb_type: str) -> dict[str, Any]:
    if kb_type not in (specs.NOTEBOOK, specs.CLASSIC):
        raise ValueError("kb_type must be notebook or classic")
    model = _first_embedding_model(actor)
    retrieval = (
        {
            "retriever_name": None,
            "retriever_namespace": DEFAULT_NAMESPACE,
            "embedding_config": {"model_name": model, "model_namespace": DEFAULT_NAMESPACE},
            "retrieval_mode": specs.VECTOR,
            "top_k": specs.DEFAULT_TOP_K,
            "score_threshold": MCP_SCORE_THRESHOLD,
            "hybrid_weights": None,
        }
        if model
        else None
    )
    kb = bases.create(
        actor=actor,
        data=bases.KnowledgeBaseInput(
            name=name.strip(),
            description=description,
            namespace=namespace,
            kb_type=kb_type,
            retrieval_config=retrieval,
        ),
    )
    return shapes.mcp_knowledge_base(kb, 0)


def _filename(name: str, extension: str) -> str:
    cleaned = re.sub(r"[^\w\- .]+", "_", name).strip(" ._")[:200] or "document"
    suffix = extension.lower().lstrip(".")
    return cleaned if not suffix or cleaned.lower().endswith(f".{suffix}") else f"{cleaned}.{suffix}"


def doc_create(
    actor: User, kb_id: int, name: str, content: str | None, file_base64: str | None, file_extension: str
) -> dict[str, Any]:
    """A document from text (``content``) or a file (``file_base64``), queued for indexing."""
    selectors.writable_kb(actor, kb_id)  # before storing anything
    if (content is None) == (file_base64 is None):
        raise ValueError("Give exactly one of content or file_base64")
    if content is not None:
        data, extension, source = content.encode(), file_extension or "md", KnowledgeDocument.TEXT
    else:
        try:
            data = base64.b64decode(file_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("file_base64 is not valid base64") from None
        if not file_extension:
            raise ValueError("file_extension is required with file_base64")
        extension, source = file_extension, KnowledgeDocument.FILE
    if not data:
        raise ValueError("The document is empty")
    filename = _filename(name, extension)
    attachment = attachments.upload_attachment(
        actor=actor, filename=filename, file=io.BytesIO(data), size=len(data)
    )
    doc = documents.create(
        actor=actor,
        kb_id=kb_id,
        data=documents.DocumentInput(
            name=filename,
            attachment_id=attachment.pk,
            file_extension=filename.rsplit(".", 1)[-1],
            file_size=len(data),
            source_type=source,
        ),
    )
    doc.refresh_from_db()
    return shapes.mcp_document(doc)


def doc_update(actor: User, doc_id: int, content: str) -> dict[str, Any]:
    doc = documents.update_content(actor=actor, doc_id=doc_id, content=content)
    doc.refresh_from_db()
    return shapes.mcp_document(doc)
