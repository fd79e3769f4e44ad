"""The Kind API in group namespaces (each role), nested groups, and batch apply/delete."""

from __future__ import annotations

import pytest

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, model_doc, shell_doc, team_doc

pytestmark = pytest.mark.django_db


@pytest.fixture
def group_with(make_user):
    """A group (name given) whose owner is a fresh user; add(user, role) makes members."""

    def _group(name: str):  # type: ignore[no-untyped-def]
        owner = make_user(f"owner-{name.replace('/', '-')}")
        group = Group.objects.create(name=name, owner=owner)
        GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)

        def add(user, role):  # type: ignore[no-untyped-def]
            GroupMember.objects.create(group=group, user=user, role=role)

        group.add = add  # type: ignore[attr-defined]
        return group

    return _group


# (role, may read, may create/update, may delete)
ROLE_MATRIX = [
    (GroupRole.OWNER, True, True, True),
    (GroupRole.MAINTAINER, True, True, True),
    (GroupRole.DEVELOPER, True, True, False),
    (GroupRole.REPORTER, True, False, False),
    (None, False, False, False),
]


@pytest.mark.parametrize(("role", "can_read", "can_write", "can_delete"), ROLE_MATRIX)
def test_group_namespace_roles(
    client_for, user, group_with, make_kind, role, can_read, can_write, can_delete
):
    group = group_with("team")
    make_kind(group.owner, ghost_doc("shared"), "team")
    if role:
        group.add(user, role)
    api = client_for(user)
    base = "/api/v1/namespaces/team/ghosts"

    listing = api.get(base)
    assert listing.status_code == 200
    assert [i["metadata"]["name"] for i in listing.json()["items"]] == (["shared"] if can_read else [])
    assert api.get(f"{base}/shared").status_code == (200 if can_read else 404)

    created = api.post(base, ghost_doc("mine"), format="json")
    assert created.status_code == (201 if can_write else 404)
    if not can_write:
        assert created.json() == {"detail": "Namespace 'team' not found or permission denied"}
    updated = api.put(f"{base}/shared", ghost_doc("shared", "changed"), format="json")
    assert updated.status_code == (200 if can_write else 404)
    if not can_write:
        assert updated.json() == {"detail": "Ghost 'shared' not found or permission denied"}

    deleted = api.delete(f"{base}/shared")
    assert deleted.status_code == (200 if can_delete else 404)
    assert Kind.objects.filter(name="shared").exists() is (not can_delete)


def test_group_rows_are_shared_between_members(client_for, user, other_user, group_with):
    group = group_with("crew")
    group.add(user, GroupRole.DEVELOPER)
    group.add(other_user, GroupRole.DEVELOPER)
    alice, bob = client_for(user), client_for(other_user)
    assert alice.post("/api/v1/namespaces/crew/ghosts", ghost_doc("g"), format="json").status_code == 201
    assert bob.get("/api/v1/namespaces/crew/ghosts/g").status_code == 200
    assert (
        bob.put("/api/v1/namespaces/crew/ghosts/g", ghost_doc("g", "bob was here"), format="json").status_code
        == 200
    )
    # The same name in alice's personal space is a different resource.
    assert alice.post("/api/v1/namespaces/default/ghosts", ghost_doc("g"), format="json").status_code == 201


def test_nested_group_namespaces_list_and_inherit(client_for, user, group_with):
    parent = group_with("org")
    child = Group.objects.create(name="org/platform", owner=parent.owner)
    parent.add(user, GroupRole.DEVELOPER)  # inherited into org/platform
    api = client_for(user)
    base = "/api/v1/namespaces/org/platform"
    assert api.post(f"{base}/ghosts", ghost_doc("deep"), format="json").status_code == 201
    listing = api.get(f"{base}/ghosts")  # the reference's router cannot list here
    assert listing.status_code == 200
    assert [i["metadata"]["namespace"] for i in listing.json()["items"]] == ["org/platform"]
    assert api.get(f"{base}/ghosts/deep").status_code == 200
    assert Kind.objects.get(name="deep").namespace == child.name


def test_bot_named_like_a_plural(api):
    api.post("/api/v1/namespaces/default/ghosts", ghost_doc("teams"), format="json")
    assert api.get("/api/v1/namespaces/default/ghosts/teams").json()["metadata"]["name"] == "teams"


def _stack_docs(prefix: str = "k") -> list[dict]:
    # Deliberately out of dependency order: apply sorts them.
    return [
        team_doc(f"{prefix}-team", [f"{prefix}-bot"]),
        bot_doc(f"{prefix}-bot", f"{prefix}-ghost", f"{prefix}-shell", f"{prefix}-model"),
        ghost_doc(f"{prefix}-ghost"),
        shell_doc(f"{prefix}-shell"),
        model_doc(f"{prefix}-model"),
    ]


def test_apply_creates_updates_and_reports_unchanged(api):
    first = api.post("/api/v1/namespaces/default/apply", _stack_docs(), format="json")
    assert first.status_code == 200
    body = first.json()
    assert body["success"] is True
    assert body["message"] == "Applied 5/5 resources"
    assert {r["operation"] for r in body["results"]} == {"created"}
    assert [r["kind"] for r in body["results"]] == ["Ghost", "Shell", "Model", "Bot", "Team"]

    docs = _stack_docs()
    docs[2]["spec"]["systemPrompt"] = "changed"
    second = api.post("/api/v1/namespaces/default/apply", docs, format="json").json()
    operations = {r["name"]: r["operation"] for r in second["results"]}
    assert operations["k-ghost"] == "updated"
    assert operations["k-bot"] == "unchanged"
    assert operations["k-model"] == "unchanged"  # the key was re-sent in clear and is the same


def test_apply_item_failures_are_independent(api):
    docs = [
        ghost_doc("ok"),
        bot_doc("broken", "no-such-ghost", "no-shell"),
        {"kind": "Widget", "metadata": {"name": "w"}},
    ]
    body = api.post("/api/v1/namespaces/default/apply", docs, format="json").json()
    assert body["success"] is False
    assert body["message"] == "Applied 1/3 resources"
    results = {r["name"]: r for r in body["results"]}
    assert results["ok"]["operation"] == "created"
    assert results["broken"] == {
        "kind": "Bot",
        "name": "broken",
        "namespace": "default",
        "operation": "failed",
        "success": False,
        "error": "Ghost 'no-such-ghost' not found in namespace 'default'",
    }
    assert results["w"]["success"] is False
    assert list(Kind.objects.values_list("name", flat=True)) == ["ok"]


def test_apply_dry_run_writes_nothing(api):
    body = api.post("/api/v1/namespaces/default/apply?dryRun=true", _stack_docs(), format="json").json()
    assert body["dryRun"] is True
    assert body["success"] is True
    assert body["message"] == "Would apply 5/5 resources"
    assert Kind.objects.count() == 0
    api.post("/api/v1/namespaces/default/apply", _stack_docs(), format="json")
    docs = _stack_docs()
    docs[2]["spec"]["systemPrompt"] = "would change"
    dry = api.post("/api/v1/namespaces/default/apply?dryRun=true", docs, format="json").json()
    assert {r["name"]: r["operation"] for r in dry["results"]}["k-ghost"] == "updated"
    assert Kind.objects.get(name="k-ghost").document["spec"]["systemPrompt"] == "You are helpful."


def test_batch_delete_removes_referrers_first(api):
    api.post("/api/v1/namespaces/default/apply", _stack_docs(), format="json")
    body = api.post("/api/v1/namespaces/default/delete", list(reversed(_stack_docs())), format="json").json()
    assert body["success"] is True, body
    assert body["message"] == "Deleted 5/5 resources"
    assert Kind.objects.count() == 0


def test_batch_bad_input(api):
    assert api.post("/api/v1/namespaces/default/apply", {"kind": "Ghost"}, format="json").status_code == 422
    assert api.post("/api/v1/namespaces/default/apply", [], format="json").status_code == 400
    assert (
        api.post("/api/v1/namespaces/default/apply?dryRun=maybe", [ghost_doc("x")], format="json").status_code
        == 422
    )
    junk = api.post("/api/v1/namespaces/default/apply", ["not an object", 3], format="json").json()
    assert junk["success"] is False and len(junk["results"]) == 2


def test_batch_in_a_group_respects_roles(client_for, user, group_with):
    group = group_with("ops")
    group.add(user, GroupRole.REPORTER)
    body = client_for(user).post("/api/v1/namespaces/ops/apply", [ghost_doc("g")], format="json").json()
    assert body["results"][0]["success"] is False
    assert "permission denied" in body["results"][0]["error"]
    assert not Kind.objects.exists()


def test_group_refs_without_namespace_prefer_the_group_then_default(
    client_for, user, admin_user, group_with, make_kind
):
    group = group_with("lab")
    group.add(user, GroupRole.DEVELOPER)
    make_kind(admin_user, shell_doc("Chat"), public=True)
    api = client_for(user)
    base = "/api/v1/namespaces/lab"
    assert api.post(f"{base}/ghosts", ghost_doc("g"), format="json").status_code == 201
    body = {
        "kind": "Bot",
        "metadata": {"name": "b"},
        "spec": {"ghostRef": {"name": "g"}, "shellRef": {"name": "Chat"}},
    }
    created = api.post(f"{base}/bots", body, format="json")
    assert created.status_code == 201, created.content
    spec = created.json()["spec"]
    assert spec["ghostRef"] == {"name": "g", "namespace": "lab"}
    assert spec["shellRef"] == {"name": "Chat", "namespace": "default"}  # the public shell


@pytest.mark.parametrize("path", ["apply", "delete"])
def test_batch_items_whose_kind_is_not_a_string_fail_alone(api, path):
    """Found by the schemathesis step: ``kind: {}`` made the dependency sort raise (500)."""
    items = [{"apiVersion": "", "kind": {}, "metadata": {"name": "0"}, "spec": {}}, {"kind": ["Ghost"]}]
    response = api.post(f"/api/v1/namespaces/default/{path}?dryRun=true", items, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is False and [r["success"] for r in body["results"]] == [False, False]
