"""``/api/teams``: the flat team ("agent") of the reference over Team Kind rows.

Not here yet: the share routes (``/teams/{id}/share``, ``/teams/share/info``,
``/teams/share/join``) and ``/teams/{id}/input-parameters``.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds import list_cache
from kinds.adapters import teams as adapter
from kinds.api.legacy_shapes import (
    FORCE_PARAMETER,
    ForceQuery,
    LegacyMessageSerializer,
    LegacyScopeQuery,
    RunningTasksSerializer,
    TeamCreateSerializer,
    TeamDetailSerializer,
    TeamInDBSerializer,
    TeamListSerializer,
    TeamSkillsSerializer,
    TeamUpdateSerializer,
    list_parameters,
    owner_in_db,
)
from kinds.models import Kind
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.validation import validate_body, validate_query

TAGS = ["teams"]
LIST_PARAMETERS = list_parameters("all")
FORCE = FORCE_PARAMETER


def _flat(row: Kind) -> dict[str, Any]:
    return adapter.flat_teams([row])[0]


class TeamListView(APIView):
    @extend_schema(
        parameters=LIST_PARAMETERS, responses=TeamListSerializer, tags=TAGS, operation_id="teams_list"
    )
    def get(self, request: Request) -> Response:
        page = page_params(request)
        query = validate_query(LegacyScopeQuery, request)
        scope, group_name = query.get("scope") or "all", query.get("group_name")

        def build() -> dict[str, Any]:
            rows = adapter.team_rows(actor=request.user, scope=scope, group_name=group_name)
            items, total = paginate(rows, page)
            return envelope(adapter.flat_teams(items), total)

        key = ("teams", request.user.pk, scope, group_name, page.page, page.limit)
        return Response(list_cache.cached(key, build))

    @extend_schema(request=TeamCreateSerializer, responses={201: TeamInDBSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = validate_body(TeamCreateSerializer, request)
        data.pop("is_active", None)
        row = adapter.create_team(actor=request.user, **data)
        return Response(_flat(row), status=201)


class TeamDetailView(APIView):
    @extend_schema(responses=TeamDetailSerializer, tags=TAGS)
    def get(self, request: Request, team_id: int) -> Response:
        detail, owner = adapter.team_detail(actor=request.user, team_id=team_id)
        return Response({**detail, "user": owner_in_db(owner, request.user)})

    @extend_schema(request=TeamUpdateSerializer, responses=TeamInDBSerializer, tags=TAGS)
    def put(self, request: Request, team_id: int) -> Response:
        changes = validate_body(TeamUpdateSerializer, request)
        changes.pop("is_active", None)
        row = adapter.update_team(actor=request.user, team_id=team_id, changes=changes)
        return Response(_flat(row))

    @extend_schema(parameters=[FORCE], responses=LegacyMessageSerializer, tags=TAGS)
    def delete(self, request: Request, team_id: int) -> Response:
        force = validate_query(ForceQuery, request)["force"]
        adapter.delete_team(actor=request.user, team_id=team_id, force=force)
        return Response({"message": "Team deactivated successfully"})


class TeamRunningTasksView(APIView):
    @extend_schema(responses=RunningTasksSerializer, tags=TAGS, operation_id="teams_running_tasks")
    def get(self, request: Request, team_id: int) -> Response:
        return Response(adapter.running_tasks(actor=request.user, team_id=team_id))


class TeamSkillsView(APIView):
    @extend_schema(responses=TeamSkillsSerializer, tags=TAGS)
    def get(self, request: Request, team_id: int) -> Response:
        return Response(adapter.team_skills(actor=request.user, team_id=team_id))


urlpatterns = [
    path("teams", TeamListView.as_view(), name="teams"),
    path("teams/<int:team_id>", TeamDetailView.as_view(), name="team-detail"),
    path("teams/<int:team_id>/running-tasks", TeamRunningTasksView.as_view(), name="team-running-tasks"),
    path("teams/<int:team_id>/skills", TeamSkillsView.as_view(), name="team-skills"),
]
