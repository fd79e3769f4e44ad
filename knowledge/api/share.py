"""``/api/share`` for knowledge bases (reference extras §4 "Share"): the link, its preview and
join, members, join requests, and the caller's own permission. Irregular routes, so plain
APIViews over ``knowledge.services.sharing``.

Every route needs a signed-in caller, also the link previews the reference leaves open
(DESIGN §6). ``{type}`` takes ``KnowledgeBase`` (or ``KNOWLEDGE_BASE``); teams and tasks are
shared through their own routes (``/api/teams/...``, ``/api/tasks/{id}/share``), so other types
get 400.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds.models import ResourceMember
from knowledge.exceptions import KnowledgeBadRequest
from knowledge.services import sharing
from wegent.api.validation import validate_body, validate_query

TAGS = ["share"]
KB_TYPES = ("KnowledgeBase", "KNOWLEDGE_BASE")
LEVELS = [ResourceMember.VIEW, ResourceMember.EDIT, ResourceMember.MANAGE]
ERRORS = {
    400: OpenApiResponse(description="unsupported resource type, not a personal knowledge base, bad token"),
    403: OpenApiResponse(description="not the creator or a manage member"),
    404: OpenApiResponse(description='"Knowledge base not found"'),
}


def _kb(resource_type: str) -> None:
    if resource_type not in KB_TYPES:
        raise KnowledgeBadRequest(
            f"Resource type '{resource_type[:50]}' is not shared here: only KnowledgeBase"
        )


# --- bodies and shapes ------------------------------------------------------------------------------


class KnowledgeShareLinkIn(serializers.Serializer):
    require_approval = serializers.BooleanField(default=True)
    default_permission_level = serializers.ChoiceField(choices=LEVELS, default=ResourceMember.VIEW)
    expires_in_hours = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=sharing.MAX_EXPIRY_HOURS
    )


class KnowledgeShareLinkOut(serializers.Serializer):
    id = serializers.IntegerField()
    resource_type = serializers.CharField()
    resource_id = serializers.IntegerField()
    share_url = serializers.CharField()
    share_token = serializers.CharField()
    require_approval = serializers.BooleanField()
    default_permission_level = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    is_active = serializers.BooleanField()
    created_by_user_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class KnowledgeShareMessageOut(serializers.Serializer):
    message = serializers.CharField()


class KnowledgeShareTokenQuery(serializers.Serializer):
    share_token = serializers.CharField(max_length=4096)


class KnowledgeSharePublicQuery(serializers.Serializer):
    token = serializers.CharField(max_length=4096)


class KnowledgeShareRedirectQuery(serializers.Serializer):
    kb_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class KnowledgeShareTokenOut(serializers.Serializer):
    share_token = serializers.CharField()


class KnowledgeShareInfoOut(serializers.Serializer):
    resource_type = serializers.CharField()
    resource_id = serializers.IntegerField()
    resource_name = serializers.CharField()
    owner_user_id = serializers.IntegerField()
    owner_user_name = serializers.CharField()
    require_approval = serializers.BooleanField()
    default_permission_level = serializers.CharField()
    is_expired = serializers.BooleanField()


class KnowledgeSharePublicOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    namespace = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    creator_id = serializers.IntegerField()
    creator_name = serializers.CharField()
    require_approval = serializers.BooleanField()
    default_permission_level = serializers.CharField()
    is_expired = serializers.BooleanField()


class KnowledgeShareJoinIn(serializers.Serializer):
    share_token = serializers.CharField(max_length=4096)
    requested_permission_level = serializers.ChoiceField(choices=LEVELS, required=False, allow_null=True)


class KnowledgeShareJoinOut(serializers.Serializer):
    message = serializers.CharField()
    status = serializers.CharField()
    member_id = serializers.IntegerField()
    resource_type = serializers.CharField()
    resource_id = serializers.IntegerField()
    copied_resource_id = serializers.IntegerField(allow_null=True)


class KnowledgeShareMemberOut(serializers.Serializer):
    id = serializers.IntegerField()
    resource_type = serializers.CharField()
    resource_id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    user_name = serializers.CharField(allow_null=True)
    user_email = serializers.CharField(allow_null=True)
    permission_level = serializers.CharField()
    status = serializers.CharField()
    invited_by_user_id = serializers.IntegerField()
    invited_by_user_name = serializers.CharField(allow_null=True)
    reviewed_by_user_id = serializers.IntegerField(allow_null=True)
    reviewed_by_user_name = serializers.CharField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    copied_resource_id = serializers.IntegerField(allow_null=True)
    requested_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class KnowledgeShareMemberListOut(serializers.Serializer):
    members = KnowledgeShareMemberOut(many=True)
    total = serializers.IntegerField()


class KnowledgeShareMemberIn(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)
    permission_level = serializers.ChoiceField(choices=LEVELS, default=ResourceMember.VIEW)


class KnowledgeShareMemberUpdateIn(serializers.Serializer):
    permission_level = serializers.ChoiceField(choices=LEVELS)


class KnowledgeShareRequestOut(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    user_name = serializers.CharField(allow_null=True)
    user_email = serializers.CharField(allow_null=True)
    requested_permission_level = serializers.CharField()
    requested_at = serializers.DateTimeField()


class KnowledgeShareRequestListOut(serializers.Serializer):
    requests = KnowledgeShareRequestOut(many=True)
    total = serializers.IntegerField()


class KnowledgeShareReviewIn(serializers.Serializer):
    approved = serializers.BooleanField()
    permission_level = serializers.ChoiceField(choices=LEVELS, required=False, allow_null=True)


class KnowledgeShareReviewOut(serializers.Serializer):
    message = serializers.CharField()
    member_id = serializers.IntegerField()
    new_status = serializers.CharField()
    permission_level = serializers.CharField(allow_null=True)


class KnowledgePendingRequestOut(serializers.Serializer):
    id = serializers.IntegerField()
    permission_level = serializers.CharField()
    requested_at = serializers.DateTimeField()


class KnowledgeMyPermissionOut(serializers.Serializer):
    has_access = serializers.BooleanField()
    permission_level = serializers.CharField(allow_null=True)
    is_creator = serializers.BooleanField()
    pending_request = KnowledgePendingRequestOut(allow_null=True)


class KnowledgeBaseShareInfoOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    namespace = serializers.CharField()
    creator_id = serializers.IntegerField()
    creator_name = serializers.CharField()
    created_at = serializers.CharField()
    my_permission = KnowledgeMyPermissionOut()


# --- views ------------------------------------------------------------------------------------------


class ShareLinkView(APIView):
    @extend_schema(
        request=KnowledgeShareLinkIn,
        responses={200: KnowledgeShareLinkOut, **ERRORS},
        tags=TAGS,
        operation_id="share_link_create",
    )
    def post(self, request: Request, resource_type: str, resource_id: int) -> Response:
        _kb(resource_type)
        data = validate_body(KnowledgeShareLinkIn, request)
        config = sharing.LinkConfig(
            require_approval=data["require_approval"],
            default_permission_level=data["default_permission_level"],
            expires_in_hours=data.get("expires_in_hours"),
        )
        return Response(sharing.create_link(actor=request.user, kb_id=resource_id, config=config))

    @extend_schema(responses={200: KnowledgeShareLinkOut, **ERRORS}, tags=TAGS, operation_id="share_link_get")
    def get(self, request: Request, resource_type: str, resource_id: int) -> Response:
        _kb(resource_type)
        return Response(sharing.get_link(actor=request.user, kb_id=resource_id))

    @extend_schema(
        responses={200: KnowledgeShareMessageOut, **ERRORS}, tags=TAGS, operation_id="share_link_delete"
    )
    def delete(self, request: Request, resource_type: str, resource_id: int) -> Response:
        _kb(resource_type)
        return Response(sharing.delete_link(actor=request.user, kb_id=resource_id))


class ShareInfoView(APIView):
    @extend_schema(
        parameters=[KnowledgeShareTokenQuery],
        responses={200: KnowledgeShareInfoOut, **ERRORS},
        tags=TAGS,
        operation_id="share_info",
    )
    def get(self, request: Request) -> Response:
        token = validate_query(KnowledgeShareTokenQuery, request)["share_token"]
        return Response(sharing.share_info(actor=request.user, token=token))


class PublicKnowledgeView(APIView):
    @extend_schema(
        parameters=[KnowledgeSharePublicQuery],
        responses={200: KnowledgeSharePublicOut, **ERRORS},
        tags=TAGS,
        operation_id="share_public_knowledge",
    )
    def get(self, request: Request) -> Response:
        token = validate_query(KnowledgeSharePublicQuery, request)["token"]
        return Response(sharing.public_knowledge(actor=request.user, token=token))


class PublicKnowledgeRedirectView(APIView):
    @extend_schema(
        parameters=[KnowledgeShareRedirectQuery],
        responses={200: KnowledgeShareTokenOut, **ERRORS},
        tags=TAGS,
        operation_id="share_public_knowledge_redirect",
    )
    def get(self, request: Request) -> Response:
        kb_id = validate_query(KnowledgeShareRedirectQuery, request)["kb_id"]
        return Response({"share_token": sharing.token_for_old_link(kb_id=kb_id)})


class JoinView(APIView):
    @extend_schema(
        request=KnowledgeShareJoinIn,
        responses={200: KnowledgeShareJoinOut, **ERRORS},
        tags=TAGS,
        operation_id="share_join",
    )
    def post(self, request: Request) -> Response:
        data = validate_body(KnowledgeShareJoinIn, request)
        return Response(
            sharing.join(
                actor=request.user,
                token=data["share_token"],
                requested_level=data.get("requested_permission_level"),
            )
        )


class MembersView(APIView):
    @extend_schema(
        responses={200: KnowledgeShareMemberListOut, **ERRORS}, tags=TAGS, operation_id="share_members_list"
    )
    def get(self, request: Request, resource_type: str, resource_id: int) -> Response:
        _kb(resource_type)
        return Response(sharing.list_members(actor=request.user, kb_id=resource_id))

    @extend_schema(
        request=KnowledgeShareMemberIn,
        responses={201: KnowledgeShareMemberOut, **ERRORS},
        tags=TAGS,
        operation_id="share_members_add",
    )
    def post(self, request: Request, resource_type: str, resource_id: int) -> Response:
        _kb(resource_type)
        data = validate_body(KnowledgeShareMemberIn, request)
        member = sharing.add_member(
            actor=request.user, kb_id=resource_id, user_id=data["user_id"], level=data["permission_level"]
        )
        return Response(member, status=201)


class MemberView(APIView):
    @extend_schema(
        request=KnowledgeShareMemberUpdateIn,
        responses={200: KnowledgeShareMemberOut, **ERRORS},
        tags=TAGS,
        operation_id="share_members_update",
    )
    def put(self, request: Request, resource_type: str, resource_id: int, member_id: int) -> Response:
        _kb(resource_type)
        level = validate_body(KnowledgeShareMemberUpdateIn, request)["permission_level"]
        return Response(
            sharing.update_member(actor=request.user, kb_id=resource_id, member_id=member_id, level=level)
        )

    @extend_schema(
        responses={200: KnowledgeShareMessageOut, **ERRORS}, tags=TAGS, operation_id="share_members_remove"
    )
    def delete(self, request: Request, resource_type: str, resource_id: int, member_id: int) -> Response:
        _kb(resource_type)
        return Response(sharing.remove_member(actor=request.user, kb_id=resource_id, member_id=member_id))


class RequestsView(APIView):
    @extend_schema(
        responses={200: KnowledgeShareRequestListOut, **ERRORS}, tags=TAGS, operation_id="share_requests_list"
    )
    def get(self, request: Request, resource_type: str, resource_id: int) -> Response:
        _kb(resource_type)
        return Response(sharing.pending_requests(actor=request.user, kb_id=resource_id))


class ReviewView(APIView):
    @extend_schema(
        request=KnowledgeShareReviewIn,
        responses={200: KnowledgeShareReviewOut, **ERRORS},
        tags=TAGS,
        operation_id="share_requests_review",
    )
    def post(self, request: Request, resource_type: str, resource_id: int, request_id: int) -> Response:
        _kb(resource_type)
        data = validate_body(KnowledgeShareReviewIn, request)
        result: dict[str, Any] = sharing.review(
            actor=request.user,
            kb_id=resource_id,
            request_id=request_id,
            approved=data["approved"],
            level=data.get("permission_level"),
        )
        return Response(result)


class MyPermissionView(APIView):
    @extend_schema(
        responses={200: KnowledgeMyPermissionOut, **ERRORS}, tags=TAGS, operation_id="share_kb_my_permission"
    )
    def get(self, request: Request, kb_id: int) -> Response:
        return Response(sharing.my_permission(actor=request.user, kb_id=kb_id))


class KnowledgeShareInfoView(APIView):
    @extend_schema(
        responses={200: KnowledgeBaseShareInfoOut, **ERRORS}, tags=TAGS, operation_id="share_kb_share_info"
    )
    def get(self, request: Request, kb_id: int) -> Response:
        return Response(sharing.kb_share_info(actor=request.user, kb_id=kb_id))


urlpatterns = [
    path("share/info", ShareInfoView.as_view(), name="share-info"),
    path("share/public/knowledge", PublicKnowledgeView.as_view(), name="share-public-knowledge"),
    path(
        "share/public/knowledge/redirect",
        PublicKnowledgeRedirectView.as_view(),
        name="share-public-knowledge-redirect",
    ),
    path("share/join", JoinView.as_view(), name="share-join"),
    path(
        "share/KnowledgeBase/<int:kb_id>/my-permission",
        MyPermissionView.as_view(),
        name="share-kb-permission",
    ),
    path(
        "share/KnowledgeBase/<int:kb_id>/share-info", KnowledgeShareInfoView.as_view(), name="share-kb-info"
    ),
    path("share/<str:resource_type>/<int:resource_id>/link", ShareLinkView.as_view(), name="share-link"),
    path("share/<str:resource_type>/<int:resource_id>/members", MembersView.as_view(), name="share-members"),
    path(
        "share/<str:resource_type>/<int:resource_id>/members/<int:member_id>",
        MemberView.as_view(),
        name="share-member",
    ),
    path(
        "share/<str:resource_type>/<int:resource_id>/requests", RequestsView.as_view(), name="share-requests"
    ),
    path(
        "share/<str:resource_type>/<int:resource_id>/requests/<int:request_id>/review",
        ReviewView.as_view(),
        name="share-review",
    ),
]
