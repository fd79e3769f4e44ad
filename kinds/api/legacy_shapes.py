"""Wire shapes of the legacy ``/api/bots`` and ``/api/teams`` routes.

Input serializers validate request bodies (422 on bad input); output serializers document the
flat objects ``kinds.shapes`` builds (the responses are those dicts).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from accounts.api.shapes import UserInDBSerializer, user_in_db
from accounts.models import User
from kinds.adapters import MAX_ROW_ID, SCOPES
from kinds.adapters.bots import BIND_TYPES, MAX_BOT_NAME
from kinds.specs.base import NAME_PATTERN, NAME_RULE
from wegent.api.validation import nullable_list


def _valid_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise serializers.ValidationError(f"Invalid name: {NAME_RULE}")
    return value


def _optional_text(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False, **kwargs
    )


def _names(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, allow_null=True, **kwargs
    )


def owner_in_db(owner: User | None, viewer: User) -> dict[str, Any] | None:
    """``UserInDB`` of a resource's owner; someone else's git accounts are not shown."""
    if owner is None:
        return None
    shown = user_in_db(owner)
    if owner.pk != viewer.pk:
        shown["git_info"] = []
    return shown


# --- queries ---------------------------------------------------------------------------------
class LegacyScopeQuery(serializers.Serializer):
    """``scope`` is checked by the adapters (400 with the valid values, as the shells route)."""

    scope = serializers.CharField(required=False, max_length=50)
    group_name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ForceQuery(serializers.Serializer):
    force = serializers.BooleanField(required=False, default=False)


# --- bots: input -----------------------------------------------------------------------------
class _AgentConfigMixin:
    def validate_agent_config(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return value
        if "bind_model" not in value:
            return value
        if not isinstance(value.get("bind_model"), str) or not value["bind_model"]:
            raise serializers.ValidationError("bind_model must be a model name")
        bind_type = value.get("bind_model_type")
        if bind_type is not None and bind_type not in BIND_TYPES:
            raise serializers.ValidationError(f"bind_model_type must be one of: {', '.join(BIND_TYPES)}")
        bind_namespace = value.get("bind_model_namespace")
        if bind_namespace is not None and (not isinstance(bind_namespace, str) or not bind_namespace):
            raise serializers.ValidationError("bind_model_namespace must be a namespace name")
        return value


class BotCreateSerializer(_AgentConfigMixin, serializers.Serializer):
    name = serializers.CharField(max_length=MAX_BOT_NAME, validators=[_valid_name])
    shell_name = serializers.CharField(max_length=100)
    agent_config = serializers.DictField(
        help_text='{"bind_model": name, "bind_model_type"?: public|user|group, "bind_model_namespace"?} '
        "to use an existing model, a custom model config (kept in the bot's own model), or {} for none"
    )
    system_prompt = _optional_text()
    mcp_servers = serializers.DictField(required=False, allow_null=True)
    skills = _names()
    preload_skills = _names()
    namespace = serializers.CharField(max_length=100, default="default")
    is_active = serializers.BooleanField(default=True)


class BotUpdateSerializer(_AgentConfigMixin, serializers.Serializer):
    name = serializers.CharField(max_length=MAX_BOT_NAME, validators=[_valid_name], required=False)
    shell_name = serializers.CharField(max_length=100, required=False)
    agent_config = serializers.DictField(required=False, allow_null=True)
    system_prompt = _optional_text()
    mcp_servers = serializers.DictField(required=False, allow_null=True)
    skills = _names()
    preload_skills = _names()
    namespace = serializers.CharField(max_length=100, required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)


# --- bots: output ----------------------------------------------------------------------------
class BotInDBSerializer(serializers.Serializer):
    """The flat bot (``BotInDB``); a custom ``agent_config`` shows its secrets masked."""

    id = serializers.IntegerField()
    user_id = serializers.IntegerField(help_text="0 for public bots")
    name = serializers.CharField()
    namespace = serializers.CharField()
    shell_name = serializers.CharField()
    shell_type = serializers.CharField()
    agent_config = serializers.DictField()
    system_prompt = serializers.CharField()
    mcp_servers = serializers.DictField()
    skills = serializers.ListField(child=serializers.CharField())
    preload_skills = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class BotDetailSerializer(BotInDBSerializer):
    user = UserInDBSerializer(allow_null=True, help_text="The owner (null for public bots)")


class BotListSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = BotInDBSerializer(many=True)


class RunningTaskSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    task_name = serializers.CharField()
    task_title = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    team_name = serializers.CharField(required=False)


class RunningTasksSerializer(serializers.Serializer):
    has_running_tasks = serializers.BooleanField()
    running_tasks_count = serializers.IntegerField()
    running_tasks = RunningTaskSerializer(many=True)


class LegacyMessageSerializer(serializers.Serializer):
    message = serializers.CharField()


# --- teams: input ----------------------------------------------------------------------------
class TeamBotInputSerializer(serializers.Serializer):
    bot_id = serializers.IntegerField(min_value=1, max_value=MAX_ROW_ID)
    bot_prompt = _optional_text()
    role = _optional_text(max_length=100)
    requireConfirmation = serializers.BooleanField(required=False, default=False)
    bot = serializers.DictField(required=False, allow_null=True, help_text="Ignored")


class _WorkflowMixin:
    def validate_workflow(self, value: Any) -> dict[str, Any] | None:
        if value is not None and "mode" in value and not isinstance(value["mode"], str):
            raise serializers.ValidationError("mode must be a string")
        return value


class TeamCreateSerializer(_WorkflowMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[_valid_name])
    description = _optional_text()
    bots = TeamBotInputSerializer(many=True, allow_empty=True)
    workflow = serializers.DictField(
        required=False, allow_null=True, help_text='{"mode": collaboration model}, default "pipeline"'
    )
    bind_mode = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, allow_null=True
    )
    is_active = serializers.BooleanField(default=True)
    icon = _optional_text(max_length=200)
    requires_workspace = serializers.BooleanField(required=False, allow_null=True)
    namespace = serializers.CharField(max_length=100, default="default")


class TeamUpdateSerializer(_WorkflowMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[_valid_name], required=False)
    description = _optional_text()
    bots = nullable_list(TeamBotInputSerializer(), allow_empty=True, required=False)
    workflow = serializers.DictField(required=False, allow_null=True)
    bind_mode = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, allow_null=True
    )
    is_active = serializers.BooleanField(required=False)
    icon = _optional_text(max_length=200)
    requires_workspace = serializers.BooleanField(required=False, allow_null=True)
    namespace = serializers.CharField(max_length=100, required=False, allow_null=True)


# --- teams: output ---------------------------------------------------------------------------
class TeamBotSummarySerializer(serializers.Serializer):
    agent_config = serializers.DictField()
    agent_name = serializers.CharField(allow_null=True)
    shell_type = serializers.CharField()


class TeamBotSerializer(serializers.Serializer):
    bot_id = serializers.IntegerField()
    bot_prompt = serializers.CharField()
    role = serializers.CharField()
    requireConfirmation = serializers.BooleanField()
    bot = TeamBotSummarySerializer()


class TeamWorkflowSerializer(serializers.Serializer):
    mode = serializers.CharField(allow_null=True)


class TeamOwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    user_name = serializers.CharField()


class _TeamBaseSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    workflow = TeamWorkflowSerializer()
    bind_mode = serializers.ListField(child=serializers.CharField(), allow_null=True)
    is_active = serializers.BooleanField()
    icon = serializers.CharField(allow_null=True)
    requires_workspace = serializers.BooleanField(allow_null=True)
    id = serializers.IntegerField()
    user_id = serializers.IntegerField(help_text="0 for public teams")
    namespace = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    share_status = serializers.IntegerField(help_text="0 own, 1 own and shared, 2 shared to me (not yet)")
    agent_type = serializers.CharField(allow_null=True)
    recommended_mode = serializers.CharField(help_text="chat, code or both (from bind_mode)")


class TeamInDBSerializer(_TeamBaseSerializer):
    bots = TeamBotSerializer(many=True)
    user = TeamOwnerSerializer(allow_null=True)


class TeamDetailBotSerializer(serializers.Serializer):
    bot = BotInDBSerializer()
    bot_prompt = serializers.CharField()
    role = serializers.CharField()
    requireConfirmation = serializers.BooleanField()


class TeamDetailSerializer(_TeamBaseSerializer):
    bots = TeamDetailBotSerializer(many=True)
    user = UserInDBSerializer(allow_null=True, help_text="The owner (null for public teams)")


class TeamListSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = TeamInDBSerializer(many=True)


class TeamSkillsSerializer(serializers.Serializer):
    team_id = serializers.IntegerField()
    team_namespace = serializers.CharField()
    skills = serializers.ListField(child=serializers.CharField())
    preload_skills = serializers.ListField(child=serializers.CharField())


def list_parameters(default_scope: str) -> list[OpenApiParameter]:
    """Query parameters of the legacy list routes (``/bots``, ``/teams``) for the schema."""
    return [
        OpenApiParameter("page", OpenApiTypes.INT, default=1),
        OpenApiParameter("limit", OpenApiTypes.INT, default=10),
        OpenApiParameter("scope", OpenApiTypes.STR, enum=list(SCOPES), default=default_scope),
        OpenApiParameter("group_name", OpenApiTypes.STR, required=False),
    ]


FORCE_PARAMETER = OpenApiParameter("force", OpenApiTypes.BOOL, default=False)
