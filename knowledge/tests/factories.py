"""Knowledge bases, documents and embedding models for any app's tests (plain functions)."""

from __future__ import annotations

import io
from typing import Any

from accounts.models import User
from kinds.models import Kind
from kinds.tests.factories import make_kind, model_doc
from knowledge.models import KnowledgeDocument
from knowledge.services import bases, documents
from tasks.models import SubtaskContext
from tasks.services.attachments import upload_attachment


def embedding_model(actor: User, base_url: str, name: str = "embedder", model_id: str = "fake-embed") -> Kind:
    return make_kind(actor, model_doc(name, model_id=model_id, base_url=base_url, modelType="embedding"))


def rerank_model(actor: User, base_url: str, name: str = "reranker", model_id: str = "fake-rerank") -> Kind:
    return make_kind(actor, model_doc(name, model_id=model_id, base_url=base_url, modelType="rerank"))


def retrieval_config(model: str | None = "embedder", **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "retriever_name": None,
        "retriever_namespace": "default",
        "embedding_config": {"model_name": model, "model_namespace": "default"} if model else None,
        "retrieval_mode": "vector",
        "top_k": 5,
        "score_threshold": 0.0,
        "hybrid_weights": None,
    }
    config.update(overrides)
    return config


def make_kb(
    actor: User,
    name: str = "Docs",
    *,
    namespace: str = "default",
    rag: dict[str, Any] | None = None,
    kb_type: str = "classic",
) -> Kind:
    return bases.create(
        actor=actor,
        data=bases.KnowledgeBaseInput(name=name, namespace=namespace, kb_type=kb_type, retrieval_config=rag),
    )


def upload(actor: User, filename: str, content: bytes) -> SubtaskContext:
    return upload_attachment(actor=actor, filename=filename, file=io.BytesIO(content), size=len(content))


def add_document(
    actor: User, kb: Kind, filename: str, content: bytes, *, source_type: str = "file", **splitter: Any
) -> KnowledgeDocument:
    """Uploads ``content`` and adds it to ``kb``; with eager Celery it is indexed on return."""
    attachment = upload(actor, filename, content)
    doc = documents.create(
        actor=actor,
        kb_id=kb.pk,
        data=documents.DocumentInput(
            name=filename,
            attachment_id=attachment.pk,
            file_extension=filename.rsplit(".", 1)[-1],
            file_size=len(content),
            splitter_config=splitter,
            source_type=source_type,
        ),
    )
    doc.refresh_from_db()
    return doc


def make_group(name: str, owner: User, **members: str) -> Any:
    """A group owned by ``owner`` with ``members`` (user_name=role) of those users."""
    from accounts.models import Group, GroupMember
    from accounts.roles import GroupRole

    group = Group.objects.create(name=name, owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)
    for user_name, role in members.items():
        GroupMember.objects.create(group=group, user=User.objects.get(user_name=user_name), role=role)
    return group
