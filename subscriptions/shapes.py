"""The REST shapes of this app (reference extras §2.3): SubscriptionInDB and
BackgroundExecutionInDB, as dicts the API serializers describe."""

from __future__ import annotations

from typing import Any

from subscriptions.models import BackgroundExecution, Subscription, SubscriptionFollow
from subscriptions.services import schedules
from subscriptions.services.subscriptions import webhook_secret

WEBHOOK_PATH = "/api/subscriptions/webhook/{token}"


def subscription(row: Subscription) -> dict[str, Any]:
    spec = row.spec
    source = row.source if row.is_rental else None
    git = spec.get("git") or {}
    trigger = row.trigger
    return {
        "id": row.pk,
        "user_id": row.owner_id,
        "name": row.name,
        "namespace": row.namespace,
        "display_name": row.display_name,
        "description": spec.get("description") or "",
        "task_type": spec.get("taskType") or "collection",
        "visibility": row.visibility,
        "trigger_type": row.trigger_type,
        "trigger_config": dict(trigger.get(row.trigger_type) or {}),
        "team_id": row.team_id,
        "workspace_id": row.workspace_id or None,
        "git_repo": git.get("gitRepo") or None,
        "git_repo_id": git.get("gitRepoId") or None,
        "git_domain": git.get("gitDomain") or None,
        "branch_name": git.get("branchName") or None,
        "model_ref": spec.get("modelRef"),
        "force_override_bot_model": bool(spec.get("forceOverrideBotModel")),
        "prompt_template": spec.get("promptTemplate") or "",
        "retry_count": spec.get("retryCount", 0),
        "timeout_seconds": spec.get("timeoutSeconds", 600),
        "enabled": row.enabled,
        "preserve_history": bool(spec.get("preserveHistory")),
        "history_message_count": spec.get("historyMessageCount", 10),
        "knowledge_base_refs": spec.get("knowledgeBaseRefs") or [],
        "webhook_url": WEBHOOK_PATH.format(token=row.webhook_token) if row.webhook_token else None,
        "webhook_secret": webhook_secret(row),
        "last_execution_time": row.last_execution_time,
        "last_execution_status": row.last_execution_status or None,
        "next_execution_time": schedules.next_fire_time(row),
        "execution_count": row.execution_count,
        "success_count": row.success_count,
        "failure_count": row.failure_count,
        "bound_task_id": row.bound_task_id or None,
        "followers_count": getattr(row, "followers", 0),
        "is_following": False,  # the owner's view; the discover list has its own
        "owner_username": row.owner.user_name,
        "is_rental": row.is_rental,
        "source_subscription_id": row.source_id,
        "source_subscription_name": source.name if source else None,
        "source_subscription_display_name": source.display_name if source else None,
        "source_owner_username": source.owner.user_name if source else None,
        "rental_count": row.rental_count,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def execution(row: BackgroundExecution, *, actor_id: int | None = None) -> dict[str, Any]:
    sub = row.subscription
    # A rental's prompt is its source's, which the renter does not get to read.
    prompt = "" if sub.is_rental else row.prompt
    return {
        "id": row.pk,
        "user_id": row.user_id,
        "subscription_id": row.subscription_id,
        "task_id": row.task_id or None,
        "trigger_type": row.trigger_type,
        "trigger_reason": row.trigger_reason,
        "prompt": prompt,
        "status": row.status,
        "result_summary": row.result_summary or None,
        "error_message": row.error_message or None,
        "retry_attempt": row.retry_attempt,
        "started_at": row.started_at,
        "completed_at": row.completed_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "subscription_name": sub.name,
        "subscription_display_name": sub.display_name,
        "team_name": None,
        "task_type": sub.spec.get("taskType") or "collection",
        "can_delete": row.can_delete and (actor_id is None or actor_id == row.user_id),
    }


def discovered(row: Subscription, *, following: bool) -> dict[str, Any]:
    return {
        "id": row.pk,
        "name": row.name,
        "display_name": row.display_name,
        "description": row.spec.get("description") or "",
        "task_type": row.spec.get("taskType") or "collection",
        "owner_user_id": row.owner_id,
        "owner_username": row.owner.user_name,
        "followers_count": getattr(row, "followers", 0),
        "is_following": following,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def follower(row: SubscriptionFollow) -> dict[str, Any]:
    return {
        "user_id": row.follower_id,
        "username": row.follower.user_name,
        "follow_type": row.follow_type,
        "followed_at": row.responded_at or row.created_at,
    }


def invitation(row: SubscriptionFollow) -> dict[str, Any]:
    sub = row.subscription
    return {
        "id": row.pk,
        "subscription_id": row.subscription_id,
        "subscription_name": sub.name,
        "subscription_display_name": sub.display_name,
        "user_id": row.follower_id,
        "username": row.follower.user_name,
        "invited_by_user_id": row.invited_by_user_id,
        "owner_username": sub.owner.user_name,
        "invitation_status": row.invitation_status,
        "invited_at": row.invited_at,
        "responded_at": row.responded_at,
    }


def following(row: SubscriptionFollow) -> dict[str, Any]:
    return {
        "subscription": discovered(row.subscription, following=True),
        "follow_type": row.follow_type,
        "followed_at": row.responded_at or row.created_at,
    }


def market(row: Subscription, *, rented: bool) -> dict[str, Any]:
    return {
        "id": row.pk,
        "name": row.name,
        "display_name": row.display_name,
        "description": row.spec.get("description") or "",
        "task_type": row.spec.get("taskType") or "collection",
        "trigger_type": row.trigger_type,
        "trigger_description": trigger_description(row),
        "owner_user_id": row.owner_id,
        "owner_username": row.owner.user_name,
        "rental_count": row.rental_count,
        "is_rented": rented,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def trigger_description(row: Subscription) -> str:
    config = row.trigger.get(row.trigger_type) or {}
    if row.trigger_type == "cron":
        return f"cron {config.get('expression')} ({config.get('timezone', 'UTC')})"
    if row.trigger_type == "interval":
        return f"every {config.get('value')} {config.get('unit')}"
    if row.trigger_type == "one_time":
        return f"once at {config.get('execute_at')}"
    return f"on {config.get('event_type', 'webhook')} event"
