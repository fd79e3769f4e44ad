"""``/api/groups``: groups (namespaces), their members, leaving and ownership transfer.

Group names contain ``/``, so every route takes ``<path:group_name>``. The suffix routes are
registered before the bare ``groups/<name>`` route and win; group names never have a sub-group
segment called ``members``, ``leave`` or ``transfer-ownership`` (see ``group_name_error``), so
no group is hidden behind a suffix route.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.models import Group, GroupMember
from accounts.roles import GroupLevel, GroupRole, Visibility
from accounts.services import groups
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.validation import validate_body, validate_query

TAGS = ["groups"]


def _choice_field(choices: type[models.TextChoices], component: str) -> type[serializers.ChoiceField]:
    """A ChoiceField documented as one named enum component, so fields named like other apps'
    enum fields (``role``, ``level``) never collide in the generated schema."""

    @extend_schema_field({"type": "string", "enum": list(choices.values)}, component_name=component)
    class _Field(serializers.ChoiceField):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(choices=choices.choices, **kwargs)

    _Field.__name__ = f"{component}Field"
    return _Field


GroupRoleField = _choice_field(GroupRole, "GroupRole")
VisibilityField = _choice_field(Visibility, "GroupVisibility")
GroupLevelField = _choice_field(GroupLevel, "GroupLevel")


# --- input -----------------------------------------------------------------------------------
class GroupCreateSerializer(serializers.Serializer):
    name = serializers.CharField(trim_whitespace=False, allow_blank=True)
    display_name = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    visibility = VisibilityField(default=Visibility.PRIVATE)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True, default="")
    level = GroupLevelField(default=GroupLevel.GROUP)

    def validate_name(self, value: str) -> str:
        error = groups.group_name_error(value)
        if error:
            raise serializers.ValidationError(error)
        return value


class GroupUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    visibility = VisibilityField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    level = GroupLevelField(required=False, allow_null=True)


class MemberCreateSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)
    role = GroupRoleField(default=GroupRole.REPORTER)


class MemberByUsernameQuery(serializers.Serializer):
    username = serializers.CharField(max_length=50)
    role = GroupRoleField(default=GroupRole.REPORTER)


class MemberUpdateSerializer(serializers.Serializer):
    role = GroupRoleField()


class TransferOwnershipSerializer(serializers.Serializer):
    new_owner_user_id = serializers.IntegerField(min_value=1)


# --- output ----------------------------------------------------------------------------------
class GroupSerializer(serializers.ModelSerializer):
    """The reference's ``GroupResponse``; ``my_role`` is the viewer's effective role."""

    owner_user_id = serializers.IntegerField(source="owner_id", read_only=True, allow_null=True)
    visibility = VisibilityField(read_only=True)
    level = GroupLevelField(read_only=True)
    my_role = GroupRoleField(read_only=True, allow_null=True)
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Group
        fields = [
            "id",
            "name",
            "display_name",
            "visibility",
            "description",
            "owner_user_id",
            "level",
            "is_active",
            "created_at",
            "updated_at",
            "my_role",
            "member_count",
        ]


class GroupMemberSerializer(serializers.ModelSerializer):
    """The reference's ``GroupMemberResponse``."""

    group_name = serializers.CharField(source="group.name", read_only=True)
    user_name = serializers.CharField(source="user.user_name", read_only=True)
    role = GroupRoleField(read_only=True)
    invited_by_user_id = serializers.IntegerField(source="invited_by_id", read_only=True, allow_null=True)
    invited_by_user_name = serializers.SerializerMethodField()

    class Meta:
        model = GroupMember
        fields = [
            "id",
            "group_name",
            "user_id",
            "user_name",
            "role",
            "invited_by_user_id",
            "invited_by_user_name",
            "is_active",
            "created_at",
            "updated_at",
        ]

    def get_invited_by_user_name(self, obj: GroupMember) -> str | None:
        return obj.invited_by.user_name if obj.invited_by else None


GroupListSerializer = inline_serializer(
    "GroupList", {"total": serializers.IntegerField(), "items": GroupSerializer(many=True)}
)
AddMemberResultSerializer = inline_serializer(
    "AddMemberResult",
    {
        "success": serializers.BooleanField(),
        "message": serializers.CharField(),
        "data": GroupMemberSerializer(allow_null=True),
    },
)
NEW_OWNER_PARAMETER = OpenApiParameter(
    "new_owner_user_id",
    OpenApiTypes.INT,
    OpenApiParameter.QUERY,
    required=False,
    description="The new owner; may be sent in the JSON body instead.",
)


def group_body(group: Group, viewer: Any) -> dict[str, Any]:
    return dict(GroupSerializer(selectors.with_viewer_fields([group], viewer)[0]).data)


def member_body(member: GroupMember) -> dict[str, Any]:
    return dict(GroupMemberSerializer(member).data)


# --- views -----------------------------------------------------------------------------------
class GroupListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, default=1),
            OpenApiParameter("limit", OpenApiTypes.INT, default=10),
        ],
        responses=GroupListSerializer,
        tags=TAGS,
        operation_id="groups_list",
    )
    def get(self, request: Request) -> Response:
        page = page_params(request)
        rows, total = paginate(selectors.user_groups(request.user), page)
        items = GroupSerializer(selectors.with_viewer_fields(rows, request.user), many=True).data
        return Response(envelope(items, total))

    @extend_schema(request=GroupCreateSerializer, responses={201: GroupSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = validate_body(GroupCreateSerializer, request)
        group = groups.create_group(actor=request.user, **data)
        return Response(group_body(group, request.user), status=201)


class GroupDetailView(APIView):
    @extend_schema(responses=GroupSerializer, tags=TAGS)
    def get(self, request: Request, group_name: str) -> Response:
        group = groups.visible_group(actor=request.user, name=group_name)
        return Response(GroupSerializer(group).data)

    @extend_schema(request=GroupUpdateSerializer, responses=GroupSerializer, tags=TAGS)
    def put(self, request: Request, group_name: str) -> Response:
        data = validate_body(GroupUpdateSerializer, request)
        group = groups.update_group(actor=request.user, name=group_name, changes=data)
        return Response(group_body(group, request.user))

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, group_name: str) -> Response:
        groups.delete_group(actor=request.user, name=group_name)
        return Response(status=204)


class GroupMembersView(APIView):
    @extend_schema(responses=GroupMemberSerializer(many=True), tags=TAGS)
    def get(self, request: Request, group_name: str) -> Response:
        members = groups.visible_members(actor=request.user, name=group_name)
        return Response(GroupMemberSerializer(members, many=True).data)

    @extend_schema(request=MemberCreateSerializer, responses={201: GroupMemberSerializer}, tags=TAGS)
    def post(self, request: Request, group_name: str) -> Response:
        data = validate_body(MemberCreateSerializer, request)
        member = groups.add_member(
            actor=request.user, name=group_name, user_id=data["user_id"], role=data["role"]
        )
        return Response(member_body(member), status=201)


class GroupMemberByUsernameView(APIView):
    @extend_schema(
        parameters=[MemberByUsernameQuery],
        request=None,
        responses=AddMemberResultSerializer,
        tags=TAGS,
        description="Failures (unknown user, no permission, already a member) come back with 200.",
    )
    def post(self, request: Request, group_name: str) -> Response:
        data = validate_query(MemberByUsernameQuery, request)
        result = groups.add_member_by_username(
            actor=request.user, name=group_name, username=data["username"], role=data["role"]
        )
        member = member_body(result.member) if result.member else None
        return Response({"success": result.success, "message": result.message, "data": member})


class GroupInviteAllView(APIView):
    @extend_schema(request=None, responses={201: GroupMemberSerializer(many=True)}, tags=TAGS)
    def post(self, request: Request, group_name: str) -> Response:
        members = groups.invite_all(actor=request.user, name=group_name)
        return Response(GroupMemberSerializer(members, many=True).data, status=201)


class GroupMemberDetailView(APIView):
    @extend_schema(request=MemberUpdateSerializer, responses=GroupMemberSerializer, tags=TAGS)
    def put(self, request: Request, group_name: str, user_id: int) -> Response:
        data = validate_body(MemberUpdateSerializer, request)
        member = groups.change_member_role(
            actor=request.user, name=group_name, user_id=user_id, role=data["role"]
        )
        return Response(member_body(member))

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, group_name: str, user_id: int) -> Response:
        groups.remove_member(actor=request.user, name=group_name, user_id=user_id)
        return Response(status=204)


class GroupLeaveView(APIView):
    @extend_schema(request=None, responses={204: None}, tags=TAGS)
    def post(self, request: Request, group_name: str) -> Response:
        groups.leave_group(actor=request.user, name=group_name)
        return Response(status=204)


class GroupTransferOwnershipView(APIView):
    @extend_schema(
        parameters=[NEW_OWNER_PARAMETER],
        request=TransferOwnershipSerializer,
        responses=GroupSerializer,
        tags=TAGS,
    )
    def post(self, request: Request, group_name: str) -> Response:
        # The reference reads a query parameter while its own frontend sends a JSON body.
        if "new_owner_user_id" in request.query_params:
            data = validate_query(TransferOwnershipSerializer, request)
        else:
            data = validate_body(TransferOwnershipSerializer, request)
        group = groups.transfer_ownership(
            actor=request.user, name=group_name, new_owner_user_id=data["new_owner_user_id"]
        )
        return Response(group_body(group, request.user))


urlpatterns = [
    path("groups", GroupListView.as_view(), name="groups"),
    path("groups/<path:group_name>/members", GroupMembersView.as_view(), name="group-members"),
    path(
        "groups/<path:group_name>/members/by-username",
        GroupMemberByUsernameView.as_view(),
        name="group-member-by-username",
    ),
    path(
        "groups/<path:group_name>/members/invite-all",
        GroupInviteAllView.as_view(),
        name="group-invite-all",
    ),
    path(
        "groups/<path:group_name>/members/<int:user_id>",
        GroupMemberDetailView.as_view(),
        name="group-member-detail",
    ),
    path("groups/<path:group_name>/leave", GroupLeaveView.as_view(), name="group-leave"),
    path(
        "groups/<path:group_name>/transfer-ownership",
        GroupTransferOwnershipView.as_view(),
        name="group-transfer-ownership",
    ),
    path("groups/<path:group_name>", GroupDetailView.as_view(), name="group-detail"),
]
