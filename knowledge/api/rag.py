"""``/api/rag``: the low-level retrieval routes (reference extras §1.3 "Dify-style"): retrieve with
``metadata_condition``, documents of a knowledge base by ``doc_ref``, delete by ``doc_ref``,
index name, test connection. Every route checks access to ``knowledge_id`` through the one gate;
retrieval always runs on this deployment's built-in store (the named retriever is recorded on the
knowledge base, not dialled)."""

from __future__ import annotations

import json
from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge import selectors, specs
from knowledge.api.serializers import SplitterConfig, Text
from knowledge.services import documents, retrieval
from wegent.api.validation import validate_body, validate_query

TAGS = ["rag"]


class KnowledgeId(serializers.IntegerField):
    """The reference sends ``knowledge_id`` as a string of digits or a number."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and data.strip().isdigit():
            data = int(data.strip())
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class Condition(serializers.Serializer):
    key = Text(max_length=100)
    operator = serializers.ChoiceField(retrieval.CONDITION_OPERATORS)
    value = serializers.JSONField(required=False, allow_null=True)


class MetadataCondition(serializers.Serializer):
    operator = serializers.ChoiceField(["and", "or"], default="and")
    conditions = Condition(many=True, max_length=20)


class RetrieverRef(serializers.Serializer):
    name = Text(max_length=100, required=False, allow_null=True)
    namespace = Text(max_length=100, default="default")


class EmbeddingRef(serializers.Serializer):
    model_name = Text(max_length=100, required=False, allow_null=True)
    model_namespace = Text(max_length=100, default="default")


class Weights(serializers.Serializer):
    vector_weight = serializers.FloatField(min_value=0, max_value=1)
    keyword_weight = serializers.FloatField(min_value=0, max_value=1)


class RetrieveBody(serializers.Serializer):
    query = Text(min_length=1, max_length=2000)
    knowledge_id = KnowledgeId(min_value=1)
    retriever_ref = RetrieverRef(required=False)
    embedding_model_ref = EmbeddingRef(required=False)
    top_k = serializers.IntegerField(min_value=1, max_value=100, default=5)
    score_threshold = serializers.FloatField(min_value=0, max_value=1, default=0.7)
    retrieval_mode = serializers.ChoiceField(specs.MODES, default=specs.VECTOR)
    hybrid_weights = Weights(required=False, allow_null=True)
    metadata_condition = MetadataCondition(required=False, allow_null=True)


class Record(serializers.Serializer):
    content = serializers.CharField()
    score = serializers.FloatField()
    title = serializers.CharField()
    metadata = serializers.DictField()


class RetrieveOut(serializers.Serializer):
    records = Record(many=True)


class KnowledgeQuery(serializers.Serializer):
    knowledge_id = KnowledgeId(min_value=1)
    retriever_name = Text(max_length=100, required=False)
    retriever_namespace = Text(max_length=100, default="default")


class DocumentsQuery(KnowledgeQuery):
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=20)


class RagDocument(serializers.Serializer):
    doc_ref = serializers.CharField()
    source_file = serializers.CharField()
    chunk_count = serializers.IntegerField()


class DocumentsOut(serializers.Serializer):
    documents = RagDocument(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    knowledge_id = serializers.CharField()


class DeletedOut(serializers.Serializer):
    doc_ref = serializers.CharField()
    knowledge_id = serializers.CharField()
    deleted_chunks = serializers.IntegerField()
    status = serializers.CharField()


class IndexNameOut(serializers.Serializer):
    knowledge_id = serializers.CharField()
    index_name = serializers.CharField()
    index_strategy = serializers.CharField()


class ConnectionOut(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()


class RagUploadForm(serializers.Serializer):
    knowledge_id = KnowledgeId(min_value=1)
    file = serializers.FileField()
    retriever_name = Text(max_length=100, required=False)
    retriever_namespace = Text(max_length=100, default="default")
    embedding_model_name = Text(max_length=100, required=False)
    embedding_model_namespace = Text(max_length=100, default="default")
    splitter_config = Text(max_length=2000, required=False, allow_blank=True)


class UploadOut(serializers.Serializer):
    doc_ref = serializers.CharField()
    knowledge_id = serializers.CharField()
    source_file = serializers.CharField()
    chunk_count = serializers.IntegerField()
    index_name = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


def _splitter(raw: str | None) -> dict[str, Any]:
    """The form's ``splitter_config`` JSON text, checked like a document's."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValidationError({"splitter_config": ["Not valid JSON"]}) from None
    serializer = SplitterConfig(data=value)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class UploadView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": RagUploadForm},
        responses=UploadOut,
        tags=TAGS,
        operation_id="rag_upload",
    )
    def post(self, request: Request) -> Response:
        """Adds the file to the knowledge base and indexes it before answering (the reference's
        synchronous upload); a failed indexing answers 400 with its reason."""
        data = validate_body(RagUploadForm, request)
        upload = data["file"]
        doc = documents.upload_and_index(
            actor=request.user,
            kb_id=data["knowledge_id"],
            filename=upload.name,
            file=upload,
            size=upload.size,
            splitter_config=_splitter(data.get("splitter_config")),
        )
        return Response(
            {
                "doc_ref": doc.doc_ref,
                "knowledge_id": str(doc.kind_id),
                "source_file": doc.name,
                "chunk_count": doc.chunk_count,
                "index_name": f"wegent_kb_{doc.kind_id}",
                "status": "success",
                "created_at": doc.created_at,
            }
        )


class RetrieveView(APIView):
    @extend_schema(request=RetrieveBody, responses=RetrieveOut, tags=TAGS, operation_id="rag_retrieve")
    def post(self, request: Request) -> Response:
        data = validate_body(RetrieveBody, request)
        kb = selectors.readable_kb(request.user, data["knowledge_id"])
        weights = data.get("hybrid_weights") or {}
        query = retrieval.Query(
            text=data["query"],
            mode=data["retrieval_mode"],
            top_k=data["top_k"],
            score_threshold=data["score_threshold"],
            vector_weight=weights.get("vector_weight"),
            keyword_weight=weights.get("keyword_weight"),
            condition=_plain(data.get("metadata_condition")),
        )
        hits = retrieval.search(kb, query, user_name=request.user.user_name)
        return Response({"records": [hit.record() for hit in hits]})


def _plain(condition: Any) -> dict[str, Any] | None:
    if not condition:
        return None
    return {"operator": condition["operator"], "conditions": [dict(c) for c in condition["conditions"]]}


class DocumentsView(APIView):
    @extend_schema(
        parameters=[DocumentsQuery], tags=TAGS, operation_id="rag_documents", responses=DocumentsOut
    )
    def get(self, request: Request) -> Response:
        query = validate_query(DocumentsQuery, request)
        kb = selectors.readable_kb(request.user, query["knowledge_id"])
        rows = selectors.documents_of(kb.pk).filter(is_active=True).order_by("id")
        page, size = query["page"], query["page_size"]
        items = [
            {"doc_ref": doc.doc_ref, "source_file": doc.name, "chunk_count": doc.chunk_count}
            for doc in rows[(page - 1) * size : page * size]
        ]
        body = {"documents": items, "total": rows.count(), "page": page, "page_size": size}
        return Response({**body, "knowledge_id": str(kb.pk)})


class DeleteDocumentView(APIView):
    @extend_schema(
        parameters=[KnowledgeQuery], tags=TAGS, operation_id="rag_documents_delete", responses=DeletedOut
    )
    def delete(self, request: Request, doc_ref: int) -> Response:
        query = validate_query(KnowledgeQuery, request)
        doc, _ = selectors.readable_document(request.user, doc_ref, kb_id=query["knowledge_id"])
        chunks = doc.chunk_count
        documents.delete(actor=request.user, doc_id=doc.pk)
        return Response(
            {
                "doc_ref": str(doc_ref),
                "knowledge_id": str(query["knowledge_id"]),
                "deleted_chunks": chunks,
                "status": "deleted",
            }
        )


class IndexNameView(APIView):
    @extend_schema(
        parameters=[KnowledgeQuery], tags=TAGS, operation_id="rag_index_name", responses=IndexNameOut
    )
    def get(self, request: Request) -> Response:
        query = validate_query(KnowledgeQuery, request)
        kb = selectors.readable_kb(request.user, query["knowledge_id"])
        # One built-in store per database: every knowledge base is its own partition of it.
        return Response(
            {"knowledge_id": str(kb.pk), "index_name": f"wegent_kb_{kb.pk}", "index_strategy": "per_dataset"}
        )


class TestConnectionView(APIView):
    @extend_schema(request=None, tags=TAGS, operation_id="rag_test_connection", responses=ConnectionOut)
    def post(self, request: Request) -> Response:
        return Response({"success": True, "message": "The built-in knowledge store is available"})


urlpatterns = [
    path("rag/documents/upload", UploadView.as_view(), name="rag-upload"),
    path("rag/retrieve", RetrieveView.as_view(), name="rag-retrieve"),
    path("rag/documents", DocumentsView.as_view(), name="rag-documents"),
    path("rag/documents/<int:doc_ref>", DeleteDocumentView.as_view(), name="rag-document-delete"),
    path("rag/index-name", IndexNameView.as_view(), name="rag-index-name"),
    path("rag/test-connection", TestConnectionView.as_view(), name="rag-test-connection"),
]
