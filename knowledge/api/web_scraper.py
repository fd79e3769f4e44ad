"""``/api/web-scraper``: scrape a page, add it to a knowledge base as a document, refresh it
(reference extras §4). Page failures answer 200 ``{success: false, error_code, error_message}``
as the reference does; a knowledge base or document the caller cannot reach is a 404/403."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge import shapes
from knowledge.api.serializers import DocumentOut, Text
from knowledge.services import web_pages
from wegent.api.validation import validate_body

TAGS = ["web-scraper"]


class ScrapeBody(serializers.Serializer):
    url = Text(max_length=2000)


class CreateBody(ScrapeBody):
    knowledge_base_id = serializers.IntegerField(min_value=1)
    name = Text(max_length=200, required=False, allow_blank=True, allow_null=True)


class RefreshBody(serializers.Serializer):
    document_id = serializers.IntegerField(min_value=1)


class ScrapeOut(serializers.Serializer):
    title = serializers.CharField(allow_null=True)
    content = serializers.CharField(allow_null=True)
    url = serializers.CharField()
    scraped_at = serializers.CharField(allow_null=True)
    content_length = serializers.IntegerField()
    description = serializers.CharField(allow_null=True)
    success = serializers.BooleanField()
    error_code = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)


class DocumentResultOut(serializers.Serializer):
    success = serializers.BooleanField()
    document = DocumentOut(allow_null=True)
    error_code = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)


def _failed(exc: web_pages.ScrapeError, **extra: Any) -> dict[str, Any]:
    return {"success": False, "error_code": exc.code, "error_message": exc.message, **extra}


class ScrapeView(APIView):
    @extend_schema(request=ScrapeBody, responses=ScrapeOut, tags=TAGS, operation_id="web_scraper_scrape")
    def post(self, request: Request) -> Response:
        url = validate_body(ScrapeBody, request)["url"]
        try:
            return Response(web_pages.scrape(url).as_dict())
        except web_pages.ScrapeError as exc:
            empty = {"title": None, "content": None, "url": url, "scraped_at": None, "content_length": 0}
            return Response(_failed(exc, description=None, **empty))


class CreateDocumentView(APIView):
    @extend_schema(
        request=CreateBody, responses=DocumentResultOut, tags=TAGS, operation_id="web_scraper_create"
    )
    def post(self, request: Request) -> Response:
        data = validate_body(CreateBody, request)
        try:
            doc = web_pages.create_document(
                actor=request.user, kb_id=data["knowledge_base_id"], url=data["url"], name=data.get("name")
            )
        except web_pages.ScrapeError as exc:
            return Response(_failed(exc, document=None))
        return Response(
            {"success": True, "document": shapes.document(doc), "error_code": None, "error_message": None}
        )


class RefreshDocumentView(APIView):
    @extend_schema(
        request=RefreshBody, responses=DocumentResultOut, tags=TAGS, operation_id="web_scraper_refresh"
    )
    def post(self, request: Request) -> Response:
        doc_id = validate_body(RefreshBody, request)["document_id"]
        try:
            doc = web_pages.refresh_document(actor=request.user, doc_id=doc_id)
        except web_pages.ScrapeError as exc:
            return Response(_failed(exc, document=None))
        return Response(
            {"success": True, "document": shapes.document(doc), "error_code": None, "error_message": None}
        )


urlpatterns = [
    path("web-scraper/scrape", ScrapeView.as_view(), name="web-scraper-scrape"),
    path("web-scraper/create-document", CreateDocumentView.as_view(), name="web-scraper-create"),
    path("web-scraper/refresh-document", RefreshDocumentView.as_view(), name="web-scraper-refresh"),
]
