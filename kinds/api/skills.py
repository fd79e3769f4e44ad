"""``/api/v1/kinds/skills/*``: upload, list, unified list, invoke, download, public skills.

Literal segments (``upload``, ``unified``, ``invoke``, ``public/...``) are routed before the
``<int:skill_id>`` routes. The Git import routes of the reference are not served.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds import skills
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.services import Owner
from kinds.specs import API_VERSION
from wegent.api.permissions import IsSystemAdmin
from wegent.api.validation import MAX_DB_INTEGER, validate_body, validate_query
from wegent.errors import BadRequest

TAGS = ["skills"]
MULTIPART = [MultiPartParser, FormParser]
ZIP_RESPONSE = {(200, "application/zip"): OpenApiTypes.BINARY}
NO_CONTENT = {204: OpenApiResponse(description="Deleted")}


# --- input ----------------------------------------------------------------------------------


class SkillUploadForm(serializers.Serializer):
    file = serializers.FileField(help_text="Skill ZIP package (max 10 MB)")
    name = serializers.CharField(max_length=100)
    namespace = serializers.CharField(max_length=100, default=DEFAULT_NAMESPACE)


class SkillPublicUploadForm(serializers.Serializer):
    file = serializers.FileField(help_text="Skill ZIP package (max 10 MB)")
    name = serializers.CharField(max_length=100)


class SkillArchiveForm(serializers.Serializer):
    file = serializers.FileField(help_text="New skill ZIP package (max 10 MB)")


class SkillPageQuery(serializers.Serializer):
    # OFFSET past the database's integer failed as a 500.
    skip = serializers.IntegerField(min_value=0, max_value=MAX_DB_INTEGER, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=100)


class SkillListQuery(SkillPageQuery):
    namespace = serializers.CharField(max_length=100, default=DEFAULT_NAMESPACE)
    name = serializers.CharField(max_length=100, required=False)
    exact_match = serializers.BooleanField(default=False)
    task_id = serializers.IntegerField(required=False, min_value=1)


class SkillUnifiedQuery(SkillPageQuery):
    scope = serializers.ChoiceField(choices=["personal", "group", "all"], default="personal")
    group_name = serializers.CharField(max_length=100, required=False)


class SkillDownloadQuery(serializers.Serializer):
    namespace = serializers.CharField(max_length=100, default=DEFAULT_NAMESPACE)
    task_id = serializers.IntegerField(required=False, min_value=1)


class SkillInvokeBody(serializers.Serializer):
    skill_name = serializers.CharField(max_length=100)


class PublicSkillUpdateBody(serializers.Serializer):
    description = serializers.CharField(required=False, allow_null=True)
    prompt = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    version = serializers.CharField(required=False, allow_null=True, max_length=100)
    author = serializers.CharField(required=False, allow_null=True, max_length=200)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, allow_null=True)


class PublicSkillCreateBody(PublicSkillUpdateBody):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField()


# --- output ---------------------------------------------------------------------------------


class PublicSkillItem(serializers.Serializer):
    """A skill as the public-skill routes return it."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    namespace = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    prompt = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)
    author = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), allow_null=True)
    bindShells = serializers.ListField(child=serializers.CharField(), allow_null=True)
    is_active = serializers.BooleanField()
    is_public = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class UnifiedSkillItem(PublicSkillItem):
    """A skill in the unified (own + group + public) list."""

    displayName = serializers.CharField(allow_null=True)
    user_id = serializers.IntegerField()
    source = serializers.JSONField(allow_null=True)


class SkillPromptSerializer(serializers.Serializer):
    prompt = serializers.CharField()


class SkillContentSerializer(serializers.Serializer):
    content = serializers.CharField()


class SkillReferencesRemoved(serializers.Serializer):
    removed_count = serializers.IntegerField()
    affected_ghosts = serializers.ListField(child=serializers.CharField())


class SkillReferenceRemoved(serializers.Serializer):
    success = serializers.BooleanField()
    ghost_name = serializers.CharField()


def _fields(row: Kind) -> dict[str, Any]:
    spec = row.spec
    return {
        "id": row.pk,
        "name": row.name,
        "namespace": row.namespace,
        "description": spec.get("description") or "",
        "displayName": spec.get("displayName"),
        "prompt": spec.get("prompt"),
        "version": spec.get("version"),
        "author": spec.get("author"),
        "tags": spec.get("tags"),
        "bindShells": spec.get("bindShells"),
        "is_active": row.is_active,
        "is_public": row.is_public,
        "user_id": row.user_id_or_zero,
        "source": spec.get("source"),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def public_item(row: Kind) -> dict[str, Any]:
    return dict(PublicSkillItem(_fields(row)).data)


def unified_item(row: Kind) -> dict[str, Any]:
    return dict(UnifiedSkillItem(_fields(row)).data)


def skill_list(rows: list[Kind]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "SkillList", "items": [skills.render_skill(r) for r in rows]}


def zip_response(row: Kind, data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f"attachment; filename={row.name}.zip"
    return response


def _page(items: list[Any], query: dict[str, Any]) -> list[Any]:
    return items[query["skip"] : query["skip"] + query["limit"]]


# --- personal and group skills --------------------------------------------------------------


class SkillCollectionView(APIView):
    @extend_schema(
        operation_id="v1_kinds_skills_list",
        parameters=[SkillListQuery],
        responses={200: OpenApiTypes.OBJECT},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = validate_query(SkillListQuery, request)
        name = query.get("name")
        if name:
            # task_id (a task owner's skills) waits for the tasks app; accepted and ignored.
            row = skills.find_skill(request.user, name, query["namespace"], exact=query["exact_match"])
            return Response(skill_list([row] if row else []))
        rows = skills.list_skills(request.user, query["namespace"])
        return Response(skill_list(list(rows[query["skip"] : query["skip"] + query["limit"]])))


class SkillUploadView(APIView):
    parser_classes = MULTIPART

    @extend_schema(
        request={"multipart/form-data": SkillUploadForm}, responses={201: OpenApiTypes.OBJECT}, tags=TAGS
    )
    def post(self, request: Request) -> Response:
        form = validate_body(SkillUploadForm, request)
        upload = form["file"]
        row = skills.store_skill(
            actor=request.user,
            owner=Owner(request.user),
            namespace=form["namespace"],
            name=form["name"],
            archive=upload.read(),
            filename=upload.name,
        )
        return Response(skills.render_skill(row), status=201)


class SkillUnifiedView(APIView):
    @extend_schema(parameters=[SkillUnifiedQuery], responses={200: UnifiedSkillItem(many=True)}, tags=TAGS)
    def get(self, request: Request) -> Response:
        query = validate_query(SkillUnifiedQuery, request)
        rows = skills.unified_skills(request.user, scope=query["scope"], group_name=query.get("group_name"))
        return Response([unified_item(row) for row in _page(rows, query)])


class SkillInvokeView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(request=SkillInvokeBody, responses={200: SkillPromptSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        name = validate_body(SkillInvokeBody, request)["skill_name"]
        row = skills.find_skill(request.user, name)
        if row is None:
            raise skills.SkillNotFound(f"Skill '{name}' not found")
        prompt = row.spec.get("prompt")
        if not prompt:
            raise BadRequest(f"Skill '{name}' has no prompt content")
        return Response({"prompt": prompt})


class SkillItemView(APIView):
    parser_classes = MULTIPART

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=TAGS)
    def get(self, request: Request, skill_id: int) -> Response:
        return Response(skills.render_skill(skills.skill_for(request.user, skill_id)))

    @extend_schema(
        request={"multipart/form-data": SkillArchiveForm}, responses={200: OpenApiTypes.OBJECT}, tags=TAGS
    )
    def put(self, request: Request, skill_id: int) -> Response:
        upload = validate_body(SkillArchiveForm, request)["file"]
        row = skills.replace_archive(
            actor=request.user, skill_id=skill_id, archive=upload.read(), filename=upload.name
        )
        return Response(skills.render_skill(row))

    @extend_schema(responses=NO_CONTENT, tags=TAGS)
    def delete(self, request: Request, skill_id: int) -> Response:
        skills.delete_skill(actor=request.user, skill_id=skill_id)
        return Response(status=204)


class SkillDownloadView(APIView):
    @extend_schema(parameters=[SkillDownloadQuery], responses=ZIP_RESPONSE, tags=TAGS)
    def get(self, request: Request, skill_id: int) -> HttpResponse:
        # Any skill the caller can see (own, a readable group's, public); task_id is not used yet.
        validate_query(SkillDownloadQuery, request)
        row = skills.skill_for(request.user, skill_id)
        data = skills.binary_data(row)
        if data is None:
            raise skills.SkillNotFound("Skill binary not found")
        return zip_response(row, data)


class SkillRemoveReferencesView(APIView):
    @extend_schema(request=None, responses={200: SkillReferencesRemoved}, tags=TAGS)
    def post(self, request: Request, skill_id: int) -> Response:
        return Response(skills.remove_references(actor=request.user, skill_id=skill_id))


class SkillRemoveReferenceView(APIView):
    @extend_schema(request=None, responses={200: SkillReferenceRemoved}, tags=TAGS)
    def post(self, request: Request, skill_id: int, ghost_id: int) -> Response:
        return Response(skills.remove_reference(actor=request.user, skill_id=skill_id, ghost_id=ghost_id))


# --- public skills --------------------------------------------------------------------------


class PublicSkillListView(APIView):
    @extend_schema(parameters=[SkillPageQuery], responses={200: PublicSkillItem(many=True)}, tags=TAGS)
    def get(self, request: Request) -> Response:
        query = validate_query(SkillPageQuery, request)
        rows = skills.public_skills().order_by("id")[query["skip"] : query["skip"] + query["limit"]]
        return Response([public_item(row) for row in rows])


class PublicSkillCreateView(APIView):
    permission_classes = [IsAuthenticated, IsSystemAdmin]
    parser_classes = [JSONParser]

    @extend_schema(request=PublicSkillCreateBody, responses={201: PublicSkillItem}, tags=TAGS)
    def post(self, request: Request) -> Response:
        body = validate_body(PublicSkillCreateBody, request)
        row = skills.create_public_skill(
            actor=request.user,
            name=body["name"],
            description=body["description"],
            prompt=body.get("prompt"),
            version=body.get("version"),
            author=body.get("author"),
            tags=body.get("tags"),
        )
        return Response(public_item(row), status=201)


class PublicSkillUploadView(APIView):
    permission_classes = [IsAuthenticated, IsSystemAdmin]
    parser_classes = MULTIPART

    @extend_schema(
        request={"multipart/form-data": SkillPublicUploadForm}, responses={201: PublicSkillItem}, tags=TAGS
    )
    def post(self, request: Request) -> Response:
        form = validate_body(SkillPublicUploadForm, request)
        upload = form["file"]
        row = skills.store_skill(
            actor=request.user,
            owner=Owner(None),
            namespace=DEFAULT_NAMESPACE,
            name=form["name"],
            archive=upload.read(),
            filename=upload.name,
        )
        return Response(public_item(row), status=201)


class PublicSkillItemView(APIView):
    permission_classes = [IsAuthenticated, IsSystemAdmin]
    parser_classes = [JSONParser]

    @extend_schema(request=PublicSkillUpdateBody, responses={200: PublicSkillItem}, tags=TAGS)
    def put(self, request: Request, skill_id: int) -> Response:
        changes = validate_body(PublicSkillUpdateBody, request)
        row = skills.update_public_skill(actor=request.user, skill_id=skill_id, changes=changes)
        return Response(public_item(row))

    @extend_schema(responses=NO_CONTENT, tags=TAGS)
    def delete(self, request: Request, skill_id: int) -> Response:
        skills.delete_skill(actor=request.user, skill_id=skill_id, public=True)
        return Response(status=204)


class PublicSkillArchiveView(APIView):
    permission_classes = [IsAuthenticated, IsSystemAdmin]
    parser_classes = MULTIPART

    @extend_schema(
        request={"multipart/form-data": SkillArchiveForm}, responses={200: PublicSkillItem}, tags=TAGS
    )
    def put(self, request: Request, skill_id: int) -> Response:
        upload = validate_body(SkillArchiveForm, request)["file"]
        row = skills.replace_archive(
            actor=request.user, skill_id=skill_id, archive=upload.read(), filename=upload.name, public=True
        )
        return Response(public_item(row))


class PublicSkillDownloadView(APIView):
    @extend_schema(responses=ZIP_RESPONSE, tags=TAGS)
    def get(self, request: Request, skill_id: int) -> HttpResponse:
        row = skills.public_skill(skill_id)
        data = skills.binary_data(row)
        if data is None:
            raise skills.SkillNotFound("Public skill binary not found")
        return zip_response(row, data)


class PublicSkillContentView(APIView):
    @extend_schema(responses={200: SkillContentSerializer}, tags=TAGS)
    def get(self, request: Request, skill_id: int) -> Response:
        row = skills.public_skill(skill_id)
        if skills.binary_data(row) is None:
            raise skills.SkillNotFound("Public skill binary not found")
        return Response({"content": skills.skill_md_text(row)})


P = "kinds/skills"  # under the v1/ include (kinds/api/urls.py)
urlpatterns = [
    path(P, SkillCollectionView.as_view(), name="skills"),
    path(f"{P}/upload", SkillUploadView.as_view(), name="skills-upload"),
    path(f"{P}/unified", SkillUnifiedView.as_view(), name="skills-unified"),
    path(f"{P}/invoke", SkillInvokeView.as_view(), name="skills-invoke"),
    path(f"{P}/public/list", PublicSkillListView.as_view(), name="skills-public-list"),
    path(f"{P}/public", PublicSkillCreateView.as_view(), name="skills-public"),
    path(f"{P}/public/upload", PublicSkillUploadView.as_view(), name="skills-public-upload"),
    path(f"{P}/public/<int:skill_id>", PublicSkillItemView.as_view(), name="skills-public-item"),
    path(f"{P}/public/<int:skill_id>/upload", PublicSkillArchiveView.as_view(), name="skills-public-archive"),
    path(
        f"{P}/public/<int:skill_id>/download",
        PublicSkillDownloadView.as_view(),
        name="skills-public-download",
    ),
    path(
        f"{P}/public/<int:skill_id>/content", PublicSkillContentView.as_view(), name="skills-public-content"
    ),
    path(f"{P}/<int:skill_id>", SkillItemView.as_view(), name="skills-item"),
    path(f"{P}/<int:skill_id>/download", SkillDownloadView.as_view(), name="skills-download"),
    path(
        f"{P}/<int:skill_id>/remove-references",
        SkillRemoveReferencesView.as_view(),
        name="skills-remove-references",
    ),
    path(
        f"{P}/<int:skill_id>/remove-reference/<int:ghost_id>",
        SkillRemoveReferenceView.as_view(),
        name="skills-remove-reference",
    ),
]
