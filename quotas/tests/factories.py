"""Quota rows for any app's tests (plain functions)."""

from __future__ import annotations

from typing import Any

from quotas.models import Quota


def make_quota(**fields: Any) -> Quota:
    """make_quota(user=u | group=g | neither, period="day", max_requests=.., max_tokens=..)."""
    if "scope" not in fields:
        fields["scope"] = (
            Quota.USER if fields.get("user") else Quota.GROUP if fields.get("group") else Quota.EVERY_USER
        )
    quota = Quota(**fields)
    quota.full_clean()
    quota.save()
    return quota
