"""``/api/attachments``: upload, detail, preview, download, executor download, delete, and the
per-message and per-task lists (reference §6.11). The rules are in
``tasks.services.attachments``; the wire shapes of this area are defined here.

Every route needs a logged-in caller (DESIGN §6); ``?share_token=`` adds read access to the
attachments of a shared task on detail, preview and download.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler
from django.http import FileResponse, HttpResponse
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds.api.legacy_shapes import LegacyMessageSerializer
from tasks.attachments import model_content
from tasks.models import SubtaskContext
from tasks.selectors import MAX_ID
from tasks.services import attachments as service
from wegent.api.validation import validate_query
from wegent.errors import BadRequest

TAGS = ["attachments"]


# --- wire shapes ----------------------------------------------------------------------------------


def attachment_response(context: SubtaskContext) -> dict[str, Any]:
    """``AttachmentResponse``."""
    data = model_content.type_data(context)
    return {
        "id": context.pk,
        "filename": data.get("original_filename") or context.name,
        "file_size": data.get("file_size") or 0,
        "mime_type": data.get("mime_type") or "",
        "status": context.status,
        "file_extension": data.get("file_extension") or "",
        "text_length": context.text_length,
        "error_message": context.error_message or None,
        "error_code": data.get("error_code"),
        "truncation_info": data.get("truncation_info") or None,
        "created_at": context.created_at,
    }


def attachment_detail(context: SubtaskContext) -> dict[str, Any]:
    """``AttachmentDetailResponse``: adds ``subtask_id`` (null while unlinked)."""
    return {**attachment_response(context), "subtask_id": context.subtask_id}


def attachment_preview(context: SubtaskContext) -> dict[str, Any]:
    preview_type, text = service.preview_text(context)
    return {
        **attachment_detail(context),
        "preview_type": preview_type,
        "preview_text": text,
        "download_url": model_content.download_url(context),
    }


_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9 ._()\[\]+-]")


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 5987 form.

    Quotes, semicolons, backslashes and non-ASCII characters never reach the header as they
    are: the fallback replaces them with ``_``, the ``filename*`` form percent-encodes them.
    """
    fallback = _UNSAFE_ASCII.sub("_", filename).strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# --- serializers (input and schema) ---------------------------------------------------------------


class TruncationInfoSerializer(serializers.Serializer):
    is_truncated = serializers.BooleanField()
    original_length = serializers.IntegerField(allow_null=True)
    truncated_length = serializers.IntegerField(allow_null=True)
    truncation_message_key = serializers.CharField(allow_null=True)


class AttachmentResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    file_size = serializers.IntegerField()
    mime_type = serializers.CharField()
    status = serializers.CharField()
    file_extension = serializers.CharField()
    text_length = serializers.IntegerField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    error_code = serializers.CharField(allow_null=True)
    truncation_info = TruncationInfoSerializer(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)


class AttachmentDetailSerializer(AttachmentResponseSerializer):
    subtask_id = serializers.IntegerField(allow_null=True)


class AttachmentPreviewSerializer(AttachmentDetailSerializer):
    preview_type = serializers.ChoiceField(choices=["text", "image", "none"])
    preview_text = serializers.CharField(allow_null=True)
    download_url = serializers.CharField()


class UploadForm(serializers.Serializer):
    file = serializers.FileField()


class UploadQuery(serializers.Serializer):
    overwrite_attachment_id = serializers.IntegerField(required=False, max_value=MAX_ID)


class ShareQuery(serializers.Serializer):
    share_token = serializers.CharField(required=False, allow_blank=True, max_length=4096)


SHARE_TOKEN = OpenApiParameter(
    "share_token", OpenApiTypes.STR, required=False, description="Read access through a task share link"
)
OVERWRITE = OpenApiParameter(
    "overwrite_attachment_id", OpenApiTypes.INT, required=False, description="Replace this own attachment"
)
FILE_RESPONSE = {(200, "application/octet-stream"): OpenApiTypes.BINARY}


# --- multipart parsing with the upload rules --------------------------------------------------


class _SizeLimit(FileUploadHandler):
    """Stops reading a file part as soon as it passes the upload limit (also for bodies sent
    without a Content-Length, which the body size middleware cannot judge).
    """

    def __init__(self, request: Any, others: list[FileUploadHandler]) -> None:
        super().__init__(request)
        self.others = others
        self.received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > service.max_upload_bytes():
            for handler in self.others:  # drop the partial temp file now, not at garbage collection
                handler.upload_interrupted()
            raise service.FileTooLarge()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


class _CheckedNames(DjangoMultiPartParser):
    """Refuses unsafe file names instead of letting Django strip them silently."""

    def sanitize_file_name(self, file_name: str) -> str | None:
        return service.clean_filename(html.unescape(file_name))


class UploadParser(MultiPartParser):
    """DRF's multipart parser with the two rules above; files over 2.5 MB stream to temp files."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> DataAndFiles:
        context = parser_context or {}
        request = context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        others = list(request.upload_handlers)
        handlers = [_SizeLimit(request, others), *others]
        try:
            data, files = _CheckedNames(meta, stream, handlers, context.get("encoding", "utf-8")).parse()
        except (MultiPartParserError, SuspiciousOperation) as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        return DataAndFiles(data, files)


# --- views ----------------------------------------------------------------------------------------


class AttachmentUploadView(APIView):
    parser_classes = [UploadParser]

    @extend_schema(
        parameters=[OVERWRITE],
        request={"multipart/form-data": UploadForm},
        responses=AttachmentResponseSerializer,
        tags=TAGS,
        operation_id="attachments_upload",
    )
    def post(self, request: Request) -> Response:
        overwrite_id = validate_query(UploadQuery, request).get("overwrite_attachment_id")
        upload = request.FILES.get("file")
        if upload is None:
            # A "file" part sent without a filename arrives as a plain field.
            raise service.FilenameRequired() if "file" in request.data else BadRequest("File is required")
        context = service.upload_attachment(
            actor=request.user, filename=upload.name, file=upload, size=upload.size, overwrite_id=overwrite_id
        )
        return Response(attachment_response(context))


def _share_token(request: Request) -> str | None:
    return validate_query(ShareQuery, request).get("share_token") or None


class AttachmentDetailView(APIView):
    @extend_schema(
        parameters=[SHARE_TOKEN],
        responses=AttachmentDetailSerializer,
        tags=TAGS,
        operation_id="attachments_detail",
    )
    def get(self, request: Request, attachment_id: int) -> Response:
        context = service.readable_attachment(request.user, attachment_id, share_token=_share_token(request))
        return Response(attachment_detail(context))

    @extend_schema(responses=LegacyMessageSerializer, tags=TAGS, operation_id="attachments_delete")
    def delete(self, request: Request, attachment_id: int) -> Response:
        service.delete_attachment(actor=request.user, attachment_id=attachment_id)
        return Response({"message": "Attachment deleted successfully"})


class AttachmentPreviewView(APIView):
    @extend_schema(
        parameters=[SHARE_TOKEN],
        responses=AttachmentPreviewSerializer,
        tags=TAGS,
        operation_id="attachments_preview",
    )
    def get(self, request: Request, attachment_id: int) -> Response:
        context = service.readable_attachment(request.user, attachment_id, share_token=_share_token(request))
        return Response(attachment_preview(context))


class StreamedFileResponse(FileResponse):
    """A FileResponse that an ASGI server streams block by block.

    Django's ASGI handler reads a response through ``__aiter__``; for a plain FileResponse that
    collects the whole file into a list first (with a warning), so a 100 MB download would sit
    in memory. Here each block is read in a worker thread as it is sent.
    """

    async def __aiter__(self) -> AsyncIterator[bytes]:
        blocks = iter(self.streaming_content)
        while (block := await sync_to_async(next, thread_sensitive=False)(blocks, None)) is not None:
            yield block


def _file_response(context: SubtaskContext) -> FileResponse:
    handle = service.open_file(context)
    mime = model_content.type_data(context).get("mime_type") or "application/octet-stream"
    response = StreamedFileResponse(handle, content_type=mime)
    response["Content-Disposition"] = content_disposition(context.name)
    response["X-Content-Type-Options"] = "nosniff"
    return response


class AttachmentDownloadView(APIView):
    @extend_schema(
        parameters=[SHARE_TOKEN], responses=FILE_RESPONSE, tags=TAGS, operation_id="attachments_download"
    )
    def get(self, request: Request, attachment_id: int) -> FileResponse:
        context = service.readable_attachment(request.user, attachment_id, share_token=_share_token(request))
        return _file_response(context)


class AttachmentExecutorDownloadView(APIView):
    @extend_schema(responses=FILE_RESPONSE, tags=TAGS, operation_id="attachments_executor_download")
    def get(self, request: Request, attachment_id: int) -> FileResponse:
        return _file_response(service.own_attachment(request.user, attachment_id))


class SubtaskAttachmentView(APIView):
    @extend_schema(
        responses=AttachmentDetailSerializer(allow_null=True),
        tags=TAGS,
        operation_id="attachments_by_subtask",
        description="The message's first attachment, or null.",
    )
    def get(self, request: Request, subtask_id: int) -> Response | HttpResponse:
        context = service.subtask_attachment(request.user, subtask_id)
        if context is None:
            # The JSON renderer writes nothing for None; clients parse the body, so send null.
            return HttpResponse(b"null", content_type="application/json")
        return Response(attachment_detail(context))


class TaskAttachmentsView(APIView):
    @extend_schema(
        responses=AttachmentDetailSerializer(many=True), tags=TAGS, operation_id="attachments_by_task"
    )
    def get(self, request: Request, task_id: int) -> Response:
        return Response([attachment_detail(c) for c in service.task_attachments(request.user, task_id)])


urlpatterns = [
    path("attachments/upload", AttachmentUploadView.as_view(), name="attachment-upload"),
    path("attachments/<int:attachment_id>", AttachmentDetailView.as_view(), name="attachment-detail"),
    path(
        "attachments/<int:attachment_id>/preview", AttachmentPreviewView.as_view(), name="attachment-preview"
    ),
    path(
        "attachments/<int:attachment_id>/download",
        AttachmentDownloadView.as_view(),
        name="attachment-download",
    ),
    path(
        "attachments/<int:attachment_id>/executor-download",
        AttachmentExecutorDownloadView.as_view(),
        name="attachment-executor-download",
    ),
    path(
        "attachments/subtask/<int:subtask_id>", SubtaskAttachmentView.as_view(), name="attachment-by-subtask"
    ),
    path("attachments/task/<int:task_id>/all", TaskAttachmentsView.as_view(), name="attachments-by-task"),
]
