"""Quota rules on the real database: what counts, per user / group / every user, per day and
month, the reset time, and that a refused turn writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Group, GroupMember
from quotas import periods, selectors, services
from quotas.exceptions import QuotaExceeded
from quotas.models import Quota
from quotas.tests.factories import make_quota
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle
from tasks.tests.factories import make_task

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)


def _use_tokens(answer: Subtask, used_in: int, used_out: int) -> None:
    lifecycle.update_subtask(answer.pk, lifecycle.SubtaskChanges(usage=(used_in, used_out)))


def test_periods_begin_at_midnight_and_roll_over_months_and_years():
    assert periods.window("day", NOON) == (
        dt.datetime(2026, 3, 31, tzinfo=dt.UTC),
        dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
    )
    assert periods.window("month", NOON) == (
        dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
    )
    december = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)
    assert periods.window("month", december)[1] == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def test_periods_follow_the_configured_time_zone(settings):
    settings.QUOTA_TIME_ZONE = "Asia/Shanghai"
    start, reset = periods.window("day", NOON)  # 20:00 in Shanghai
    assert start == dt.datetime(2026, 3, 30, 16, 0, tzinfo=dt.UTC)
    assert reset == dt.datetime(2026, 3, 31, 16, 0, tzinfo=dt.UTC)


def test_no_quota_costs_no_query(user, django_assert_num_queries):
    services.check(user.pk)  # loads the (empty) rules once
    with django_assert_num_queries(0):
        services.check(user.pk)


def test_answers_per_day_are_counted_and_refused_with_the_reset(user, team):
    make_quota(user=user, period="day", max_requests=2)
    make_task(user, team)
    make_task(user, team)
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(QuotaExceeded) as refused:
        services.check(user.pk, now=now)
    reset = periods.window("day", now)[1]
    assert refused.value.reset_at == reset and refused.value.status_code == 429
    assert 0 < refused.value.retry_after <= 86400
    assert abs(refused.value.retry_after - (reset - now).total_seconds()) <= 1
    extra = refused.value.extra
    assert extra["error_code"] == "quota_exceeded" and extra["reset_at"] == reset.isoformat()
    assert extra["quota"]["used_requests"] == 2 and extra["quota"]["max_requests"] == 2
    assert "resets at" in str(refused.value.detail)


def test_a_refused_turn_writes_nothing(user, team):
    make_quota(user=user, period="day", max_requests=1)
    make_task(user, team)
    tasks, messages = TaskResource.objects.count(), Subtask.objects.count()
    with pytest.raises(QuotaExceeded):
        make_task(user, team)
    assert (TaskResource.objects.count(), Subtask.objects.count()) == (tasks, messages)


def test_messages_without_an_answer_are_not_gated(user, team):
    make_quota(user=user, period="day", max_requests=1)
    make_task(user, team)
    make_task(user, team, with_answer=False)  # a group-chat message nobody answers


def test_tokens_count_input_and_output_of_every_answer(user, team):
    make_quota(user=user, period="month", max_tokens=100)
    turn = make_task(user, team)
    _use_tokens(turn.assistant_subtask, 40, 20)
    services.check(user.pk)  # 60 < 100
    _use_tokens(turn.assistant_subtask, 30, 10)  # a retry adds to what the answer used
    answer = Subtask.objects.get(pk=turn.assistant_subtask.pk)
    assert (answer.input_tokens, answer.output_tokens) == (70, 30)
    with pytest.raises(QuotaExceeded, match="monthly limit"):
        services.check(user.pk)


def test_yesterdays_answers_count_for_the_month_not_the_day(user, team):
    make_quota(user=user, period="day", max_requests=1)
    make_quota(user=user, period="month", max_requests=3)
    turn = make_task(user, team)
    Subtask.objects.filter(pk=turn.assistant_subtask.pk).update(created_at=NOON - dt.timedelta(days=1))
    services.check(user.pk, now=NOON)  # the day is fresh; the month has one of three
    figures = {f.rule.period: f for f in services.status(user.pk, now=NOON)}
    assert figures["day"].used_requests == 0 and figures["month"].used_requests == 1
    last_month = turn.task.subtasks.filter(role="ASSISTANT")
    last_month.update(created_at=NOON - dt.timedelta(days=31))
    assert services.status(user.pk, now=NOON)[1].used_requests == 0


def test_a_group_quota_pools_its_members_and_spares_others(user, other_user, make_user, team, bot_stack):
    group = Group.objects.create(name="lab", owner=user)
    GroupMember.objects.create(group=group, user=user, role="Owner")
    GroupMember.objects.create(group=group, user=other_user, role="Developer")
    outsider = make_user("carol")
    make_quota(group=group, period="day", max_requests=2)
    make_task(user, team)
    make_task(other_user, bot_stack(other_user, "o")["team"])
    for member in (user, other_user):
        with pytest.raises(QuotaExceeded, match="group lab"):
            services.check(member.pk)
    services.check(outsider.pk)
    GroupMember.objects.filter(user=other_user).update(is_active=False)  # left the group
    services.check(other_user.pk)


def test_every_user_quota_counts_each_user_alone(user, other_user, team):
    make_quota(period="day", max_requests=1)
    make_task(user, team)
    with pytest.raises(QuotaExceeded):
        services.check(user.pk)
    services.check(other_user.pk)


def test_inactive_and_deleted_quotas_stop_applying_at_once(user, team):
    quota = make_quota(user=user, period="day", max_requests=1)
    make_task(user, team)
    with pytest.raises(QuotaExceeded):
        services.check(user.pk)
    quota.is_active = False
    quota.save()
    services.check(user.pk)
    quota.is_active = True
    quota.save()
    with pytest.raises(QuotaExceeded):
        services.check(user.pk)
    quota.delete()
    services.check(user.pk)


def test_rules_are_reread_after_their_ttl(user, team, settings):
    settings.QUOTA_RULES_CACHE_SECONDS = 0  # another process's change shows after the TTL
    selectors.rules.get()
    Quota.objects.bulk_create([Quota(scope="user", user=user, period="day", max_requests=0)])  # no signal
    with pytest.raises(QuotaExceeded):
        services.check(user.pk)


def test_the_latest_reset_of_the_exhausted_quotas_is_reported(user, team):
    make_quota(user=user, period="day", max_requests=1)
    make_quota(user=user, period="month", max_requests=1)
    make_task(user, team)
    with pytest.raises(QuotaExceeded) as refused:
        services.check(user.pk, now=NOON - dt.timedelta(days=16))  # the 15th: the day resets first
    assert refused.value.reset_at == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert refused.value.extra["quota"]["period"] == "month"


def test_invalid_quotas_are_refused_by_validation_and_by_the_database(user):
    group = Group.objects.create(name="g1", owner=user)
    for fields in (
        {"scope": "user", "period": "day", "max_requests": 1},  # no user
        {"scope": "group", "user": user, "period": "day", "max_requests": 1},
        {"scope": "every_user", "group": group, "period": "day", "max_tokens": 1},
        {"scope": "user", "user": user, "period": "day"},  # no limit
    ):
        with pytest.raises(ValidationError):
            Quota(**fields).full_clean()
        with pytest.raises(IntegrityError), transaction.atomic():
            Quota.objects.create(**fields)
