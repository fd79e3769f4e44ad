"""Follow, followers, notification settings and invitations of ``/api/subscriptions/{id}``
(a mixin of the subscription ViewSet), ``discover``, and the caller's follows and invitations
(``/api/users/me/...``, ``/api/subscription-invitations/{id}/accept|reject``)."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from subscriptions import selectors, shapes
from subscriptions.models import NOTIFICATION_LEVELS
from subscriptions.services import follows
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.validation import MAX_DB_INTEGER, validate_body, validate_query

TAGS = ["subscriptions"]


class SettingsBody(serializers.Serializer):
    notification_level = serializers.ChoiceField(choices=list(NOTIFICATION_LEVELS), required=False)
    notification_channel_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER), required=False, max_length=20
    )


class SettingsOut(serializers.Serializer):
    notification_level = serializers.CharField()
    notification_channel_ids = serializers.ListField(child=serializers.IntegerField())
    notification_channels = serializers.ListField(child=serializers.DictField())
    available_channels = serializers.ListField(child=serializers.DictField())


class InviteBody(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER, required=False)
    email = serializers.EmailField(required=False, max_length=100)


class NamespaceBody(serializers.Serializer):
    namespace_id = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER)


class NamespaceInviteOut(serializers.Serializer):
    message = serializers.CharField()
    namespace_id = serializers.IntegerField()
    invited_count = serializers.IntegerField()


class DiscoverQuery(serializers.Serializer):
    sort_by = serializers.ChoiceField(choices=["popularity", "recent"], default="popularity")
    search = serializers.CharField(required=False, max_length=100, allow_blank=True)


class MessageOut(serializers.Serializer):
    message = serializers.CharField()


class CountOut(serializers.Serializer):
    count = serializers.IntegerField()


class DiscoveredOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    task_type = serializers.CharField()
    owner_user_id = serializers.IntegerField()
    owner_username = serializers.CharField()
    followers_count = serializers.IntegerField()
    is_following = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DiscoverListOut(serializers.Serializer):
    total = serializers.IntegerField()
    items = DiscoveredOut(many=True)


class FollowerOut(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    follow_type = serializers.CharField()
    followed_at = serializers.DateTimeField()


class FollowerListOut(serializers.Serializer):
    total = serializers.IntegerField()
    items = FollowerOut(many=True)


class InvitationOut(serializers.Serializer):
    id = serializers.IntegerField()
    subscription_id = serializers.IntegerField()
    subscription_name = serializers.CharField()
    subscription_display_name = serializers.CharField()
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    invited_by_user_id = serializers.IntegerField()
    owner_username = serializers.CharField()
    invitation_status = serializers.CharField()
    invited_at = serializers.DateTimeField(allow_null=True)
    responded_at = serializers.DateTimeField(allow_null=True)


class InvitationListOut(serializers.Serializer):
    total = serializers.IntegerField()
    items = InvitationOut(many=True)


class FollowingOut(serializers.Serializer):
    subscription = DiscoveredOut()
    follow_type = serializers.CharField()
    followed_at = serializers.DateTimeField()


class FollowingListOut(serializers.Serializer):
    total = serializers.IntegerField()
    items = FollowingOut(many=True)


PAGE = [OpenApiParameter("page", int), OpenApiParameter("limit", int)]


def _settings_out(config: dict[str, Any]) -> dict[str, Any]:
    # No IM channels exist yet: none chosen, none to choose from.
    return {**config, "notification_channels": [], "available_channels": []}


def _settings_args(request: Request) -> dict[str, Any]:
    data = validate_body(SettingsBody, request)
    return {"level": data.get("notification_level"), "channel_ids": data.get("notification_channel_ids")}


class FollowActions:
    """The follow-related ``@action``s of the subscription ViewSet."""

    @extend_schema(tags=TAGS, parameters=[DiscoverQuery, *PAGE], responses=DiscoverListOut)
    @action(detail=False, methods=["get"], url_path="discover", url_name="discover")
    def discover(self, request: Request) -> Response:
        query = validate_query(DiscoverQuery, request)
        page = page_params(request, default_limit=50, max_limit=100)
        rows, total = paginate(
            selectors.discover(request.user, sort_by=query["sort_by"], search=query.get("search")), page
        )
        followed = selectors.following_ids(request.user, [row.pk for row in rows])
        return Response(
            envelope([shapes.discovered(row, following=row.pk in followed) for row in rows], total)
        )

    @extend_schema(tags=TAGS, request=SettingsBody, responses=MessageOut, methods=["POST"])
    @extend_schema(tags=TAGS, request=None, responses=MessageOut, methods=["DELETE"])
    @action(detail=True, methods=["post", "delete"], url_path="follow", url_name="follow")
    def follow(self, request: Request, subscription_id: int) -> Response:
        if request.method == "DELETE":
            follows.unfollow(actor=request.user, subscription_id=subscription_id)
            return Response({"message": "Unfollowed subscription"})
        follows.follow(actor=request.user, subscription_id=subscription_id, **_settings_args(request))
        return Response({"message": "Following subscription"})

    @extend_schema(tags=TAGS, parameters=PAGE, responses=FollowerListOut)
    @action(detail=True, methods=["get"], url_path="followers", url_name="followers")
    def followers(self, request: Request, subscription_id: int) -> Response:
        page = page_params(request, default_limit=20, max_limit=100)
        rows, total = paginate(selectors.followers(request.user, subscription_id), page)
        return Response(envelope([shapes.follower(row) for row in rows], total))

    @extend_schema(tags=TAGS, responses=CountOut)
    @action(detail=True, methods=["get"], url_path="followers/count", url_name="followers-count")
    def followers_count(self, request: Request, subscription_id: int) -> Response:
        return Response({"count": selectors.followers_count(request.user, subscription_id)})

    @extend_schema(tags=TAGS, request=None, responses=SettingsOut, methods=["GET"])
    @extend_schema(tags=TAGS, request=SettingsBody, responses=SettingsOut, methods=["PUT"])
    @action(detail=True, methods=["get", "put"], url_path="follow/settings", url_name="follow-settings")
    def follow_settings(self, request: Request, subscription_id: int) -> Response:
        if request.method == "PUT":
            config = follows.update_follow_settings(
                actor=request.user, subscription_id=subscription_id, **_settings_args(request)
            )
        else:
            config = follows.follow_settings(actor=request.user, subscription_id=subscription_id)
        return Response(_settings_out(config))

    @extend_schema(tags=TAGS, request=None, responses=SettingsOut, methods=["GET"])
    @extend_schema(tags=TAGS, request=SettingsBody, responses=SettingsOut, methods=["PUT"])
    @action(
        detail=True,
        methods=["get", "put"],
        url_path="developer/notification-settings",
        url_name="developer-settings",
    )
    def developer_settings(self, request: Request, subscription_id: int) -> Response:
        if request.method == "PUT":
            config = follows.update_developer_settings(
                actor=request.user, subscription_id=subscription_id, **_settings_args(request)
            )
        else:
            config = follows.developer_settings(actor=request.user, subscription_id=subscription_id)
        return Response(_settings_out(config))

    @extend_schema(tags=TAGS, request=InviteBody, responses=InvitationOut)
    @action(detail=True, methods=["post"], url_path="invite", url_name="invite")
    def invite(self, request: Request, subscription_id: int) -> Response:
        data = validate_body(InviteBody, request)
        row = follows.invite(
            actor=request.user,
            subscription_id=subscription_id,
            user_id=data.get("user_id"),
            email=data.get("email"),
        )
        return Response(shapes.invitation(selectors.pending_invitations(row.follower).get(pk=row.pk)))

    @extend_schema(tags=TAGS, request=None, responses=MessageOut)
    @action(detail=True, methods=["delete"], url_path="invite/<int:user_id>", url_name="invite-revoke")
    def revoke_invite(self, request: Request, subscription_id: int, user_id: int) -> Response:
        follows.revoke(actor=request.user, subscription_id=subscription_id, user_id=user_id)
        return Response({"message": "Invitation revoked"})

    @extend_schema(tags=TAGS, request=NamespaceBody, responses=NamespaceInviteOut)
    @action(detail=True, methods=["post"], url_path="invite-namespace", url_name="invite-namespace")
    def invite_namespace(self, request: Request, subscription_id: int) -> Response:
        namespace_id = validate_body(NamespaceBody, request)["namespace_id"]
        count = follows.invite_namespace(
            actor=request.user, subscription_id=subscription_id, namespace_id=namespace_id
        )
        return Response(
            {"message": "Namespace invited", "namespace_id": namespace_id, "invited_count": count}
        )

    @extend_schema(tags=TAGS, request=None, responses=MessageOut)
    @action(
        detail=True,
        methods=["delete"],
        url_path="invite-namespace/<int:namespace_id>",
        url_name="invite-namespace-revoke",
    )
    def revoke_namespace(self, request: Request, subscription_id: int, namespace_id: int) -> Response:
        follows.revoke_namespace(
            actor=request.user, subscription_id=subscription_id, namespace_id=namespace_id
        )
        return Response({"message": "Namespace invitation revoked"})

    @extend_schema(tags=TAGS, parameters=PAGE, responses=InvitationListOut)
    @action(detail=True, methods=["get"], url_path="invitations", url_name="invitations")
    def invitations(self, request: Request, subscription_id: int) -> Response:
        page = page_params(request, default_limit=20, max_limit=100)
        rows, total = paginate(selectors.invitations_sent(request.user, subscription_id), page)
        return Response(envelope([shapes.invitation(row) for row in rows], total))


class FollowingView(APIView):
    @extend_schema(tags=TAGS, parameters=PAGE, responses=FollowingListOut)
    def get(self, request: Request) -> Response:
        page = page_params(request, default_limit=20, max_limit=100)
        rows, total = paginate(selectors.following(request.user), page)
        return Response(envelope([shapes.following(row) for row in rows], total))


class MyInvitationsView(APIView):
    @extend_schema(tags=TAGS, parameters=PAGE, responses=InvitationListOut)
    def get(self, request: Request) -> Response:
        page = page_params(request, default_limit=20, max_limit=100)
        rows, total = paginate(selectors.pending_invitations(request.user), page)
        return Response(envelope([shapes.invitation(row) for row in rows], total))


class RespondView(APIView):
    accept = True

    @extend_schema(tags=TAGS, request=None, responses=MessageOut)
    def post(self, request: Request, invitation_id: int) -> Response:
        follows.respond(actor=request.user, invitation_id=invitation_id, accept=self.accept)
        return Response({"message": "Invitation accepted" if self.accept else "Invitation rejected"})


urlpatterns = [
    path("users/me/following-subscriptions", FollowingView.as_view(), name="subscriptions-following"),
    path(
        "users/me/subscription-invitations", MyInvitationsView.as_view(), name="subscriptions-my-invitations"
    ),
    path(
        "subscription-invitations/<int:invitation_id>/accept",
        RespondView.as_view(accept=True),
        name="subscription-invitation-accept",
    ),
    path(
        "subscription-invitations/<int:invitation_id>/reject",
        RespondView.as_view(accept=False),
        name="subscription-invitation-reject",
    ),
]
