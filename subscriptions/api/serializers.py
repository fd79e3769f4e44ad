"""Request and response bodies of ``/api/subscriptions`` (reference extras §2.3)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from subscriptions import statuses
from subscriptions.models import MARKET, PRIVATE, PUBLIC, TASK_TYPES, TRIGGER_TYPES
from wegent.api.validation import MAX_DB_INTEGER

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_TEMPLATE = 60_000
MAX_ID = MAX_DB_INTEGER


class Text(serializers.CharField):
    """A string only: a number or a list is an error, not text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class _StrictBool(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class _StrictInt(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class RefSerializer(serializers.Serializer):
    name = Text(max_length=100)
    namespace = Text(max_length=100, required=False, default="default")


class _SubscriptionFields(serializers.Serializer):
    display_name = Text(max_length=200)
    description = Text(required=False, allow_null=True, allow_blank=True, max_length=10_000)
    task_type = serializers.ChoiceField(choices=list(TASK_TYPES), required=False)
    visibility = serializers.ChoiceField(choices=[PRIVATE, PUBLIC, MARKET], required=False)
    trigger_type = serializers.ChoiceField(choices=list(TRIGGER_TYPES))
    trigger_config = serializers.DictField(required=False)
    team_id = _StrictInt(min_value=1, max_value=MAX_ID)
    workspace_id = _StrictInt(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    git_repo = Text(max_length=500, required=False, allow_null=True, allow_blank=True)
    git_repo_id = _StrictInt(min_value=0, max_value=MAX_ID, required=False, allow_null=True)
    git_domain = Text(max_length=200, required=False, allow_null=True, allow_blank=True)
    branch_name = Text(max_length=200, required=False, allow_null=True, allow_blank=True)
    model_ref = RefSerializer(required=False, allow_null=True)
    force_override_bot_model = _StrictBool(required=False)
    prompt_template = Text(max_length=MAX_TEMPLATE, trim_whitespace=False)
    retry_count = _StrictInt(min_value=0, max_value=3, required=False)
    timeout_seconds = _StrictInt(min_value=60, max_value=3600, required=False)
    enabled = _StrictBool(required=False)
    preserve_history = _StrictBool(required=False)
    history_message_count = _StrictInt(min_value=0, max_value=50, required=False)
    knowledge_base_refs = RefSerializer(many=True, required=False, max_length=50)
    namespace = Text(max_length=100, required=False)


class SubscriptionCreateSerializer(_SubscriptionFields):
    name = serializers.RegexField(NAME_PATTERN, max_length=100)


class SubscriptionUpdateSerializer(_SubscriptionFields):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for item in self.fields.values():
            item.required = False


class SubscriptionListQuery(serializers.Serializer):
    enabled = serializers.BooleanField(required=False, allow_null=True, default=None)
    trigger_type = serializers.ChoiceField(choices=list(TRIGGER_TYPES), required=False)


TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class ToggleQuery(serializers.Serializer):
    # Required (a missing flag would read as false from a query string).
    enabled = serializers.ChoiceField(choices=[*TRUE_WORDS, *FALSE_WORDS])

    def validate_enabled(self, value: str) -> bool:
        return value in TRUE_WORDS


class ExecutionListQuery(serializers.Serializer):
    subscription_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=list(statuses.ALL)), required=False, max_length=10
    )
    start_date = serializers.DateTimeField(required=False)
    end_date = serializers.DateTimeField(required=False)
    include_silent = serializers.BooleanField(default=False)


class StaleQuery(serializers.Serializer):
    hours = serializers.IntegerField(min_value=1, max_value=24, default=1)
    status = serializers.ChoiceField(choices=[statuses.PENDING, statuses.RUNNING], default=statuses.RUNNING)


# --- responses ------------------------------------------------------------------------------------


class SubscriptionOut(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    name = serializers.CharField()
    namespace = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    task_type = serializers.CharField()
    visibility = serializers.CharField()
    trigger_type = serializers.CharField()
    trigger_config = serializers.DictField()
    team_id = serializers.IntegerField()
    workspace_id = serializers.IntegerField(allow_null=True)
    git_repo = serializers.CharField(allow_null=True)
    git_repo_id = serializers.IntegerField(allow_null=True)
    git_domain = serializers.CharField(allow_null=True)
    branch_name = serializers.CharField(allow_null=True)
    model_ref = RefSerializer(allow_null=True)
    force_override_bot_model = serializers.BooleanField()
    prompt_template = serializers.CharField()
    retry_count = serializers.IntegerField()
    timeout_seconds = serializers.IntegerField()
    enabled = serializers.BooleanField()
    preserve_history = serializers.BooleanField()
    history_message_count = serializers.IntegerField()
    knowledge_base_refs = RefSerializer(many=True)
    webhook_url = serializers.CharField(allow_null=True)
    webhook_secret = serializers.CharField(allow_null=True)
    last_execution_time = serializers.DateTimeField(allow_null=True)
    last_execution_status = serializers.CharField(allow_null=True)
    next_execution_time = serializers.DateTimeField(allow_null=True)
    execution_count = serializers.IntegerField()
    success_count = serializers.IntegerField()
    failure_count = serializers.IntegerField()
    bound_task_id = serializers.IntegerField(allow_null=True)
    followers_count = serializers.IntegerField()
    is_following = serializers.BooleanField()
    owner_username = serializers.CharField()
    is_rental = serializers.BooleanField()
    source_subscription_id = serializers.IntegerField(allow_null=True)
    source_subscription_name = serializers.CharField(allow_null=True)
    source_subscription_display_name = serializers.CharField(allow_null=True)
    source_owner_username = serializers.CharField(allow_null=True)
    rental_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SubscriptionListOut(serializers.Serializer):
    total = serializers.IntegerField()
    items = SubscriptionOut(many=True)


class ExecutionOut(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    subscription_id = serializers.IntegerField()
    task_id = serializers.IntegerField(allow_null=True)
    trigger_type = serializers.CharField()  # one of EXECUTION_TRIGGERS
    trigger_reason = serializers.CharField()
    prompt = serializers.CharField()
    status = serializers.ChoiceField(choices=list(statuses.ALL))
    result_summary = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    retry_attempt = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    subscription_name = serializers.CharField()
    subscription_display_name = serializers.CharField()
    team_name = serializers.CharField(allow_null=True)
    task_type = serializers.CharField()
    can_delete = serializers.BooleanField()


class ExecutionListOut(serializers.Serializer):
    total = serializers.IntegerField()
    items = ExecutionOut(many=True)
