"""``/api/knowledge-bases``: list by scope, accessible, config, organization namespace, CRUD,
type, documents and document detail (reference extras §1.3). A CRUD resource, so a ViewSet on a
router (DESIGN §3); the views parse, call one service or selector, and shape with
``knowledge.shapes``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts import selectors as account_selectors
from knowledge import selectors, shapes
from knowledge.api import serializers as s
from knowledge.services import bases, documents, summaries
from wegent.api.validation import validate_body, validate_query

TAGS = ["knowledge"]
NOT_FOUND = OpenApiResponse(description='"Knowledge base not found"')
BAD = OpenApiResponse(description="summaries are not enabled")


def kb_out(kb: Any) -> dict[str, Any]:
    return shapes.knowledge_base(kb, selectors.document_counts([kb.pk]).get(kb.pk, 0))


def _retrieval(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}


@extend_schema_view(
    list=extend_schema(parameters=[s.ListQuery], responses=s.KnowledgeBaseListOut),
    create=extend_schema(request=s.KnowledgeBaseCreate, responses={201: s.KnowledgeBaseOut}),
    retrieve=extend_schema(responses={200: s.KnowledgeBaseOut, 404: NOT_FOUND}),
    update=extend_schema(request=s.KnowledgeBaseUpdate, responses={200: s.KnowledgeBaseOut, 404: NOT_FOUND}),
    destroy=extend_schema(
        responses={204: None, 403: OpenApiResponse(description="not allowed or not empty")}
    ),
)
@extend_schema(tags=TAGS)
class KnowledgeBaseViewSet(viewsets.ViewSet):
    lookup_field = "kb_id"
    lookup_value_converter = "int"

    def list(self, request: Request) -> Response:
        query = validate_query(s.ListQuery, request)
        rows = list(
            selectors.for_user(request.user, scope=query["scope"], group_name=query.get("group_name"))
        )
        counts = selectors.document_counts([row.pk for row in rows])
        items = [shapes.knowledge_base(row, counts.get(row.pk, 0)) for row in rows]
        return Response({"total": len(items), "items": items})

    def create(self, request: Request) -> Response:
        data = validate_body(s.KnowledgeBaseCreate, request)
        model_ref = data.get("summary_model_ref")
        kb = bases.create(
            actor=request.user,
            data=bases.KnowledgeBaseInput(
                name=data["name"].strip(),
                description=data.get("description") or "",
                namespace=data["namespace"],
                kb_type=data["kb_type"],
                retrieval_config=_retrieval(data.get("retrieval_config")),
                summary_enabled=data["summary_enabled"],
                summary_model_ref=dict(model_ref) if model_ref else None,
            ),
        )
        return Response(kb_out(kb), status=201)

    def retrieve(self, request: Request, kb_id: int) -> Response:
        return Response(kb_out(selectors.readable_kb(request.user, kb_id)))

    def update(self, request: Request, kb_id: int) -> Response:
        data = validate_body(s.KnowledgeBaseUpdate, request)
        extra: dict[str, Any] = {}
        if "summary_model_ref" in data:
            ref = data["summary_model_ref"]
            extra["summary_model_ref"] = dict(ref) if ref else None
        kb = bases.update(
            actor=request.user,
            kb_id=kb_id,
            name=data.get("name"),
            description=data.get("description"),
            retrieval_config=_retrieval(data.get("retrieval_config")),
            summary_enabled=data.get("summary_enabled"),
            max_calls=data.get("max_calls_per_conversation"),
            exempt_calls=data.get("exempt_calls_before_check"),
            **extra,
        )
        return Response(kb_out(kb))

    def destroy(self, request: Request, kb_id: int) -> Response:
        bases.delete(actor=request.user, kb_id=kb_id)
        return Response(status=204)

    @extend_schema(responses=s.AccessibleOut)
    @action(detail=False, methods=["get"], url_path="accessible")
    def accessible(self, request: Request) -> Response:
        rows = list(selectors.for_user(request.user))
        counts = selectors.document_counts([row.pk for row in rows])
        personal = [shapes.accessible_item(r, counts.get(r.pk, 0)) for r in rows if r.namespace == "default"]
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            if row.namespace != "default":
                groups.setdefault(row.namespace, []).append(
                    shapes.accessible_item(row, counts.get(row.pk, 0))
                )
        team = []
        for name, items in sorted(groups.items()):
            group = account_selectors.get_group(name)
            display = (group.display_name if group is not None else "") or name
            team.append({"group_name": name, "group_display_name": display, "knowledge_bases": items})
        return Response({"personal": personal, "team": team})

    @extend_schema(responses=s.ConfigOut)
    @action(detail=False, methods=["get"], url_path="config")
    def config(self, request: Request) -> Response:
        # The reference serves this without auth; here every route but login, health and the
        # schema needs credentials (DESIGN section 6), and the web client sends them anyway.
        return Response({"chunk_storage_enabled": True})  # chunks are always stored here

    @extend_schema(responses=s.NamespaceOut)
    @action(detail=False, methods=["get"], url_path="organization-namespace")
    def organization_namespace(self, request: Request) -> Response:
        return Response({"namespace": selectors.organization_namespace()})

    @extend_schema(request=s.TypeChange, responses={200: s.KnowledgeBaseOut, 404: NOT_FOUND})
    @action(detail=True, methods=["patch"], url_path="type")
    def change_type(self, request: Request, kb_id: int) -> Response:
        kb_type = validate_body(s.TypeChange, request)["kb_type"]
        return Response(kb_out(bases.change_type(actor=request.user, kb_id=kb_id, kb_type=kb_type)))

    @extend_schema(methods=["get"], responses={200: s.DocumentListOut, 404: NOT_FOUND})
    @extend_schema(methods=["post"], request=s.DocumentCreate, responses={201: s.DocumentOut, 404: NOT_FOUND})
    @action(detail=True, methods=["get", "post"], url_path="documents")
    def documents(self, request: Request, kb_id: int) -> Response:
        if request.method == "GET":
            kb = selectors.readable_kb(request.user, kb_id)
            items = [shapes.document(doc) for doc in selectors.documents_of(kb.pk)]
            return Response({"total": len(items), "items": items})
        data = validate_body(s.DocumentCreate, request)
        splitter = data.get("splitter_config")
        doc = documents.create(
            actor=request.user,
            kb_id=kb_id,
            data=documents.DocumentInput(
                name=data["name"],
                attachment_id=data["attachment_id"],
                file_extension=data["file_extension"],
                file_size=data["file_size"],
                splitter_config=dict(splitter) if splitter else {},
                source_type=data["source_type"],
                source_config=dict(data.get("source_config") or {}),
            ),
        )
        doc.refresh_from_db()  # indexing may have run already (eager Celery)
        return Response(shapes.document(doc), status=201)

    @extend_schema(parameters=[s.DetailQuery], responses={200: s.DetailOut, 404: NOT_FOUND})
    @action(
        detail=True, methods=["get"], url_path="documents/<int:doc_id>/detail", url_name="document-detail"
    )
    def document_detail(self, request: Request, kb_id: int, doc_id: int) -> Response:
        query = validate_query(s.DetailQuery, request)
        doc, _ = selectors.readable_document(request.user, doc_id, kb_id=kb_id)
        text = selectors.document_text(doc) if query["include_content"] else None
        return Response(shapes.detail(doc, text, include_summary=query["include_summary"]))

    @extend_schema(responses={200: s.SummaryOut, 404: NOT_FOUND})
    @action(detail=True, methods=["get"], url_path="summary")
    def summary(self, request: Request, kb_id: int) -> Response:
        kb = selectors.readable_kb(request.user, kb_id)
        return Response({"kb_id": kb.pk, "summary": shapes.knowledge_base(kb, 0)["summary"]})

    @extend_schema(request=None, responses={200: s.RefreshOut, 400: BAD, 404: NOT_FOUND})
    @action(detail=True, methods=["post"], url_path="summary/refresh", url_name="summary-refresh")
    def refresh_summary(self, request: Request, kb_id: int) -> Response:
        summaries.refresh_kb(actor=request.user, kb_id=kb_id)
        return Response({"message": "Summary generation started", "status": "generating"})

    @extend_schema(responses={200: s.DocumentSummaryOut, 404: NOT_FOUND})
    @action(
        detail=True, methods=["get"], url_path="documents/<int:doc_id>/summary", url_name="document-summary"
    )
    def document_summary(self, request: Request, kb_id: int, doc_id: int) -> Response:
        doc, _ = selectors.readable_document(request.user, doc_id, kb_id=kb_id)
        return Response({"document_id": doc.pk, "summary": doc.summary})

    @extend_schema(request=None, responses={200: s.RefreshOut, 400: BAD, 404: NOT_FOUND})
    @action(
        detail=True,
        methods=["post"],
        url_path="documents/<int:doc_id>/summary/refresh",
        url_name="document-summary-refresh",
    )
    def refresh_document_summary(self, request: Request, kb_id: int, doc_id: int) -> Response:
        summaries.refresh_document(actor=request.user, kb_id=kb_id, doc_id=doc_id)
        return Response({"message": "Summary generation started", "status": "generating"})


router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("knowledge-bases", KnowledgeBaseViewSet, basename="knowledge-base")
urlpatterns = router.urls
