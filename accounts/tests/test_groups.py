"""/api/groups: groups, members, leaving and ownership transfer under one role table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import hooks
from accounts.models import Group, GroupMember, User
from accounts.roles import GroupLevel, GroupRole
from accounts.services import groups
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

OWNER, MAINTAINER, DEVELOPER, REPORTER = (
    GroupRole.OWNER,
    GroupRole.MAINTAINER,
    GroupRole.DEVELOPER,
    GroupRole.REPORTER,
)
NOT_MEMBER = {"detail": "You are not a member of this group"}
GROUP_FIELDS = {
    "id",
    "name",
    "display_name",
    "visibility",
    "description",
    "owner_user_id",
    "level",
    "is_active",
    "created_at",
    "updated_at",
    "my_role",
    "member_count",
}
MEMBER_FIELDS = {
    "id",
    "group_name",
    "user_id",
    "user_name",
    "role",
    "invited_by_user_id",
    "invited_by_user_name",
    "is_active",
    "created_at",
    "updated_at",
}


def new_group(owner: User, name: str, **fields) -> Group:  # type: ignore[no-untyped-def]
    return groups.create_group(actor=owner, name=name, **fields)


def join(group: Group, user: User, role: str) -> GroupMember:
    return GroupMember.objects.create(group=group, user=user, role=role)


def role_of(group_name: str, user: User) -> str | None:
    row = GroupMember.objects.filter(group__name=group_name, user=user, is_active=True).first()
    return row.role if row else None


@pytest.fixture
def team(user) -> Group:
    """``team`` owned by alice."""
    return new_group(user, "team", display_name="The Team", description="d")


@pytest.fixture
def squad(make_user, team):  # type: ignore[no-untyped-def]
    """Members of ``team`` with every role; ``boss`` is the Owner (alice)."""
    people = {
        OWNER: team.owner,
        MAINTAINER: make_user("maint"),
        DEVELOPER: make_user("dev"),
        REPORTER: make_user("rep"),
        None: make_user("outsider"),
    }
    for role, person in people.items():
        if role not in (None, OWNER):
            join(team, person, role)
    return people


@pytest.fixture
def hook_calls() -> Iterator[list[tuple]]:
    calls: list[tuple] = []

    def record(group, user, owner):  # type: ignore[no-untyped-def]
        calls.append((group.name, user.user_name, owner.user_name if owner else None))

    with hooks.on_member_removed.registered(record):
        yield calls


# --- create ---------------------------------------------------------------------------------------
def test_create_group(api, user):
    response = api.post(
        "/api/groups",
        {"name": "team", "display_name": "Team", "visibility": "internal", "description": "ours"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == GROUP_FIELDS
    assert body["name"] == "team" and body["display_name"] == "Team"
    assert body["visibility"] == "internal" and body["level"] == "group"
    assert body["owner_user_id"] == user.id and body["my_role"] == OWNER and body["member_count"] == 1
    assert body["is_active"] is True
    member = GroupMember.objects.get(group__name="team")
    assert (member.user_id, member.role, member.invited_by_id) == (user.id, OWNER, user.id)


def test_create_defaults(api):
    body = api.post("/api/groups", {"name": "plain"}, format="json").json()
    assert (body["visibility"], body["level"], body["description"]) == ("private", "group", "")


def test_create_duplicate_is_400(api, team):
    for name in ("team", "TEAM"):
        response = api.post("/api/groups", {"name": name}, format="json")
        assert response.status_code == 400
        assert response.json() == {"detail": f"Group '{name}' already exists"}
    assert Group.objects.count() == 1


def test_create_subgroup_needs_existing_parent(api):
    response = api.post("/api/groups", {"name": "nope/child"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Parent group 'nope' does not exist"}
    assert not Group.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [(OWNER, 201), (MAINTAINER, 201), (DEVELOPER, 403), (REPORTER, 403), (None, 403)],
)
def test_create_subgroup_role_matrix(client_for, squad, role, status):
    response = client_for(squad[role]).post("/api/groups", {"name": "team/sub"}, format="json")
    assert response.status_code == status, response.content
    if status == 403:
        assert response.json() == {"detail": "Insufficient permissions to create subgroup under 'team'"}
        assert not Group.objects.filter(name="team/sub").exists()
    else:
        assert role_of("team/sub", squad[role]) == OWNER


def test_create_organization_is_admin_only(api, admin_api):
    response = api.post("/api/groups", {"name": "org", "level": "organization"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only admin users can create organization-level groups"}
    created = admin_api.post("/api/groups", {"name": "org", "level": "organization"}, format="json")
    assert created.status_code == 201 and created.json()["level"] == "organization"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a b",
        "a\tb",
        "a;b",
        "a'b",
        'a"b',
        "a\\b",
        "a:b",
        "x" * 101,
        "a/b/c/d/e/f",
        "a//b",
        "default",
        "default/x",
        "team/members",
        "team/leave",
        "team/transfer-ownership",
    ],
)
def test_create_invalid_name_is_422(api, team, name):
    assert_validation_error(api.post("/api/groups", {"name": name}, format="json"), "name")
    assert Group.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": None},
        {"name": 5, "visibility": "secret"},
        {"name": "ok", "visibility": "secret"},
        {"name": "ok", "level": "galaxy"},
        {"name": "ok", "display_name": "d" * 101},
    ],
)
def test_create_bad_body_is_422(api, body):
    response = api.post("/api/groups", body, format="json")
    assert_validation_error(response)
    assert not Group.objects.exists()


def test_create_non_object_body_is_422(api):
    assert_validation_error(api.post("/api/groups", ["team"], format="json"))
    response = api.post("/api/groups", "{not json", content_type="application/json")
    assert_validation_error(response)


def test_service_rejects_invalid_names_too(user):
    with pytest.raises(groups.InvalidInput):
        groups.create_group(actor=user, name="bad name")


# --- list ----------------------------------------------------------------------------------------
def test_list_shows_only_my_groups_newest_first(client_for, user, other_user, make_user):
    new_group(user, "old")
    shared = new_group(other_user, "shared")
    new_group(other_user, "bobs-only")
    join(shared, user, DEVELOPER)
    join(shared, make_user("carol"), REPORTER)
    Group.objects.filter(name="old").update(created_at=timezone.now() - timedelta(days=1))
    body = client_for(user).get("/api/groups").json()
    assert body["total"] == 2
    assert [item["name"] for item in body["items"]] == ["shared", "old"]
    first = body["items"][0]
    assert set(first) == GROUP_FIELDS
    assert (first["my_role"], first["member_count"], first["owner_user_id"]) == (DEVELOPER, 3, other_user.id)
    assert client_for(make_user("nobody")).get("/api/groups").json() == {"total": 0, "items": []}


def test_list_hides_organization_groups_from_non_admins(client_for, user, admin_user):
    org = groups.create_group(actor=admin_user, name="org", level=GroupLevel.ORGANIZATION)
    join(org, user, REPORTER)
    assert client_for(user).get("/api/groups").json()["total"] == 0
    assert [g["name"] for g in client_for(admin_user).get("/api/groups").json()["items"]] == ["org"]


def test_list_my_role_is_effective(client_for, user, other_user):
    new_group(other_user, "a")
    sub = new_group(other_user, "a/b")
    join(Group.objects.get(name="a"), user, MAINTAINER)
    join(sub, user, REPORTER)
    items = client_for(user).get("/api/groups").json()["items"]
    assert {item["name"]: item["my_role"] for item in items} == {"a": MAINTAINER, "a/b": MAINTAINER}


def test_list_pagination(api, user):
    for index in range(5):
        new_group(user, f"g{index}")
    page = api.get("/api/groups?page=2&limit=2").json()
    assert page["total"] == 5 and len(page["items"]) == 2
    assert_validation_error(api.get("/api/groups?limit=0"), "limit")
    assert_validation_error(api.get("/api/groups?page=x"), "page")


def test_list_has_no_n_plus_one(api, user, make_user, django_assert_max_num_queries):
    for index in range(6):
        group = new_group(user, f"g{index}")
        join(group, make_user(f"u{index}"), REPORTER)
    with django_assert_max_num_queries(6):
        body = api.get("/api/groups?limit=3&page=2").json()
    assert body["total"] == 6 and all(item["member_count"] == 2 for item in body["items"])


# --- get / update / delete ----------------------------------------------------------------------------
@pytest.mark.parametrize("role", [OWNER, MAINTAINER, DEVELOPER, REPORTER])
def test_members_of_every_role_can_view(client_for, squad, role):
    response = client_for(squad[role]).get("/api/groups/team")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == GROUP_FIELDS
    assert (body["my_role"], body["member_count"], body["display_name"]) == (role, 4, "The Team")


def test_non_member_cannot_view(client_for, squad):
    outsider = client_for(squad[None])
    assert outsider.get("/api/groups/team").json() == NOT_MEMBER
    assert outsider.get("/api/groups/team").status_code == 403
    assert outsider.get("/api/groups/team/members").status_code == 403


def test_admin_may_view_any_group(admin_api, squad):
    body = admin_api.get("/api/groups/team").json()
    assert body["name"] == "team" and body["my_role"] is None
    assert len(admin_api.get("/api/groups/team/members").json()) == 4
    # ...but gets no Owner/Maintainer powers.
    assert admin_api.put("/api/groups/team", {"description": "x"}, format="json").status_code == 403
    assert admin_api.delete("/api/groups/team").status_code == 403
    assert Group.objects.filter(name="team", description="d").exists()


@pytest.mark.parametrize(
    ("role", "status", "detail"),
    [
        (OWNER, 200, None),
        (MAINTAINER, 200, None),
        (DEVELOPER, 403, "Only Maintainers and Owners can update group information"),
        (REPORTER, 403, "Only Maintainers and Owners can update group information"),
        (None, 403, NOT_MEMBER["detail"]),
    ],
)
def test_update_role_matrix(client_for, squad, role, status, detail):
    response = client_for(squad[role]).put(
        "/api/groups/team", {"display_name": "Renamed", "visibility": "public"}, format="json"
    )
    assert response.status_code == status, response.content
    group = Group.objects.get(name="team")
    if status == 200:
        body = response.json()
        assert set(body) == GROUP_FIELDS and body["my_role"] == role
        assert (body["display_name"], body["visibility"], body["description"]) == ("Renamed", "public", "d")
        assert (group.display_name, group.visibility) == ("Renamed", "public")
    else:
        assert response.json() == {"detail": detail}
        assert (group.display_name, group.visibility) == ("The Team", "private")


def test_update_null_fields_are_unchanged(api, team):
    body = api.put("/api/groups/team", {"display_name": None, "visibility": None}, format="json").json()
    assert (body["display_name"], body["visibility"]) == ("The Team", "private")


def test_update_level_to_or_from_organization_is_admin_only(client_for, user, admin_user, team):
    join(team, admin_user, MAINTAINER)
    response = client_for(user).put("/api/groups/team", {"level": "organization"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only admin users can change group level to/from organization"}
    admin = client_for(admin_user)
    assert admin.put("/api/groups/team", {"level": "organization"}, format="json").json()["level"] == (
        "organization"
    )
    assert client_for(user).put("/api/groups/team", {"level": "group"}, format="json").status_code == 403
    assert Group.objects.get(name="team").level == "organization"
    # Sending the unchanged level is not a level change.
    unchanged = client_for(user).put("/api/groups/team", {"level": "organization", "description": "z"})
    assert unchanged.status_code == 200


def test_update_bad_input(api, team):
    assert_validation_error(api.put("/api/groups/team", {"visibility": "open"}, format="json"), "visibility")
    assert_validation_error(api.put("/api/groups/team", {"level": "x"}, format="json"), "level")
    response = api.put("/api/groups/team", {"display_name": "d" * 101}, format="json")
    assert_validation_error(response, "display_name")


@pytest.mark.parametrize(
    ("role", "status"),
    [(OWNER, 204), (MAINTAINER, 403), (DEVELOPER, 403), (REPORTER, 403), (None, 403)],
)
def test_delete_role_matrix(client_for, squad, role, status):
    response = client_for(squad[role]).delete("/api/groups/team")
    assert response.status_code == status
    assert Group.objects.filter(name="team").exists() is (status != 204)
    if status == 204:
        assert not GroupMember.objects.exists()
    elif role is not None:
        assert response.json() == {"detail": "Only group Owner can delete the group"}


def test_delete_refused_with_subgroups(api, user, team):
    new_group(user, "team/sub")
    response = api.delete("/api/groups/team")
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot delete group with subgroups. Delete subgroups first."}
    assert api.delete("/api/groups/team/sub").status_code == 204
    assert api.delete("/api/groups/team").status_code == 204
    assert not Group.objects.exists()


def test_delete_refused_by_blocker_hook(api, team):
    seen: list[str] = []

    def blocker(group: Group) -> str | None:
        seen.append(group.name)
        return "Cannot delete group with existing resources. Move or delete resources first."

    with hooks.group_delete_blockers.registered(blocker):
        response = api.delete("/api/groups/team")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Cannot delete group with existing resources. Move or delete resources first."
    }
    assert seen == ["team"]
    assert Group.objects.filter(name="team").exists() and GroupMember.objects.filter(group=team).exists()
    assert api.delete("/api/groups/team").status_code == 204


def test_delete_ignores_blockers_returning_none(api, team):
    with hooks.group_delete_blockers.registered(lambda group: None):
        assert api.delete("/api/groups/team").status_code == 204


def test_delete_clears_inactive_leftovers_below(api, user, team):
    Group.objects.create(name="team/ghost", owner=user, is_active=False)
    assert api.delete("/api/groups/team").status_code == 204
    assert not Group.objects.exists()


# --- members: list and add --------------------------------------------------------------------------
def test_list_members(client_for, squad, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        response = client_for(squad[REPORTER]).get("/api/groups/team/members")
    body = response.json()
    assert isinstance(body, list) and len(body) == 4
    assert set(body[0]) == MEMBER_FIELDS
    first = body[0]
    assert (first["group_name"], first["user_name"], first["role"]) == ("team", "alice", OWNER)
    assert (first["invited_by_user_id"], first["invited_by_user_name"]) == (squad[OWNER].id, "alice")
    assert {m["user_name"]: m["role"] for m in body} == {
        "alice": OWNER,
        "maint": MAINTAINER,
        "dev": DEVELOPER,
        "rep": REPORTER,
    }


def test_list_members_skips_inactive(api, team, other_user):
    GroupMember.objects.create(group=team, user=other_user, role=REPORTER, is_active=False)
    assert [m["user_name"] for m in api.get("/api/groups/team/members").json()] == ["alice"]


@pytest.mark.parametrize(
    ("role", "status", "detail"),
    [
        (OWNER, 201, None),
        (MAINTAINER, 201, None),
        (DEVELOPER, 403, "Only Maintainers and Owners can add members"),
        (REPORTER, 403, "Only Maintainers and Owners can add members"),
        (None, 403, NOT_MEMBER["detail"]),
    ],
)
def test_add_member_role_matrix(client_for, squad, make_user, role, status, detail):
    newcomer = make_user("newcomer")
    response = client_for(squad[role]).post(
        "/api/groups/team/members", {"user_id": newcomer.id, "role": DEVELOPER}, format="json"
    )
    assert response.status_code == status, response.content
    if status == 201:
        body = response.json()
        assert set(body) == MEMBER_FIELDS
        assert (body["user_id"], body["user_name"], body["role"]) == (newcomer.id, "newcomer", DEVELOPER)
        assert (body["invited_by_user_id"], body["group_name"]) == (squad[role].id, "team")
        assert role_of("team", newcomer) == DEVELOPER
    else:
        assert response.json() == {"detail": detail}
        assert role_of("team", newcomer) is None


def test_add_member_default_role_is_reporter(api, team, other_user):
    assert api.post("/api/groups/team/members", {"user_id": other_user.id}, format="json").json()["role"] == (
        REPORTER
    )


def test_add_member_already_member_is_400(api, team, other_user):
    join(team, other_user, REPORTER)
    response = api.post("/api/groups/team/members", {"user_id": other_user.id, "role": OWNER}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "User is already a member of this group"}
    assert role_of("team", other_user) == REPORTER


def test_add_member_revives_inactive_row(api, team, other_user):
    GroupMember.objects.create(group=team, user=other_user, role=OWNER, is_active=False)
    response = api.post("/api/groups/team/members", {"user_id": other_user.id}, format="json")
    assert response.status_code == 201 and response.json()["role"] == REPORTER
    assert GroupMember.objects.filter(group=team, user=other_user).count() == 1


def test_maintainer_cannot_add_an_owner(client_for, squad, make_user):
    newcomer = make_user("newcomer")
    response = client_for(squad[MAINTAINER]).post(
        "/api/groups/team/members", {"user_id": newcomer.id, "role": OWNER}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Only Owners can add members with the Owner role"}
    owner = client_for(squad[OWNER]).post(
        "/api/groups/team/members", {"user_id": newcomer.id, "role": OWNER}, format="json"
    )
    assert owner.status_code == 201 and role_of("team", newcomer) == OWNER


def test_add_unknown_or_inactive_user_is_404(api, team, make_user):
    assert api.post("/api/groups/team/members", {"user_id": 999999}, format="json").json() == {
        "detail": "User not found"
    }
    sleeper = make_user("sleeper", is_active=False)
    response = api.post("/api/groups/team/members", {"user_id": sleeper.id}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user_id"),
        ({"user_id": "abc"}, "user_id"),
        ({"user_id": 0}, "user_id"),
        ({"user_id": 1, "role": "Admin"}, "role"),
        ({"user_id": 1, "role": "owner"}, "role"),
    ],
)
def test_add_member_bad_input(api, team, body, field):
    assert_validation_error(api.post("/api/groups/team/members", body, format="json"), field)
    assert GroupMember.objects.count() == 1


# --- members: by username ---------------------------------------------------------------------------
def test_add_by_username(api, team, other_user):
    response = api.post("/api/groups/team/members/by-username?username=bob&role=Developer")
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["message"]) == (True, "Member added successfully")
    assert set(body["data"]) == MEMBER_FIELDS and body["data"]["role"] == DEVELOPER
    assert role_of("team", other_user) == DEVELOPER


def test_add_by_username_default_role(api, team, other_user):
    assert api.post("/api/groups/team/members/by-username?username=bob").json()["data"]["role"] == REPORTER


def test_add_by_username_reports_errors_in_body(client_for, api, team, other_user, make_user):
    def failure(client, url: str) -> str:  # type: ignore[no-untyped-def]
        response = client.post(url)
        assert response.status_code == 200
        body = response.json()
        assert body["success"] is False and body["data"] is None
        return body["message"]

    assert failure(api, "/api/groups/team/members/by-username?username=ghost") == "User 'ghost' not found"
    assert failure(api, "/api/groups/nope/members/by-username?username=bob") == "Group not found"
    outsider = client_for(make_user("outsider"))
    assert failure(outsider, "/api/groups/team/members/by-username?username=bob") == NOT_MEMBER["detail"]
    join(team, other_user, REPORTER)
    assert failure(api, "/api/groups/team/members/by-username?username=bob") == (
        "User is already a member of this group"
    )
    assert GroupMember.objects.count() == 2


def test_add_by_username_bad_query(api, team):
    assert_validation_error(api.post("/api/groups/team/members/by-username"), "username")
    assert_validation_error(api.post("/api/groups/team/members/by-username?username=bob&role=King"), "role")


# --- members: change role ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "status", "detail"),
    [
        (OWNER, 200, None),
        (MAINTAINER, 200, None),
        (DEVELOPER, 403, "Only Maintainers and Owners can update member roles"),
        (REPORTER, 403, "Only Maintainers and Owners can update member roles"),
        (None, 403, NOT_MEMBER["detail"]),
    ],
)
def test_change_role_matrix(client_for, squad, make_user, team, role, status, detail):
    target = make_user("target")
    join(team, target, DEVELOPER)
    response = client_for(squad[role]).put(
        f"/api/groups/team/members/{target.id}", {"role": REPORTER}, format="json"
    )
    assert response.status_code == status, response.content
    if status == 200:
        body = response.json()
        assert set(body) == MEMBER_FIELDS and (body["user_id"], body["role"]) == (target.id, REPORTER)
        assert role_of("team", target) == REPORTER
    else:
        assert response.json() == {"detail": detail}
        assert role_of("team", target) == DEVELOPER


def test_maintainer_cannot_touch_owners_or_promote_to_owner(client_for, squad, make_user, team):
    maintainer = client_for(squad[MAINTAINER])
    owner_id = squad[OWNER].id
    response = maintainer.put(f"/api/groups/team/members/{owner_id}", {"role": REPORTER}, format="json")
    assert response.status_code == 403 and response.json() == {
        "detail": "Maintainers cannot modify Owner roles"
    }
    dev_id = squad[DEVELOPER].id
    response = maintainer.put(f"/api/groups/team/members/{dev_id}", {"role": OWNER}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only Owners can promote members to Owner role"}
    assert (role_of("team", squad[OWNER]), role_of("team", squad[DEVELOPER])) == (OWNER, DEVELOPER)
    # Maintainers may change other Maintainers and themselves (but not upward to Owner).
    other = make_user("other-maint")
    join(team, other, MAINTAINER)
    assert maintainer.put(f"/api/groups/team/members/{other.id}", {"role": DEVELOPER}).status_code == 200


def test_last_owner_cannot_be_demoted(api, user, team, other_user):
    response = api.put(f"/api/groups/team/members/{user.id}", {"role": MAINTAINER}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot change role of the last owner. Add another owner first."}
    assert role_of("team", user) == OWNER
    join(team, other_user, OWNER)
    assert api.put(f"/api/groups/team/members/{user.id}", {"role": MAINTAINER}).status_code == 200
    team.refresh_from_db()
    # The owner field follows the remaining Owner row.
    assert team.owner_id == other_user.id


def test_change_role_of_non_member_is_404(api, team, other_user):
    response = api.put(f"/api/groups/team/members/{other_user.id}", {"role": REPORTER}, format="json")
    assert response.status_code == 404 and response.json() == {"detail": "Member not found"}


def test_change_role_bad_input(api, team, user):
    url = f"/api/groups/team/members/{user.id}"
    assert_validation_error(api.put(url, {}, format="json"), "role")
    assert_validation_error(api.put(url, {"role": "Guest"}, format="json"), "role")
    assert_validation_error(api.put(url, {"role": None}, format="json"), "role")
    # A non-numeric user id is not a member route: it names a group that does not exist.
    assert api.put("/api/groups/team/members/abc", {"role": REPORTER}, format="json").status_code == 404


# --- members: remove, leave -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "target_role", "status"),
    [
        (OWNER, MAINTAINER, 204),
        (OWNER, REPORTER, 204),
        (MAINTAINER, DEVELOPER, 204),
        (MAINTAINER, MAINTAINER, 403),
        (MAINTAINER, OWNER, 403),
        (DEVELOPER, REPORTER, 204),
        (DEVELOPER, DEVELOPER, 403),
        (REPORTER, REPORTER, 403),
        (REPORTER, DEVELOPER, 403),
        (None, REPORTER, 403),
    ],
)
def test_remove_member_matrix(client_for, squad, make_user, team, hook_calls, role, target_role, status):
    target = make_user("target")
    join(team, target, target_role)
    response = client_for(squad[role]).delete(f"/api/groups/team/members/{target.id}")
    assert response.status_code == status, response.content
    if status == 204:
        assert role_of("team", target) is None
        assert hook_calls == [("team", "target", "alice")]
    else:
        expected = (
            NOT_MEMBER if role is None else {"detail": "Insufficient permissions to remove this member"}
        )
        assert response.json() == expected
        assert role_of("team", target) == target_role
        assert hook_calls == []


def test_self_removal_is_always_allowed(client_for, squad, hook_calls):
    reporter = squad[REPORTER]
    assert client_for(reporter).delete(f"/api/groups/team/members/{reporter.id}").status_code == 204
    assert role_of("team", reporter) is None
    assert hook_calls == [("team", "rep", "alice")]


def test_last_owner_cannot_be_removed_or_leave(client_for, api, user, team, other_user, hook_calls):
    response = api.delete(f"/api/groups/team/members/{user.id}")
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot remove the last owner. Transfer ownership first."}
    response = api.post("/api/groups/team/leave")
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot remove the last owner. Transfer ownership first."}
    assert role_of("team", user) == OWNER and hook_calls == []


def test_owner_may_leave_when_another_owner_remains(api, user, team, other_user, hook_calls):
    join(team, other_user, OWNER)
    assert api.post("/api/groups/team/leave").status_code == 204
    team.refresh_from_db()
    assert role_of("team", user) is None and team.owner_id == other_user.id
    # Resources of the leaver go to the group owner that remains.
    assert hook_calls == [("team", "alice", "bob")]


def test_owners_cannot_remove_each_other(client_for, team, other_user):
    join(team, other_user, OWNER)
    response = client_for(other_user).delete(f"/api/groups/team/members/{team.owner_id}")
    assert response.status_code == 403


def test_leave(client_for, squad, hook_calls):
    developer = squad[DEVELOPER]
    assert client_for(developer).post("/api/groups/team/leave").status_code == 204
    assert role_of("team", developer) is None
    assert hook_calls == [("team", "dev", "alice")]
    assert client_for(developer).post("/api/groups/team/leave").json() == NOT_MEMBER


def test_leave_with_inherited_role_only(client_for, user, other_user, team):
    new_group(user, "team/sub")
    join(team, other_user, DEVELOPER)
    response = client_for(other_user).post("/api/groups/team/sub/leave")
    assert response.status_code == 400
    assert "parent group" in response.json()["detail"]


def test_remove_unknown_member_is_404(api, team):
    assert api.delete("/api/groups/team/members/999999").json() == {"detail": "Member not found"}


def test_failing_removal_hook_rolls_back(user, team, other_user):
    join(team, other_user, REPORTER)

    def explode(group, removed, owner):  # type: ignore[no-untyped-def]
        raise RuntimeError("hook failed")

    with hooks.on_member_removed.registered(explode), pytest.raises(RuntimeError):
        groups.remove_member(actor=user, name="team", user_id=other_user.id)
    assert role_of("team", other_user) == REPORTER


# --- invite all -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "status"),
    [(OWNER, 201), (MAINTAINER, 201), (DEVELOPER, 403), (REPORTER, 403), (None, 403)],
)
def test_invite_all_role_matrix(client_for, squad, make_user, team, role, status):
    fresh = [make_user("fresh1"), make_user("fresh2")]
    make_user("asleep", is_active=False)
    actor = squad[role]
    response = client_for(actor).post("/api/groups/team/members/invite-all")
    assert response.status_code == status, response.content
    if status == 201:
        body = response.json()
        expected = {"fresh1", "fresh2", "outsider"}
        assert {m["user_name"] for m in body} == expected
        assert all(m["role"] == REPORTER and m["invited_by_user_id"] == actor.id for m in body)
        assert set(body[0]) == MEMBER_FIELDS
        assert role_of("team", fresh[0]) == REPORTER
        assert not GroupMember.objects.filter(user__user_name="asleep").exists()
        # Existing roles are untouched and a second run adds nobody.
        assert role_of("team", squad[MAINTAINER]) == MAINTAINER
        again = client_for(actor).post("/api/groups/team/members/invite-all")
        assert again.status_code == 201 and again.json() == []
    else:
        assert GroupMember.objects.filter(group=team).count() == 4


def test_invite_all_revives_inactive_rows(api, team, other_user):
    GroupMember.objects.create(group=team, user=other_user, role=OWNER, is_active=False)
    body = api.post("/api/groups/team/members/invite-all").json()
    assert [(m["user_name"], m["role"]) for m in body] == [("bob", REPORTER)]


# --- transfer ownership -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "status"),
    [(OWNER, 200), (MAINTAINER, 403), (DEVELOPER, 403), (REPORTER, 403), (None, 403)],
)
def test_transfer_role_matrix(client_for, squad, make_user, team, role, status):
    heir = make_user("heir")
    join(team, heir, MAINTAINER)
    response = client_for(squad[role]).post(
        f"/api/groups/team/transfer-ownership?new_owner_user_id={heir.id}"
    )
    assert response.status_code == status, response.content
    team.refresh_from_db()
    if status == 200:
        body = response.json()
        assert set(body) == GROUP_FIELDS
        assert (body["owner_user_id"], body["my_role"]) == (heir.id, MAINTAINER)
        assert team.owner_id == heir.id
        assert (role_of("team", heir), role_of("team", squad[OWNER])) == (OWNER, MAINTAINER)
    else:
        expected = NOT_MEMBER if role is None else {"detail": "Only the current owner can transfer ownership"}
        assert response.json() == expected
        assert team.owner_id == squad[OWNER].id and role_of("team", heir) == MAINTAINER


def test_transfer_accepts_json_body(api, user, team, other_user):
    join(team, other_user, MAINTAINER)
    response = api.post(
        "/api/groups/team/transfer-ownership", {"new_owner_user_id": other_user.id}, format="json"
    )
    assert response.status_code == 200 and response.json()["owner_user_id"] == other_user.id
    assert role_of("team", user) == MAINTAINER


def test_transfer_needs_a_maintainer(api, user, team, other_user, make_user):
    join(team, other_user, DEVELOPER)
    for target in (other_user.id, make_user("stranger").id, 999999):
        response = api.post(f"/api/groups/team/transfer-ownership?new_owner_user_id={target}")
        assert response.status_code == 400
        assert response.json() == {"detail": "New owner must be at least a Maintainer"}
    response = api.post(f"/api/groups/team/transfer-ownership?new_owner_user_id={user.id}")
    assert response.status_code == 400
    team.refresh_from_db()
    assert team.owner_id == user.id and role_of("team", user) == OWNER


def test_transfer_bad_input(api, team):
    assert_validation_error(api.post("/api/groups/team/transfer-ownership"), "new_owner_user_id")
    response = api.post("/api/groups/team/transfer-ownership?new_owner_user_id=abc")
    assert_validation_error(response, "new_owner_user_id")
    assert response.json()["errors"][0]["loc"][0] == "query"
    body = api.post("/api/groups/team/transfer-ownership", {"new_owner_user_id": "x"}, format="json")
    assert_validation_error(body, "new_owner_user_id")


# --- inheritance and nested names through the URLs ------------------------------------------------------
def test_parent_role_applies_to_nested_groups(client_for, user, other_user, make_user):
    new_group(user, "team")
    new_group(user, "team/sub")
    new_group(user, "team/sub/deeper")
    join(Group.objects.get(name="team"), other_user, MAINTAINER)
    bob = client_for(other_user)

    body = bob.get("/api/groups/team/sub/deeper").json()
    assert (body["name"], body["my_role"]) == ("team/sub/deeper", MAINTAINER)
    assert bob.put("/api/groups/team/sub", {"description": "by bob"}, format="json").status_code == 200
    assert bob.post("/api/groups", {"name": "team/sub/other"}, format="json").status_code == 201

    carol = make_user("carol")
    added = bob.post("/api/groups/team/sub/deeper/members", {"user_id": carol.id, "role": DEVELOPER})
    assert added.status_code == 201 and added.json()["group_name"] == "team/sub/deeper"
    assert [m["user_name"] for m in bob.get("/api/groups/team/sub/deeper/members").json()] == [
        "alice",
        "carol",
    ]
    changed = bob.put(f"/api/groups/team/sub/deeper/members/{carol.id}", {"role": REPORTER}, format="json")
    assert changed.json()["role"] == REPORTER
    assert bob.delete(f"/api/groups/team/sub/deeper/members/{carol.id}").status_code == 204
    # Owner-only actions stay Owner-only below the parent too.
    assert bob.delete("/api/groups/team/sub/deeper").status_code == 403
    # The child's role does not flow upwards.
    assert client_for(carol).get("/api/groups/team").status_code == 403


def test_parent_reporter_cannot_manage_children(client_for, user, other_user):
    team = new_group(user, "team")
    new_group(user, "team/sub")
    join(team, other_user, REPORTER)
    bob = client_for(other_user)
    assert bob.get("/api/groups/team/sub").json()["my_role"] == REPORTER
    assert bob.put("/api/groups/team/sub", {"description": "x"}, format="json").status_code == 403
    assert bob.post("/api/groups", {"name": "team/sub/x"}, format="json").status_code == 403


def test_nested_group_routes(api, user, other_user, make_user, hook_calls):
    for name in ("team", "team/sub", "team/sub/deeper"):
        assert api.post("/api/groups", {"name": name}, format="json").status_code == 201
    assert api.get("/api/groups/team/sub").json()["name"] == "team/sub"
    assert api.put("/api/groups/team/sub/deeper", {"display_name": "Deep"}).json()["display_name"] == "Deep"

    invited = api.post("/api/groups/team/sub/members/invite-all").json()
    assert {m["user_name"] for m in invited} == {"bob"} and invited[0]["group_name"] == "team/sub"
    result = api.post("/api/groups/team/sub/deeper/members/by-username?username=bob&role=Maintainer").json()
    assert result["success"] is True and result["data"]["group_name"] == "team/sub/deeper"

    transferred = api.post(
        "/api/groups/team/sub/deeper/transfer-ownership", {"new_owner_user_id": other_user.id}, format="json"
    )
    assert transferred.status_code == 200
    assert Group.objects.get(name="team/sub/deeper").owner_id == other_user.id
    assert Group.objects.get(name="team/sub").owner_id == user.id

    carol = make_user("carol")
    api.post("/api/groups/team/sub/members", {"user_id": carol.id}, format="json")
    assert api.delete(f"/api/groups/team/sub/members/{carol.id}").status_code == 204
    assert hook_calls[-1] == ("team/sub", "carol", "alice")

    assert api.delete("/api/groups/team/sub").status_code == 400
    assert api.delete("/api/groups/team/sub/deeper").status_code == 204
    assert api.delete("/api/groups/team/sub").status_code == 204
    assert list(Group.objects.values_list("name", flat=True)) == ["team"]


def test_url_encoded_slash_names_the_same_group(api, user):
    new_group(user, "team")
    new_group(user, "team/sub")
    assert api.get("/api/groups/team%2Fsub").json()["name"] == "team/sub"


def test_groups_named_like_route_suffixes(api, user, other_user):
    """Root groups may be called ``members``/``leave``; sub-groups may not (see group_name_error)."""
    for name in ("members", "leave", "transfer-ownership"):
        assert api.post("/api/groups", {"name": name}, format="json").status_code == 201
    assert api.get("/api/groups/members").json()["name"] == "members"
    assert api.get("/api/groups/leave").json()["name"] == "leave"
    assert [m["user_name"] for m in api.get("/api/groups/members/members").json()] == ["alice"]
    added = api.post("/api/groups/members/members", {"user_id": other_user.id}, format="json")
    assert added.status_code == 201 and added.json()["group_name"] == "members"
    assert api.post("/api/groups/members/members/invite-all").json() == []
    role = api.put(f"/api/groups/members/members/{other_user.id}", {"role": DEVELOPER}, format="json")
    assert role.json()["group_name"] == "members"
    assert api.post("/api/groups/members/5").status_code == 405
    # A sub-group segment that would shadow a member route cannot be created.
    assert_validation_error(api.post("/api/groups", {"name": "members/members"}, format="json"), "name")
    # A numeric last segment under a normal group is an ordinary sub-group.
    assert api.post("/api/groups", {"name": "members/5"}, format="json").status_code == 201
    assert api.get("/api/groups/members/5").json()["name"] == "members/5"


# --- auth and unknown groups ------------------------------------------------------------------------
ROUTES = [
    ("get", "/api/groups"),
    ("post", "/api/groups"),
    ("get", "/api/groups/team"),
    ("put", "/api/groups/team"),
    ("delete", "/api/groups/team"),
    ("get", "/api/groups/team/members"),
    ("post", "/api/groups/team/members"),
    ("post", "/api/groups/team/members/by-username?username=bob"),
    ("post", "/api/groups/team/members/invite-all"),
    ("put", "/api/groups/team/members/1"),
    ("delete", "/api/groups/team/members/1"),
    ("post", "/api/groups/team/leave"),
    ("post", "/api/groups/team/transfer-ownership?new_owner_user_id=1"),
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_every_route_needs_authentication(anon_client, team, method, url):
    response = getattr(anon_client, method)(url, {"name": "x", "user_id": 1, "role": REPORTER}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert Group.objects.count() == 1 and GroupMember.objects.count() == 1


@pytest.mark.parametrize(("method", "url"), ROUTES[2:])
def test_unknown_group_is_404(api, other_user, method, url):
    url = url.replace("/team", "/nope")
    response = getattr(api, method)(url, {"user_id": other_user.id, "role": REPORTER}, format="json")
    if "by-username" in url:
        assert response.status_code == 200
        assert response.json()["message"] == "Group not found"
    else:
        assert response.status_code == 404
        assert response.json() == {"detail": "Group not found"}


def test_inactive_group_is_404(api, team):
    Group.objects.filter(pk=team.pk).update(is_active=False)
    assert api.get("/api/groups/team").status_code == 404
    assert api.get("/api/groups").json()["total"] == 0


@pytest.mark.parametrize(("method", "url"), ROUTES[2:])
def test_other_peoples_groups_are_403(client_for, make_user, team, method, url):
    stranger = client_for(make_user("stranger"))
    response = getattr(stranger, method)(url, {"user_id": team.owner_id, "role": OWNER}, format="json")
    if "by-username" in url:
        assert response.json()["success"] is False
        assert response.json()["message"] == NOT_MEMBER["detail"]
    else:
        assert response.status_code == 403
        assert response.json() == NOT_MEMBER
    team.refresh_from_db()
    assert (team.description, team.owner_id, GroupMember.objects.count()) == ("d", team.owner.id, 1)
