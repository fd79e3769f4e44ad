"""``/api/shells`` (unified shells, custom shells) and ``/api/agents`` (legacy public shells)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, shell_doc
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

IMAGE = "ghcr.io/acme/executor:1.2"
UNIFIED_KEYS = {
    "name",
    "type",
    "displayName",
    "shellType",
    "baseImage",
    "baseShellRef",
    "supportModel",
    "executionType",
    "namespace",
    "requiresWorkspace",
}


def public_shell_doc(name: str, execution: str, support: list[str] | None = None, **meta: Any) -> dict:
    spec: dict[str, Any] = {"shellType": name, "supportModel": support or []}
    if execution == "local_engine":
        spec["baseImage"] = "ghcr.io/wecode-ai/wegent-executor:latest"
    return {
        "kind": "Shell",
        "metadata": {"name": name, "labels": {"type": execution}, **meta},
        "spec": spec,
    }


def seed_public_shells(make_kind, admin) -> dict[str, Kind]:  # type: ignore[no-untyped-def]
    """The four shells Wegent seeds, created as public rows (inserted out of name order)."""
    docs = [
        public_shell_doc("Dify", "external_api"),
        public_shell_doc("ClaudeCode", "local_engine"),
        public_shell_doc("Chat", "direct_chat", ["claude", "openai", "gemini"], displayName="Chat"),
        public_shell_doc("Agno", "local_engine"),
    ]
    return {doc["metadata"]["name"]: make_kind(admin, doc, public=True) for doc in docs}


def make_group(make_user, name: str, members: dict[Any, str]) -> Group:  # type: ignore[no-untyped-def]
    owner = make_user(f"owner-{name}")
    group = Group.objects.create(name=name, owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)
    for member, role in members.items():
        GroupMember.objects.create(group=group, user=member, role=role)
    return group


@pytest.fixture
def public_shells(make_kind, admin_user):  # type: ignore[no-untyped-def]
    return seed_public_shells(make_kind, admin_user)


def create_body(name: str = "my-shell", base: str = "ClaudeCode", image: str = IMAGE, **extra: Any) -> dict:
    return {"name": name, "baseShellRef": base, "baseImage": image, **extra}


# --- unified -------------------------------------------------------------------------------------


def test_unified_lists_public_first_then_own_deduplicated(api, user, other_user, make_kind, public_shells):
    make_kind(user, shell_doc("zeta-shell"))
    make_kind(user, shell_doc("alpha-shell"))
    make_kind(user, shell_doc("Chat"))  # same name as a public shell: listed once, as public
    make_kind(other_user, shell_doc("bobs-shell"))

    response = api.get("/api/shells/unified")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(s["name"], s["type"]) for s in data] == [
        ("Agno", "public"),
        ("Chat", "public"),
        ("ClaudeCode", "public"),
        ("Dify", "public"),
        ("alpha-shell", "user"),
        ("zeta-shell", "user"),
    ]
    assert all(set(item) == UNIFIED_KEYS for item in data)
    agno = data[0]
    assert agno == {
        "name": "Agno",
        "type": "public",
        "displayName": "Agno",
        "shellType": "Agno",
        "baseImage": "ghcr.io/wecode-ai/wegent-executor:latest",
        "baseShellRef": None,
        "supportModel": [],
        "executionType": "local_engine",
        "namespace": "default",
        "requiresWorkspace": None,
    }
    assert data[3]["executionType"] == "external_api"
    assert data[4]["executionType"] == "direct_chat"
    assert data[4]["supportModel"] == ["openai"]


def test_unified_scopes(client_for, user, make_user, make_kind, public_shells):
    make_group(make_user, "crew", {user: GroupRole.REPORTER})
    make_group(make_user, "secret", {})
    owner = GroupMember.objects.get(group__name="crew", role=GroupRole.OWNER).user
    make_kind(owner, shell_doc("crew-shell"), "crew")
    secret_owner = GroupMember.objects.get(group__name="secret", role=GroupRole.OWNER).user
    make_kind(secret_owner, shell_doc("secret-shell"), "secret")
    make_kind(user, shell_doc("mine"))
    api = client_for(user)

    def names(query: str) -> list[tuple[str, str, str]]:
        response = api.get(f"/api/shells/unified?{query}")
        assert response.status_code == 200, response.content
        return [
            (s["name"], s["type"], s["namespace"]) for s in response.json()["data"] if s["type"] != "public"
        ]

    assert names("scope=personal") == [("mine", "user", "default")]
    assert names("scope=group&group_name=crew") == [("crew-shell", "group", "crew")]
    assert names("scope=group") == [("crew-shell", "group", "crew")]
    assert names("scope=all") == [("mine", "user", "default"), ("crew-shell", "group", "crew")]

    denied = api.get("/api/shells/unified?scope=group&group_name=secret")
    assert denied.status_code == 403
    invalid = api.get("/api/shells/unified?scope=everything")
    assert invalid.status_code == 400
    assert "Invalid scope" in invalid.json()["detail"]


def test_unified_requires_auth(anon_client):
    assert anon_client.get("/api/shells/unified").status_code == 401
    assert anon_client.get("/api/shells/unified/Chat").status_code == 401


def test_unified_detail_prefers_own_then_public(api, user, other_user, make_kind, public_shells):
    make_kind(user, shell_doc("Chat", supportModel=["claude"]))
    make_kind(other_user, shell_doc("bobs-shell"))

    own = api.get("/api/shells/unified/Chat")
    assert own.status_code == 200
    assert own.json()["type"] == "user"
    assert own.json()["supportModel"] == ["claude"]

    public = api.get("/api/shells/unified/Chat?shell_type=public")
    assert public.json()["type"] == "public"
    assert public.json()["supportModel"] == ["claude", "openai", "gemini"]

    assert api.get("/api/shells/unified/Agno").json()["type"] == "public"
    user_only = api.get("/api/shells/unified/Agno?shell_type=user")
    assert user_only.status_code == 404
    assert user_only.json() == {"detail": "User shell not found"}
    assert api.get("/api/shells/unified/bobs-shell").json() == {"detail": "Shell not found"}


# --- create / update / delete --------------------------------------------------------------------


def test_create_shell_inherits_from_base(api, user, public_shells):
    response = api.post("/api/shells", create_body(displayName="My Shell"), format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "name": "my-shell",
        "type": "user",
        "displayName": "My Shell",
        "shellType": "ClaudeCode",
        "baseImage": IMAGE,
        "baseShellRef": "ClaudeCode",
        "supportModel": [],
        "executionType": "local_engine",
        "namespace": "default",
        "requiresWorkspace": None,
    }
    row = Kind.objects.get(kind="Shell", name="my-shell")
    assert row.owner == user
    assert row.document["metadata"]["labels"] == {"type": "local_engine"}
    # The same row through the Kind API.
    crd = api.get("/api/v1/namespaces/default/shells/my-shell")
    assert crd.status_code == 200
    assert crd.json()["spec"]["baseImage"] == IMAGE
    assert [s["name"] for s in api.get("/api/shells/unified").json()["data"]][-1] == "my-shell"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            create_body(name="My_Shell"),
            "Shell name must contain only lowercase letters, numbers, and hyphens",
        ),
        (create_body(name="-bad"), "Shell name must contain only lowercase letters, numbers, and hyphens"),
        (create_body(base="Nope"), "Base shell 'Nope' not found"),
        (create_body(base="Chat"), "Base shell must be a local_engine type (not external_api)"),
        (create_body(base="Dify"), "Base shell must be a local_engine type (not external_api)"),
        (
            create_body(image="not a docker image!"),
            "Invalid base image format. Expected formats: image, image:tag, registry/image:tag, "
            "or registry:port/image:tag",
        ),
    ],
)
def test_create_shell_rejects_bad_input(api, public_shells, body, detail):
    response = api.post("/api/shells", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert not Kind.objects.filter(kind="Shell", owner__isnull=False).exists()


def test_create_shell_validation_and_duplicates(api, public_shells, anon_client):
    assert_validation_error(
        api.post("/api/shells", {"name": "x"}, format="json"), "baseShellRef", "baseImage"
    )
    assert_validation_error(api.post("/api/shells", ["x"], format="json"))
    assert api.post("/api/shells", create_body(name="a"), format="json").status_code == 201
    duplicate = api.post("/api/shells", create_body(name="a"), format="json")
    assert duplicate.status_code == 400
    assert duplicate.json() == {"detail": "Shell 'a' already exists in namespace 'default'"}
    assert anon_client.post("/api/shells", create_body(), format="json").status_code == 401


@pytest.mark.parametrize(
    ("role", "status"),
    [(GroupRole.DEVELOPER, 201), (GroupRole.MAINTAINER, 201), (GroupRole.REPORTER, 403), (None, 403)],
)
def test_create_group_shell_needs_developer(client_for, user, make_user, public_shells, role, status):
    make_group(make_user, "crew", {user: role} if role else {})
    response = client_for(user).post("/api/shells?group_name=crew", create_body(), format="json")
    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["type"] == "group"
        assert response.json()["namespace"] == "crew"
        assert Kind.objects.get(name="my-shell").namespace == "crew"
    else:
        assert response.json() == {
            "detail": "You need at least Developer role in group 'crew' to create shells"
        }
        assert not Kind.objects.filter(name="my-shell").exists()


def test_update_shell(api, user, make_kind, public_shells):
    assert api.post("/api/shells", create_body(), format="json").status_code == 201
    # The base shell changes later: an update re-inherits its shellType and supportModel.
    base = public_shells["ClaudeCode"]
    base.document = {**base.document, "spec": {**base.document["spec"], "supportModel": ["claude"]}}
    base.save()

    response = api.put(
        "/api/shells/my-shell", {"displayName": "Renamed", "baseImage": "alpine:3"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["displayName"], body["baseImage"], body["supportModel"]) == (
        "Renamed",
        "alpine:3",
        ["claude"],
    )
    row = Kind.objects.get(name="my-shell")
    assert row.resource_version == 2
    assert (
        api.get("/api/v1/namespaces/default/shells/my-shell").json()["metadata"]["displayName"] == "Renamed"
    )

    bad = api.put("/api/shells/my-shell", {"baseImage": "Bad Image"}, format="json")
    assert bad.status_code == 400
    assert Kind.objects.get(name="my-shell").spec["baseImage"] == "alpine:3"
    assert_validation_error(api.put("/api/shells/my-shell", {"displayName": "x" * 500}, format="json"))


def test_update_and_delete_other_users_shell_is_not_found(client_for, user, other_user, public_shells):
    bob = client_for(other_user)
    assert bob.post("/api/shells", create_body(), format="json").status_code == 201
    alice = client_for(user)
    assert alice.put("/api/shells/my-shell", {"displayName": "x"}, format="json").json() == {
        "detail": "User shell not found"
    }
    assert alice.delete("/api/shells/my-shell").status_code == 404
    assert Kind.objects.get(name="my-shell").display_name is None


def test_delete_shell(api, user, make_kind, public_shells, anon_client):
    assert api.post("/api/shells", create_body(), format="json").status_code == 201
    assert anon_client.delete("/api/shells/my-shell").status_code == 401
    response = api.delete("/api/shells/my-shell")
    assert response.status_code == 200
    assert response.json() == {"message": "Shell deleted successfully"}
    assert not Kind.objects.filter(name="my-shell").exists()
    assert api.delete("/api/shells/my-shell").status_code == 404
    # Public shells cannot be deleted through this route.
    assert api.delete("/api/shells/Agno").status_code == 404
    assert Kind.objects.filter(name="Agno").exists()


def test_delete_shell_used_by_a_bot_is_refused(api, user, make_kind, public_shells):
    assert api.post("/api/shells", create_body(), format="json").status_code == 201
    make_kind(user, ghost_doc("g"))
    make_kind(user, bot_doc("uses-shell", "g", "my-shell"))
    response = api.delete("/api/shells/my-shell")
    assert response.status_code == 409
    assert response.json()["referrers"] == [{"kind": "Bot", "namespace": "default", "name": "uses-shell"}]
    assert Kind.objects.filter(name="my-shell").exists()


@pytest.mark.parametrize(
    ("role", "update_status", "delete_status"),
    [
        (GroupRole.MAINTAINER, 200, 200),
        (GroupRole.DEVELOPER, 200, 403),
        (GroupRole.REPORTER, 403, 403),
    ],
)
def test_group_shell_roles(client_for, user, make_user, public_shells, role, update_status, delete_status):
    group = make_group(make_user, "crew", {user: role})
    owner = client_for(group.owner)
    assert owner.post("/api/shells?group_name=crew", create_body(), format="json").status_code == 201
    alice = client_for(user)
    updated = alice.put("/api/shells/my-shell", {"displayName": "Crew shell"}, format="json")
    assert updated.status_code == update_status
    if update_status == 403:
        assert updated.json() == {
            "detail": "You need at least Developer role in group 'crew' to update this shell"
        }
    deleted = alice.delete("/api/shells/my-shell")
    assert deleted.status_code == delete_status
    if delete_status == 403:
        assert deleted.json() == {
            "detail": "You need at least Maintainer role in group 'crew' to delete this shell"
        }
    assert Kind.objects.filter(name="my-shell").exists() is (delete_status != 200)


# --- /api/agents ---------------------------------------------------------------------------------


def test_agents_list_and_detail(api, user, make_kind, public_shells, anon_client):
    own = make_kind(user, shell_doc("mine"))
    response = api.get("/api/agents?limit=100")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 4
    assert {item["name"] for item in body["items"]} == {"Agno", "Chat", "ClaudeCode", "Dify"}
    chat = next(item for item in body["items"] if item["name"] == "Chat")
    assert set(chat) == {"id", "name", "config", "created_at", "updated_at"}
    assert chat["config"] == {"mode_filter": ["claude", "openai", "gemini"]}

    detail = api.get(f"/api/agents/{chat['id']}")
    assert detail.status_code == 200
    assert detail.json() == chat
    # A user's own shell is not an agent; huge ids are simply not found.
    assert api.get(f"/api/agents/{own.pk}").json() == {"detail": "Agent not found"}
    assert api.get("/api/agents/99999999999999999999").status_code == 404
    assert api.get("/api/agents?limit=1000").status_code == 422
    assert anon_client.get("/api/agents").status_code == 401


def test_agents_writes_need_admin(api, public_shells):
    agno = public_shells["Agno"]
    denied = api.post("/api/agents", {"name": "NewRuntime"}, format="json")
    assert denied.status_code == 403
    assert denied.json() == {"detail": "Permission denied. Admin access required."}
    assert (
        api.put(f"/api/agents/{agno.pk}", {"config": {"mode_filter": ["x"]}}, format="json").status_code
        == 403
    )
    assert api.delete(f"/api/agents/{agno.pk}").status_code == 403
    assert not Kind.objects.filter(name="NewRuntime").exists()
    assert Kind.objects.get(pk=agno.pk).spec["supportModel"] == []


def test_agents_admin_crud(admin_api, public_shells):
    created = admin_api.post(
        "/api/agents", {"name": "Runner", "config": {"mode_filter": ["openai"]}}, format="json"
    )
    assert created.status_code == 201, created.content
    row = Kind.objects.get(name="Runner", kind="Shell")
    assert row.owner_id is None
    assert row.spec["shellType"] == "Runner"
    assert created.json()["config"] == {"mode_filter": ["openai"]}
    assert admin_api.post("/api/agents", {"name": "Runner"}, format="json").json() == {
        "detail": "Agent name already exists"
    }
    assert_validation_error(admin_api.post("/api/agents", {"config": {}}, format="json"), "name")

    updated = admin_api.put(f"/api/agents/{row.pk}", {"config": {"mode_filter": ["claude"]}}, format="json")
    assert updated.status_code == 200
    assert Kind.objects.get(pk=row.pk).spec["supportModel"] == ["claude"]
    renamed = admin_api.put(f"/api/agents/{row.pk}", {"name": "Runner2"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["id"] == row.pk
    assert Kind.objects.get(pk=row.pk).spec["shellType"] == "Runner2"
    assert admin_api.put(f"/api/agents/{row.pk}", {"name": "Agno"}, format="json").json() == {
        "detail": "Agent name already exists"
    }
    deleted = admin_api.delete(f"/api/agents/{row.pk}")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Agent deleted successfully"}
    assert not Kind.objects.filter(pk=row.pk).exists()
    assert admin_api.delete(f"/api/agents/{row.pk}").status_code == 404


def test_agent_used_by_public_bot_cannot_be_deleted(admin_api, admin_user, make_kind, public_shells):
    make_kind(admin_user, ghost_doc("pg"), public=True)
    make_kind(admin_user, bot_doc("pbot", "pg", "Agno"), public=True)
    response = admin_api.delete(f"/api/agents/{public_shells['Agno'].pk}")
    assert response.status_code == 409
    assert response.json()["referrers"] == [{"kind": "Bot", "namespace": "default", "name": "pbot"}]
    renamed = admin_api.put(f"/api/agents/{public_shells['Agno'].pk}", {"name": "Agno2"}, format="json")
    assert renamed.status_code == 409
    assert Kind.objects.filter(name="Agno", owner__isnull=True).exists()
