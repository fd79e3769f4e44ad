"""The group role table and the shared selectors (effective roles with inheritance)."""

from __future__ import annotations

import pytest

from accounts import selectors
from accounts.models import Group, GroupMember
from accounts.roles import GroupRole, role_at_least, role_rank
from accounts.services import groups

pytestmark = pytest.mark.django_db

OWNER, MAINTAINER, DEVELOPER, REPORTER = (
    GroupRole.OWNER,
    GroupRole.MAINTAINER,
    GroupRole.DEVELOPER,
    GroupRole.REPORTER,
)


def make_group(name: str, owner, **fields) -> Group:  # type: ignore[no-untyped-def]
    group = Group.objects.create(name=name, owner=owner, **fields)
    GroupMember.objects.create(group=group, user=owner, role=OWNER, invited_by=owner)
    return group


def join(group: Group, user, role: str, **fields) -> GroupMember:  # type: ignore[no-untyped-def]
    return GroupMember.objects.create(group=group, user=user, role=role, **fields)


@pytest.fixture
def chain(make_user):  # type: ignore[no-untyped-def]
    """``a`` > ``a/b`` > ``a/b/c``, all owned by ``founder``."""
    founder = make_user("founder")
    return founder, [make_group(name, founder) for name in ("a", "a/b", "a/b/c")]


# --- role table ---------------------------------------------------------------------------------
def test_role_order():
    assert [role_rank(role) for role in (OWNER, MAINTAINER, DEVELOPER, REPORTER, None)] == [4, 3, 2, 1, 0]
    assert role_rank("Admin") == 0


@pytest.mark.parametrize(
    ("role", "required", "expected"),
    [
        (OWNER, MAINTAINER, True),
        (MAINTAINER, MAINTAINER, True),
        (DEVELOPER, MAINTAINER, False),
        (REPORTER, DEVELOPER, False),
        (DEVELOPER, REPORTER, True),
        (None, REPORTER, False),
        ("Nonsense", REPORTER, False),
    ],
)
def test_role_at_least(role, required, expected):
    assert role_at_least(role, required) is expected


def test_ancestor_names():
    assert selectors.ancestor_names("a") == ["a"]
    assert selectors.ancestor_names("a/b/c") == ["a", "a/b", "a/b/c"]


# --- effective roles ----------------------------------------------------------------------------
def test_direct_role(chain, user):
    _, (a, _, _) = chain
    join(a, user, DEVELOPER)
    assert selectors.effective_group_role(user, "a") == DEVELOPER
    assert selectors.direct_group_role(user, "a") == DEVELOPER


def test_role_is_inherited_by_every_descendant(chain, user):
    _, (a, _, _) = chain
    join(a, user, REPORTER)
    assert selectors.effective_group_role(user, "a/b") == REPORTER
    assert selectors.effective_group_role(user, "a/b/c") == REPORTER
    assert selectors.direct_group_role(user, "a/b") is None


def test_highest_role_along_the_chain_wins(chain, user):
    _, (a, b, c) = chain
    join(a, user, REPORTER)
    join(b, user, MAINTAINER)
    join(c, user, DEVELOPER)
    assert selectors.effective_group_role(user, "a") == REPORTER
    assert selectors.effective_group_role(user, "a/b") == MAINTAINER
    assert selectors.effective_group_role(user, "a/b/c") == MAINTAINER


def test_parent_owner_outranks_lower_direct_role(chain, user):
    _, (a, b, _) = chain
    join(a, user, OWNER)
    join(b, user, REPORTER)
    assert selectors.effective_group_role(user, "a/b") == OWNER


def test_child_membership_gives_nothing_in_the_parent(chain, user):
    _, (_, b, _) = chain
    join(b, user, OWNER)
    assert selectors.effective_group_role(user, "a") is None
    assert selectors.effective_group_role(user, "a/b/c") == OWNER


def test_inactive_membership_is_ignored(chain, user):
    _, (a, b, _) = chain
    join(a, user, OWNER, is_active=False)
    join(b, user, REPORTER)
    assert selectors.effective_group_role(user, "a/b/c") == REPORTER
    assert selectors.effective_group_role(user, "a") is None


def test_inactive_group_in_the_chain_is_ignored(chain, user):
    _, (a, b, _) = chain
    join(a, user, OWNER)
    join(b, user, DEVELOPER)
    Group.objects.filter(pk=a.pk).update(is_active=False)
    assert selectors.effective_group_role(user, "a") is None
    assert selectors.effective_group_role(user, "a/b") == DEVELOPER


def test_inactive_or_missing_target_gives_no_role(chain, user):
    _, (a, _, c) = chain
    join(a, user, OWNER)
    Group.objects.filter(pk=c.pk).update(is_active=False)
    assert selectors.effective_group_role(user, "a/b/c") is None
    # A member of ``a`` gets nothing in a namespace below it that was never created.
    assert selectors.effective_group_role(user, "a/zzz") is None
    assert selectors.effective_group_role(user, "zzz") is None


def test_sibling_prefix_is_not_a_parent(make_user, user):
    founder = make_user("founder")
    team = make_group("team", founder)
    make_group("team2", founder)
    join(team, user, OWNER)
    assert selectors.effective_group_role(user, "team2") is None


def test_names_are_matched_exactly(chain, user):
    _, (a, _, _) = chain
    join(a, user, OWNER)
    # MySQL collations compare case-insensitively; the selector must not.
    assert selectors.effective_group_role(user, "A") is None
    assert selectors.effective_group_role(user, "A/b") is None
    assert selectors.direct_group_role(user, "A") is None
    assert selectors.get_group("A") is None
    assert selectors.get_group("a") == a


def test_personal_namespace_and_anonymous_have_no_role(chain, user):
    founder, _ = chain
    assert selectors.effective_group_role(founder, "default") is None
    assert selectors.effective_group_role(None, "a") is None
    assert selectors.direct_group_role(None, "a") is None
    assert selectors.effective_group_role(founder, "") is None
    assert selectors.user_group_names(None) == []


def test_effective_role_is_one_query(make_user, user, django_assert_num_queries):
    founder = make_user("founder")
    names = ["a", "a/b", "a/b/c", "a/b/c/d", "a/b/c/d/e"]
    created = [make_group(name, founder) for name in names]
    join(created[1], user, DEVELOPER)
    with django_assert_num_queries(1):
        assert selectors.effective_group_role(user, "a/b/c/d/e") == DEVELOPER


def test_effective_roles_for_many_groups_is_one_query(chain, make_user, django_assert_num_queries):
    _, (_a, b, _) = chain
    member = make_user("carol")
    join(b, member, MAINTAINER)
    with django_assert_num_queries(1):
        roles = selectors.effective_group_roles(member, ["a", "a/b", "a/b/c", "nope"])
    assert roles == {"a": None, "a/b": MAINTAINER, "a/b/c": MAINTAINER, "nope": None}


def test_has_group_role(chain, user):
    _, (a, _, _) = chain
    join(a, user, DEVELOPER)
    assert selectors.has_group_role(user, "a/b", DEVELOPER)
    assert selectors.has_group_role(user, "a/b", REPORTER)
    assert not selectors.has_group_role(user, "a/b", MAINTAINER)


# --- group lists ----------------------------------------------------------------------------------
def test_user_group_names_are_direct_and_active(chain, make_user, user):
    founder, (_a, b, c) = chain
    join(b, user, REPORTER)
    join(c, user, REPORTER, is_active=False)
    other = make_group("other", founder)
    assert selectors.user_group_names(user) == ["a/b"]
    assert selectors.user_group_names(founder) == ["a", "a/b", "a/b/c", "other"]
    Group.objects.filter(pk=other.pk).update(is_active=False)
    assert "other" not in selectors.user_group_names(founder)


def test_readable_group_names_add_descendants_only(chain, make_user, user):
    founder, (_, b, _) = chain
    make_group("a/bb", founder)
    make_group("a/b2", founder)
    join(b, user, REPORTER)
    assert selectors.readable_group_names(user) == ["a/b", "a/b/c"]
    assert selectors.readable_group_names(make_user("nobody")) == []


def test_with_viewer_fields(chain, make_user, user):
    _, (a, b, _) = chain
    join(a, user, DEVELOPER)
    join(b, make_user("carol"), REPORTER)
    decorated = selectors.with_viewer_fields([a, b], user)
    assert [(g.my_role, g.member_count) for g in decorated] == [(DEVELOPER, 2), (DEVELOPER, 2)]


def test_owner_count_and_subgroups(chain, make_user):
    _, (a, _b, _c) = chain
    join(a, make_user("second"), OWNER)
    join(a, make_user("gone"), OWNER, is_active=False)
    assert selectors.owner_count(a) == 2
    assert selectors.has_subgroups("a") and selectors.has_subgroups("a/b")
    assert not selectors.has_subgroups("a/b/c")


# --- name rules -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "team",
        "team/sub",
        "a/b/c/d/e",
        "x" * 100,
        "members",
        "leave",
        "team-1.dev_x",
        "数据组",
        "defaults",
        "team/default",
        "team/5",
    ],
)
def test_valid_group_names(name):
    assert groups.group_name_error(name) is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("x" * 101, "exceed 100"),
        ("a/b/c/d/e/f", "depth"),
        ("a//b", "empty segments"),
        ("/a", "empty segments"),
        ("a/", "empty segments"),
        ("a/../b", "'..'"),
        ("default", "reserved"),
        ("Default", "reserved"),
        ("default/x", "reserved"),
        ("team/members", "'members'"),
        ("team/leave", "'leave'"),
        ("team/x/transfer-ownership", "'transfer-ownership'"),
        *[(f"a{char}b", "cannot contain") for char in " \t\r\n\\:;,<>?*|\"'"],
    ],
)
def test_invalid_group_names(name, message):
    error = groups.group_name_error(name)
    assert error is not None and message in error
