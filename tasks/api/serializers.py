"""Request validation and documented response shapes of the task routes.

Responses are built by ``tasks.shapes``; the response serializers here describe them for the
OpenAPI schema only.
"""

from __future__ import annotations

from rest_framework import serializers

from tasks import statuses
from tasks.models import MAX_TITLE_COLUMN
from wegent.api.validation import nullable_list

TASK_MODES = ("online", "offline", "subscription", "flow")
TASK_TYPES = ("chat", "code", "knowledge", "task")
OVERRIDE_TYPES = ("public", "user", "group")


def _text(max_length: int, **kwargs: object) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, required=False, allow_blank=True, **kwargs)


class AdditionalSkillSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    namespace = serializers.CharField(max_length=100, default="default")
    is_public = serializers.BooleanField(default=False)


class TaskCreateSerializer(serializers.Serializer):
    """``TaskCreate``; the extra keys the frontend sends (batch, user_id, ...) are ignored."""

    prompt = serializers.CharField(allow_blank=False, trim_whitespace=False)
    title = _text(MAX_TITLE_COLUMN, allow_null=True)
    team_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    team_name = _text(100, allow_null=True)
    team_namespace = serializers.CharField(max_length=100, required=False, default="default")
    git_url = _text(1000, default="")
    git_repo = _text(500, default="")
    git_repo_id = serializers.IntegerField(required=False, default=0, min_value=0)
    git_domain = _text(255, default="")
    branch_name = _text(255, default="")
    type = serializers.ChoiceField(choices=TASK_MODES, default="online")
    task_type = serializers.ChoiceField(choices=TASK_TYPES, default="chat")
    auto_delete_executor = serializers.ChoiceField(choices=("true", "false"), default="false")
    source = serializers.CharField(max_length=50, default="web")
    model_id = _text(100, allow_null=True)
    force_override_bot_model = serializers.BooleanField(default=False)
    force_override_bot_model_type = serializers.ChoiceField(
        choices=OVERRIDE_TYPES, required=False, allow_null=True
    )
    api_key_name = _text(100, allow_null=True)
    additional_skills = nullable_list(AdditionalSkillSerializer(), required=False)


class TaskCreateQuery(serializers.Serializer):
    task_id = serializers.IntegerField(required=False, min_value=1)


class TaskUpdateSerializer(serializers.Serializer):
    """``TaskUpdate``: every key optional; executor fields are accepted and not applied."""

    title = serializers.CharField(max_length=MAX_TITLE_COLUMN, required=False, allow_blank=False)
    prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    status = serializers.ChoiceField(choices=statuses.TASK_STATUSES, required=False)
    progress = serializers.IntegerField(required=False, min_value=0, max_value=100)
    result = serializers.DictField(required=False, allow_null=True)
    error_message = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    executor_namespace = _text(100, allow_null=True)
    executor_name = _text(100, allow_null=True)
    git_url = _text(1000, allow_null=True)
    git_repo_id = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class PersonalListQuery(serializers.Serializer):
    types = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate_types(self, value: str) -> list[str]:
        wanted = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [part for part in wanted if part not in TASK_MODES]
        if unknown:
            raise serializers.ValidationError(f"Unknown task types: {', '.join(unknown)}")
        return wanted


class NewTasksQuery(serializers.Serializer):
    since_id = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)


class SearchQuery(serializers.Serializer):
    title = serializers.CharField(max_length=MAX_TITLE_COLUMN, allow_blank=False)


# --- documented responses ----------------------------------------------------------------------


class TaskIdSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()


class TaskInDBSerializer(serializers.Serializer):
    title = serializers.CharField()
    type = serializers.CharField()
    task_type = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)
    git_url = serializers.CharField()
    git_repo = serializers.CharField()
    git_repo_id = serializers.IntegerField()
    git_domain = serializers.CharField()
    branch_name = serializers.CharField()
    prompt = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    result = serializers.DictField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    user_name = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    is_group_chat = serializers.BooleanField()
    preserve_executor = serializers.BooleanField()


class TaskListSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = TaskInDBSerializer(many=True)


class TaskLiteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    task_type = serializers.CharField()
    type = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    team_id = serializers.IntegerField(allow_null=True)
    git_repo = serializers.CharField()
    is_group_chat = serializers.BooleanField()
    knowledge_base_id = serializers.IntegerField(allow_null=True)


class TaskLiteListSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = TaskLiteSerializer(many=True)


class ContextBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    context_type = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()


class SubtaskInDBSerializer(serializers.Serializer):
    """``SubtaskInDB`` (built by ``tasks.shapes.subtask_in_db``)."""

    id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    team_id = serializers.IntegerField()
    title = serializers.CharField()
    bot_ids = serializers.ListField(child=serializers.IntegerField())
    role = serializers.ChoiceField(choices=statuses.MESSAGE_ROLES)
    prompt = serializers.CharField()
    executor_namespace = serializers.CharField()
    executor_name = serializers.CharField()
    message_id = serializers.IntegerField()
    parent_id = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=statuses.SUBTASK_STATUSES)
    progress = serializers.IntegerField()
    result = serializers.DictField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    user_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    executor_deleted_at = serializers.BooleanField()
    contexts = ContextBriefSerializer(many=True)
    attachments = serializers.ListField(child=serializers.DictField(), help_text="always empty (deprecated)")
    sender_type = serializers.CharField(allow_null=True)
    sender_user_id = serializers.IntegerField()
    sender_user_name = serializers.CharField(allow_null=True)
    reply_to_subtask_id = serializers.IntegerField()


class DetailSubtaskSerializer(SubtaskInDBSerializer):
    """A message as the task detail and ``task:join`` show it: with its bots."""

    executor_deleted_at = None
    bots = serializers.ListField(child=serializers.DictField())


class TaskDetailSerializer(TaskInDBSerializer):
    """``TaskDetail``: ``TaskInDB``'s fields (less the list-only ones), the caller, the team and
    the latest messages."""

    type = None
    team_id = None
    user_id = None
    user_name = None
    user = serializers.DictField()
    team = serializers.DictField(allow_null=True)
    subtasks = DetailSubtaskSerializer(many=True)
    model_id = serializers.CharField(allow_null=True)
    is_group_owner = serializers.BooleanField()
    member_count = serializers.IntegerField(allow_null=True)
    app = serializers.DictField(allow_null=True)
    device_id = serializers.CharField(allow_null=True)


class CancelSerializer(serializers.Serializer):
    message = serializers.CharField()
    status = serializers.CharField()
