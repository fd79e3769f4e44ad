"""A team's admin page lists the tasks and subscriptions that use it (kinds.referrer_finders)."""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PASSWORD
from kinds import events as kind_events
from subscriptions.tests.factories import make_subscription
from tasks.tests.factories import make_task

pytestmark = pytest.mark.django_db


def test_team_page_lists_its_tasks_and_subscriptions(admin_user, user, other_user, bot_stack):
    team = bot_stack(user, "ref")["team"]
    same_name = bot_stack(other_user, "ref")["team"]  # bob's team of the same name: not listed
    task = make_task(user, team, prompt="hello").task
    bobs_task = make_task(other_user, same_name, prompt="hi").task
    subscription = make_subscription(user, team, "nightly")
    client = Client()
    assert client.login(username=admin_user.user_name, password=PASSWORD)

    page = html.unescape(client.get(reverse("admin:kinds_kind_change", args=[team.pk])).content.decode())
    assert str(task) in page
    assert str(subscription) in page
    assert reverse("admin:tasks_taskresource_change", args=[task.pk]) in page
    assert reverse("admin:subscriptions_subscription_change", args=[subscription.pk]) in page
    assert reverse("admin:tasks_taskresource_change", args=[bobs_task.pk]) not in page


def test_a_failing_finder_does_not_hide_the_page(admin_user, user, bot_stack):
    team = bot_stack(user, "bad")["team"]

    def broken(row):  # type: ignore[no-untyped-def]
        raise RuntimeError("finder down")

    client = Client()
    assert client.login(username=admin_user.user_name, password=PASSWORD)
    with kind_events.referrer_finders.registered(broken):
        page = client.get(reverse("admin:kinds_kind_change", args=[team.pk]))
    assert page.status_code == 200
    assert "Who refers to this" in page.content.decode()
