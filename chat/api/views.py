"""``/api/chat``: the REST side of chat (streaming itself is Socket.IO)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import config
from chat.api import responses
from chat.tools import web_search
from kinds import selectors as kind_selectors
from wegent.errors import NotFound

TAGS = ["chat"]


class DirectChatSerializer(serializers.Serializer):
    supports_direct_chat = serializers.BooleanField()
    shell_type = serializers.CharField()


class SearchEngineSerializer(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()


class SearchEnginesSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    engines = SearchEngineSerializer(many=True)


class CheckDirectChatView(APIView):
    @extend_schema(responses=DirectChatSerializer, tags=TAGS)
    def get(self, request: Request, team_id: int) -> Response:
        team = kind_selectors.readable_row(request.user, "Team", team_id)
        if team is None:  # a team the caller may not read does not exist for them
            raise NotFound("Team not found")
        context = kind_selectors.TeamContext([team])
        members = context.members(team)
        shell_type = context.shell_type(members[0][1]) if members else ""
        return Response({"supports_direct_chat": config.supports_direct_chat(team), "shell_type": shell_type})


class SearchEnginesView(APIView):
    @extend_schema(responses=SearchEnginesSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        # Names only: an engine's URL and key stay on the server.
        engines = [{"name": e.name, "display_name": e.display_name} for e in web_search.engines()]
        return Response({"enabled": bool(engines), "engines": engines})


urlpatterns = [
    path("chat/check-direct-chat/<int:team_id>", CheckDirectChatView.as_view(), name="chat-check-direct"),
    path("chat/search-engines", SearchEnginesView.as_view(), name="chat-search-engines"),
    *responses.urlpatterns,
]
