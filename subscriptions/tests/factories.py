"""Subscriptions for any test (plain functions; made through the services)."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from kinds.models import Kind
from subscriptions.models import Subscription
from subscriptions.services import subscriptions as service


def body(team: Kind, name: str = "daily", **fields: Any) -> dict[str, Any]:
    """A valid create body (a cron subscription) with ``fields`` over it."""
    data: dict[str, Any] = {
        "name": name,
        "display_name": "Daily digest",
        "trigger_type": "cron",
        "trigger_config": {"expression": "0 9 * * *", "timezone": "Asia/Shanghai"},
        "team_id": team.pk,
        "prompt_template": "Summarise {{date}} for {{subscription_name}}",
    }
    data.update(fields)
    return data


def make_subscription(owner: User, team: Kind, name: str = "daily", **fields: Any) -> Subscription:
    return service.create(actor=owner, data=service.SubscriptionInput.of(body(team, name, **fields)))
