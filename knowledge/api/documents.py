"""``/api/knowledge-documents``: update, reindex, delete, content, detail, batches, chunks and
one chunk for citation popups (reference extras §1.3)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from knowledge import selectors, shapes
from knowledge.api import serializers as s
from knowledge.services import documents
from wegent.api.validation import validate_body, validate_query

TAGS = ["knowledge"]
NOT_FOUND = OpenApiResponse(description='"Document not found"')


@extend_schema_view(
    update=extend_schema(request=s.DocumentUpdate, responses={200: s.DocumentOut, 404: NOT_FOUND}),
    destroy=extend_schema(responses={204: None, 404: NOT_FOUND}),
)
@extend_schema(tags=TAGS)
class KnowledgeDocumentViewSet(viewsets.ViewSet):
    lookup_field = "doc_id"
    lookup_value_converter = "int"

    def update(self, request: Request, doc_id: int) -> Response:
        data = validate_body(s.DocumentUpdate, request)
        splitter = data.get("splitter_config")
        doc = documents.update(
            actor=request.user,
            doc_id=doc_id,
            name=data.get("name"),
            status=data.get("status"),
            splitter_config=dict(splitter) if splitter is not None else None,
        )
        doc.refresh_from_db()
        return Response(shapes.document(doc))

    def destroy(self, request: Request, doc_id: int) -> Response:
        documents.delete(actor=request.user, doc_id=doc_id)
        return Response(status=204)

    @extend_schema(request=None, responses={200: s.ReindexOut, 404: NOT_FOUND})
    @action(detail=True, methods=["post"], url_path="reindex")
    def reindex(self, request: Request, doc_id: int) -> Response:
        doc = documents.reindex(actor=request.user, doc_id=doc_id)
        return Response({"success": True, "document_id": doc.pk, "message": "Reindex started"})

    @extend_schema(request=s.ContentUpdate, responses={200: s.DocumentOut, 404: NOT_FOUND})
    @action(detail=True, methods=["put"], url_path="content")
    def content(self, request: Request, doc_id: int) -> Response:
        content = validate_body(s.ContentUpdate, request)["content"]
        doc = documents.update_content(actor=request.user, doc_id=doc_id, content=content)
        doc.refresh_from_db()
        return Response(shapes.document(doc))

    @extend_schema(parameters=[s.DetailQuery], responses={200: s.DetailOut, 404: NOT_FOUND})
    @action(detail=True, methods=["get"], url_path="detail", url_name="detail")
    def document_detail(self, request: Request, doc_id: int) -> Response:
        query = validate_query(s.DetailQuery, request)
        doc, _ = selectors.readable_document(request.user, doc_id)
        text = selectors.document_text(doc) if query["include_content"] else None
        return Response(shapes.detail(doc, text, include_summary=query["include_summary"]))

    def _batch(self, request: Request, operation: str, verb: str) -> Response:
        ids = validate_body(s.BatchIds, request)["document_ids"]
        result = documents.batch(actor=request.user, doc_ids=ids, operation=operation)
        return Response(result.as_dict(verb))

    @extend_schema(request=s.BatchIds, responses={200: s.BatchOut})
    @action(detail=False, methods=["post"], url_path="batch/delete", url_name="batch-delete")
    def batch_delete(self, request: Request) -> Response:
        return self._batch(request, "delete", "deleted")

    @extend_schema(request=s.BatchIds, responses={200: s.BatchOut})
    @action(detail=False, methods=["post"], url_path="batch/enable", url_name="batch-enable")
    def batch_enable(self, request: Request) -> Response:
        return self._batch(request, "enable", "enabled")

    @extend_schema(request=s.BatchIds, responses={200: s.BatchOut})
    @action(detail=False, methods=["post"], url_path="batch/disable", url_name="batch-disable")
    def batch_disable(self, request: Request) -> Response:
        return self._batch(request, "disable", "disabled")

    @extend_schema(parameters=[s.ChunksQuery], responses={200: s.ChunkListOut, 404: NOT_FOUND})
    @action(detail=True, methods=["get"], url_path="chunks")
    def chunks(self, request: Request, doc_id: int) -> Response:
        query = validate_query(s.ChunksQuery, request)
        doc, _ = selectors.readable_document(request.user, doc_id)
        rows = selectors.chunks_of(doc)
        if query.get("search"):
            rows = rows.filter(content__icontains=query["search"])
        total = rows.count()
        page, size = query["page"], query["page_size"]
        items = [shapes.chunk_item(c) for c in rows[(page - 1) * size : page * size]]
        return Response(
            {
                "total": total,
                "page": page,
                "page_size": size,
                "items": items,
                "splitter_type": doc.splitter_type or None,
                "splitter_subtype": doc.splitter_subtype or None,
            }
        )

    @extend_schema(
        responses={200: s.ChunkOut, 404: OpenApiResponse(description='"Chunk not found"')},
        operation_id="knowledge_documents_chunk_retrieve",
    )
    @action(detail=True, methods=["get"], url_path="chunks/<int:chunk_index>", url_name="chunk")
    def chunk(self, request: Request, doc_id: int, chunk_index: int) -> Response:
        doc, row = documents.chunk(actor=request.user, doc_id=doc_id, index=chunk_index)
        return Response(
            {
                "index": row.position,
                "content": row.content,
                "token_count": row.token_count,
                "document_name": doc.name,
                "document_id": doc.pk,
                "kb_id": doc.kind_id,
            }
        )


router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("knowledge-documents", KnowledgeDocumentViewSet, basename="knowledge-document")
urlpatterns = router.urls
