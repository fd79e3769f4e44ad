"""Quotas in the console: the list with what each subject used, filters, validation errors."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Group, GroupMember
from quotas.models import Quota
from quotas.tests.factories import make_quota
from tasks.tests.factories import make_task

pytestmark = pytest.mark.django_db
LIST = "/admin/quotas/quota/"


@pytest.fixture
def console(admin_user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(admin_user)
    return client


def test_list_shows_usage_and_filters(console, user, team):
    group = Group.objects.create(name="lab", owner=user)
    GroupMember.objects.create(group=group, user=user, role="Owner")
    make_quota(user=user, period="day", max_requests=5)
    make_quota(group=group, period="month", max_tokens=1000)
    make_quota(period="day", max_requests=100, note="everyone")
    make_task(user, team)
    page = console.get(LIST)
    text = page.content.decode()
    assert page.status_code == 200
    assert "user alice" in text and "group lab" in text and "every user" in text
    assert text.count("1 answers, 0 tokens") == 2  # alice's answer counts for her and her group
    for query in (
        {"scope__exact": "group"},
        {"period__exact": "day"},
        {"is_active__exact": "1"},
        {"q": "lab"},
    ):
        assert console.get(LIST, query).status_code == 200


def test_the_form_explains_what_is_missing(console, user):
    page = console.post(f"{LIST}add/", {"scope": "group", "period": "day", "is_active": "on"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Choose the group this quota is for." in text and "Set a limit on answers" in text
    assert not Quota.objects.exists()


def test_non_staff_get_no_quota_console(user):
    client = Client()
    client.force_login(user)
    assert client.get(LIST).status_code == 302
