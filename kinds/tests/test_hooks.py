"""Kinds rules that accounts routes rely on: group deletion and member removal."""

from __future__ import annotations

import pytest

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from kinds.models import Kind
from kinds.tests.factories import ghost_doc

pytestmark = pytest.mark.django_db


@pytest.fixture
def crew(user, other_user):
    group = Group.objects.create(name="crew", owner=user)
    GroupMember.objects.create(group=group, user=user, role=GroupRole.OWNER)
    GroupMember.objects.create(group=group, user=other_user, role=GroupRole.DEVELOPER)
    return group


def test_group_with_resources_cannot_be_deleted(api, crew, make_kind, user):
    make_kind(user, ghost_doc("g"), "crew")
    refused = api.delete("/api/groups/crew")
    assert refused.status_code == 400
    assert "still has 1 resource" in refused.json()["detail"]
    assert Group.objects.filter(name="crew").exists()
    assert api.delete("/api/v1/namespaces/crew/ghosts/g").status_code == 200
    assert api.delete("/api/groups/crew").status_code == 204


def test_removed_members_rows_pass_to_the_group_owner(api, crew, make_kind, user, other_user):
    make_kind(other_user, ghost_doc("bobs"), "crew")
    make_kind(other_user, ghost_doc("personal"))
    assert api.delete(f"/api/groups/crew/members/{other_user.id}").status_code == 204
    assert Kind.objects.get(name="bobs").owner == user
    assert Kind.objects.get(name="personal").owner == other_user  # personal rows are untouched
