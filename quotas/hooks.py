"""What the quotas app plugs into the apps below it (installed by QuotasConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from quotas import selectors, services
from quotas.models import Quota
from tasks.services import turns


def _rules_changed(sender: Any, **kwargs: Any) -> None:
    selectors.rules.clear()


def install() -> None:
    # Every turn that asks for an answer (REST and Kind API task creation, /api/v1/responses,
    # subscription runs; chat:send checks earlier itself) passes the user's quotas first.
    turns.answer_gates.register(services.check)
    post_save.connect(_rules_changed, sender=Quota, dispatch_uid="quotas.rules_changed.save")
    post_delete.connect(_rules_changed, sender=Quota, dispatch_uid="quotas.rules_changed.delete")
