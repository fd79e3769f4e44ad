"""Group chats, invite links, task sharing and task knowledge bases (reference §6.7, §6.9).

Every route needs a signed-in caller, also the invite and share lookups the reference leaves
open (DESIGN §6): the token is needed in addition. The rules are in ``tasks.services.members``,
``tasks.services.sharing`` and ``tasks.services.task_knowledge``.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds.models import DEFAULT_NAMESPACE
from tasks.selectors import MAX_ID
from tasks.services import members, sharing, task_knowledge
from wegent.api.validation import validate_body, validate_query

MEMBER_TAGS = ["task-members"]
SHARE_TAGS = ["tasks"]
KB_TAGS = ["task-knowledge-bases"]


# --- input ----------------------------------------------------------------------------------------


class AddMemberSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()


class InviteLinkQuery(serializers.Serializer):
    expires_hours = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=members.MAX_INVITE_HOURS
    )


class InviteTokenQuery(serializers.Serializer):
    token = serializers.CharField(help_text="Invite token from the invite URL")


class ShareInfoQuery(serializers.Serializer):
    share_token = serializers.CharField(help_text="Share token from the share URL")


class SharePublicQuery(serializers.Serializer):
    token = serializers.CharField(help_text="Share token from the share URL")


class JoinSharedTaskSerializer(serializers.Serializer):
    share_token = serializers.CharField()
    team_id = serializers.IntegerField(required=False, allow_null=True)
    model_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    force_override_bot_model = serializers.BooleanField(required=False, default=False)
    force_override_bot_model_type = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=20
    )
    git_repo_id = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_ID)
    git_url = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=1000)
    git_repo = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=500)
    git_domain = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    branch_name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=500)


class BindKnowledgeBaseSerializer(serializers.Serializer):
    kb_name = serializers.CharField(max_length=200)
    kb_namespace = serializers.CharField(required=False, default=DEFAULT_NAMESPACE, max_length=200)


class UnbindKnowledgeBaseQuery(serializers.Serializer):
    kb_namespace = serializers.CharField(required=False, default=DEFAULT_NAMESPACE, max_length=200)
    kb_id = serializers.IntegerField(required=False, allow_null=True)


# --- output (for the schema) ----------------------------------------------------------------------


class ConvertResponseSerializer(serializers.Serializer):
    message = serializers.CharField()
    task_id = serializers.IntegerField()
    is_group_chat = serializers.BooleanField()


class TaskMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="0 for the owner")
    task_id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    avatar = serializers.CharField(allow_null=True)
    invited_by = serializers.IntegerField()
    inviter_name = serializers.CharField()
    status = serializers.ChoiceField(choices=[members.ACTIVE, members.REMOVED])
    joined_at = serializers.DateTimeField()
    is_owner = serializers.BooleanField()


class TaskMemberListSerializer(serializers.Serializer):
    members = TaskMemberSerializer(many=True)
    total = serializers.IntegerField()
    task_owner_id = serializers.IntegerField()


class RemoveMemberResponseSerializer(serializers.Serializer):
    message = serializers.CharField()
    user_id = serializers.IntegerField()


class InviteLinkSerializer(serializers.Serializer):
    invite_url = serializers.CharField()
    invite_token = serializers.CharField()
    expires_hours = serializers.IntegerField()


class InviteInfoSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    task_title = serializers.CharField()
    inviter_id = serializers.IntegerField()
    inviter_name = serializers.CharField()
    team_name = serializers.CharField(allow_null=True)
    member_count = serializers.IntegerField()
    expires_at = serializers.CharField(allow_null=True, help_text="null for a link that never expires")


class JoinByInviteSerializer(serializers.Serializer):
    message = serializers.CharField()
    task_id = serializers.IntegerField()
    already_member = serializers.BooleanField()


class TaskShareSerializer(serializers.Serializer):
    share_url = serializers.CharField()
    share_token = serializers.CharField()


class TaskShareInfoSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    user_name = serializers.CharField()
    task_id = serializers.IntegerField()
    task_title = serializers.CharField()
    task_type = serializers.CharField()
    git_repo_id = serializers.IntegerField(allow_null=True)
    git_repo = serializers.CharField(allow_null=True)
    git_domain = serializers.CharField(allow_null=True)
    git_type = serializers.CharField(allow_null=True)
    branch_name = serializers.CharField(allow_null=True)


class PublicSubtaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    prompt = serializers.CharField(allow_blank=True)
    result = serializers.JSONField(allow_null=True)
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    contexts = serializers.ListField(child=serializers.DictField())
    sender_type = serializers.CharField(allow_null=True)
    sender_user_id = serializers.IntegerField()
    sender_user_name = serializers.CharField(allow_null=True)
    reply_to_subtask_id = serializers.IntegerField()


class PublicSharedTaskSerializer(serializers.Serializer):
    task_title = serializers.CharField()
    sharer_name = serializers.CharField()
    sharer_id = serializers.IntegerField()
    subtasks = PublicSubtaskSerializer(many=True)
    created_at = serializers.DateTimeField()


class JoinSharedTaskResponseSerializer(serializers.Serializer):
    message = serializers.CharField()
    task_id = serializers.IntegerField()


class BoundKnowledgeBaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    namespace = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    document_count = serializers.IntegerField()
    bound_by = serializers.CharField()
    bound_at = serializers.CharField()


class BoundKnowledgeBaseListSerializer(serializers.Serializer):
    items = BoundKnowledgeBaseSerializer(many=True)
    total = serializers.IntegerField()
    max_limit = serializers.IntegerField()


class UnbindKnowledgeBaseSerializer(serializers.Serializer):
    message = serializers.CharField()
    kb_name = serializers.CharField()
    kb_namespace = serializers.CharField()


# --- group chat and members -----------------------------------------------------------------------


class ConvertToGroupChatView(APIView):
    @extend_schema(
        request=None,
        responses=ConvertResponseSerializer,
        tags=MEMBER_TAGS,
        operation_id="tasks_convert_to_group_chat",
    )
    def post(self, request: Request, task_id: int) -> Response:
        converted = members.convert_to_group_chat(actor=request.user, task_id=task_id)
        message = "Task converted to group chat successfully" if converted else "Task is already a group chat"
        return Response({"message": message, "task_id": task_id, "is_group_chat": True})


class TaskMembersView(APIView):
    @extend_schema(responses=TaskMemberListSerializer, tags=MEMBER_TAGS, operation_id="tasks_members_list")
    def get(self, request: Request, task_id: int) -> Response:
        return Response(members.list_members(actor=request.user, task_id=task_id))

    @extend_schema(
        request=AddMemberSerializer,
        responses=TaskMemberSerializer,
        tags=MEMBER_TAGS,
        operation_id="tasks_members_add",
    )
    def post(self, request: Request, task_id: int) -> Response:
        data = validate_body(AddMemberSerializer, request)
        return Response(members.add_member(actor=request.user, task_id=task_id, user_id=data["user_id"]))


class TaskMemberDetailView(APIView):
    @extend_schema(
        responses=RemoveMemberResponseSerializer, tags=MEMBER_TAGS, operation_id="tasks_members_remove"
    )
    def delete(self, request: Request, task_id: int, user_id: int) -> Response:
        return Response(members.remove_member(actor=request.user, task_id=task_id, user_id=user_id))


class LeaveGroupChatView(APIView):
    @extend_schema(
        request=None, responses=RemoveMemberResponseSerializer, tags=MEMBER_TAGS, operation_id="tasks_leave"
    )
    def post(self, request: Request, task_id: int) -> Response:
        return Response(members.leave(actor=request.user, task_id=task_id))


class InviteLinkView(APIView):
    @extend_schema(
        request=None,
        parameters=[InviteLinkQuery],
        responses=InviteLinkSerializer,
        tags=MEMBER_TAGS,
        operation_id="tasks_invite_link_create",
    )
    def post(self, request: Request, task_id: int) -> Response:
        hours = validate_query(InviteLinkQuery, request)["expires_hours"]
        return Response(members.create_invite_link(actor=request.user, task_id=task_id, expires_hours=hours))


class InviteInfoView(APIView):
    @extend_schema(
        parameters=[InviteTokenQuery],
        responses=InviteInfoSerializer,
        tags=MEMBER_TAGS,
        operation_id="tasks_invite_info",
    )
    def get(self, request: Request) -> Response:
        token = validate_query(InviteTokenQuery, request)["token"]
        return Response(members.invite_info(actor=request.user, token=token))


class InviteJoinView(APIView):
    @extend_schema(
        request=None,
        parameters=[InviteTokenQuery],
        responses=JoinByInviteSerializer,
        tags=MEMBER_TAGS,
        operation_id="tasks_invite_join",
    )
    def post(self, request: Request) -> Response:
        token = validate_query(InviteTokenQuery, request)["token"]
        return Response(members.join_by_invite(actor=request.user, token=token))


# --- sharing --------------------------------------------------------------------------------------


class ShareTaskView(APIView):
    @extend_schema(request=None, responses=TaskShareSerializer, tags=SHARE_TAGS, operation_id="tasks_share")
    def post(self, request: Request, task_id: int) -> Response:
        return Response(sharing.share_task(actor=request.user, task_id=task_id))


class ShareInfoView(APIView):
    @extend_schema(
        parameters=[ShareInfoQuery],
        responses=TaskShareInfoSerializer,
        tags=SHARE_TAGS,
        operation_id="tasks_share_info",
    )
    def get(self, request: Request) -> Response:
        token = validate_query(ShareInfoQuery, request)["share_token"]
        return Response(sharing.share_info(actor=request.user, token=token))


class SharePublicView(APIView):
    @extend_schema(
        parameters=[SharePublicQuery],
        responses=PublicSharedTaskSerializer,
        tags=SHARE_TAGS,
        operation_id="tasks_share_public",
    )
    def get(self, request: Request) -> Response:
        token = validate_query(SharePublicQuery, request)["token"]
        return Response(sharing.public_shared_task(actor=request.user, token=token))


class ShareJoinView(APIView):
    @extend_schema(
        request=JoinSharedTaskSerializer,
        responses=JoinSharedTaskResponseSerializer,
        tags=SHARE_TAGS,
        operation_id="tasks_share_join",
    )
    def post(self, request: Request) -> Response:
        data = validate_body(JoinSharedTaskSerializer, request)
        options = sharing.JoinOptions(**data)
        return Response(sharing.join_shared_task(actor=request.user, options=options))


# --- knowledge bases ------------------------------------------------------------------------------


class TaskKnowledgeBasesView(APIView):
    @extend_schema(
        responses=BoundKnowledgeBaseListSerializer, tags=KB_TAGS, operation_id="tasks_knowledge_bases_list"
    )
    def get(self, request: Request, task_id: int) -> Response:
        return Response(task_knowledge.list_bound(actor=request.user, task_id=task_id))

    @extend_schema(
        request=BindKnowledgeBaseSerializer,
        responses=BoundKnowledgeBaseSerializer,
        tags=KB_TAGS,
        operation_id="tasks_knowledge_bases_bind",
    )
    def post(self, request: Request, task_id: int) -> Response:
        data = validate_body(BindKnowledgeBaseSerializer, request)
        return Response(
            task_knowledge.bind(
                actor=request.user,
                task_id=task_id,
                kb_name=data["kb_name"],
                kb_namespace=data["kb_namespace"],
            )
        )


class TaskKnowledgeBaseDetailView(APIView):
    @extend_schema(
        parameters=[UnbindKnowledgeBaseQuery],
        responses=UnbindKnowledgeBaseSerializer,
        tags=KB_TAGS,
        operation_id="tasks_knowledge_bases_unbind",
    )
    def delete(self, request: Request, task_id: int, kb_name: str) -> Response:
        query = validate_query(UnbindKnowledgeBaseQuery, request)
        return Response(
            task_knowledge.unbind(
                actor=request.user,
                task_id=task_id,
                kb_name=kb_name,
                kb_namespace=query["kb_namespace"],
                kb_id=query.get("kb_id"),
            )
        )


urlpatterns = [
    path("tasks/invite/info", InviteInfoView.as_view(), name="task-invite-info"),
    path("tasks/invite/join", InviteJoinView.as_view(), name="task-invite-join"),
    path("tasks/share/info", ShareInfoView.as_view(), name="task-share-info"),
    path("tasks/share/public", SharePublicView.as_view(), name="task-share-public"),
    path("tasks/share/join", ShareJoinView.as_view(), name="task-share-join"),
    path(
        "tasks/<int:task_id>/convert-to-group-chat",
        ConvertToGroupChatView.as_view(),
        name="task-convert-to-group-chat",
    ),
    path("tasks/<int:task_id>/members", TaskMembersView.as_view(), name="task-members"),
    path("tasks/<int:task_id>/members/<int:user_id>", TaskMemberDetailView.as_view(), name="task-member"),
    path("tasks/<int:task_id>/leave", LeaveGroupChatView.as_view(), name="task-leave"),
    path("tasks/<int:task_id>/invite-link", InviteLinkView.as_view(), name="task-invite-link"),
    path("tasks/<int:task_id>/share", ShareTaskView.as_view(), name="task-share"),
    path(
        "tasks/<int:task_id>/knowledge-bases", TaskKnowledgeBasesView.as_view(), name="task-knowledge-bases"
    ),
    path(
        "tasks/<int:task_id>/knowledge-bases/<str:kb_name>",
        TaskKnowledgeBaseDetailView.as_view(),
        name="task-knowledge-base",
    ),
]
