"""Reads of quotas: the active rules (kept per process, see ``Rules``) and what a user has used
against each rule that applies to them."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from accounts import selectors as account_selectors
from quotas import periods
from quotas.models import Quota
from tasks import selectors as task_selectors


@dataclass(frozen=True)
class Rule:
    """An active quota, as the checks need it (no ORM row on the hot path)."""

    id: int
    scope: str
    user_id: int | None
    group_id: int | None
    group_name: str
    period: str
    max_requests: int | None
    max_tokens: int | None


@dataclass(frozen=True)
class Figure:
    """One rule with what its subject used in the current period."""

    rule: Rule
    used_requests: int
    used_tokens: int
    reset_at: dt.datetime

    @property
    def exceeded(self) -> bool:
        rule = self.rule
        return (rule.max_requests is not None and self.used_requests >= rule.max_requests) or (
            rule.max_tokens is not None and self.used_tokens >= rule.max_tokens
        )

    def as_dict(self) -> dict[str, object]:
        rule = self.rule
        return {
            "id": rule.id,
            "scope": rule.scope,
            "group": rule.group_name or None,
            "period": rule.period,
            "max_requests": rule.max_requests,
            "max_tokens": rule.max_tokens,
            "used_requests": self.used_requests,
            "used_tokens": self.used_tokens,
            "reset_at": self.reset_at.astimezone(dt.UTC).isoformat(),
            "exceeded": self.exceeded,
        }


def rule_of(row: Quota) -> Rule:
    return Rule(
        id=row.pk,
        scope=row.scope,
        user_id=row.user_id,
        group_id=row.group_id,
        group_name=row.group.name if row.group_id else "",
        period=row.period,
        max_requests=row.max_requests,
        max_tokens=row.max_tokens,
    )


class Rules:
    """The active rules, loaded once and kept for ``QUOTA_RULES_CACHE_SECONDS``: a send with no
    quota configured costs no query at all. A save or delete in this process drops them at once
    (signals in ``quotas.hooks``); other processes see admin changes within the TTL."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: tuple[Rule, ...] | None = None
        self._loaded = 0.0

    def clear(self) -> None:
        with self._lock:
            self._rules = None

    def get(self) -> tuple[Rule, ...]:
        rules, loaded = self._rules, self._loaded
        if rules is not None and time.monotonic() - loaded < settings.QUOTA_RULES_CACHE_SECONDS:
            return rules
        rows = Quota.objects.filter(is_active=True).select_related("group").order_by("id")
        fresh = tuple(rule_of(row) for row in rows)
        with self._lock:
            self._rules, self._loaded = fresh, time.monotonic()
        return fresh


rules = Rules()


def rules_for(user_id: int) -> list[Rule]:
    """The active rules that apply to the user: theirs, every user's, their groups'."""
    every = rules.get()
    if not every:
        return []
    group_ids = {rule.group_id for rule in every if rule.scope == Quota.GROUP and rule.group_id}
    mine = account_selectors.member_group_ids(user_id, group_ids) if group_ids else set()
    return [
        rule
        for rule in every
        if rule.scope == Quota.EVERY_USER
        or (rule.scope == Quota.USER and rule.user_id == user_id)
        or (rule.scope == Quota.GROUP and rule.group_id in mine)
    ]


def figures(user_id: int, applying: list[Rule], now: dt.datetime | None = None) -> list[Figure]:
    """What was used against each rule: one usage query for the user's own rules, one (plus its
    member list) per group rule's group."""
    now = now or timezone.now()
    bounds = {period: periods.window(period, now) for period in {rule.period for rule in applying}}
    subjects: dict[int | None, list[Rule]] = {}
    for rule in applying:
        subjects.setdefault(rule.group_id if rule.scope == Quota.GROUP else None, []).append(rule)
    found: list[Figure] = []
    for group_id, group_rules in subjects.items():
        user_ids = [user_id] if group_id is None else account_selectors.active_member_ids(group_id)
        wanted = {rule.period: bounds[rule.period][0] for rule in group_rules}
        used = task_selectors.answer_usage(user_ids, wanted)
        for rule in group_rules:
            requests, tokens = used[rule.period]
            found.append(Figure(rule, requests, tokens, bounds[rule.period][1]))
    return sorted(found, key=lambda figure: figure.rule.id)
