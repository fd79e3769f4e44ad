"""``/api/bots``: the flat bot over Bot + Ghost (+ dedicated Model) Kind rows."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from kinds import services, skills
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, model_doc, shell_doc, team_doc
from wegent import crypto
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

BASE = "/api/bots"
CRD = "/api/v1/namespaces"
SECRET = "sk-very-secret-key-0123456789"
BOT_FIELDS = {
    "id",
    "user_id",
    "name",
    "namespace",
    "shell_name",
    "shell_type",
    "agent_config",
    "system_prompt",
    "mcp_servers",
    "skills",
    "preload_skills",
    "is_active",
    "created_at",
    "updated_at",
}
CUSTOM_CONFIG = {
    "env": {"model": "openai", "model_id": "gpt-x", "api_key": SECRET, "base_url": "http://127.0.0.1:9/v1"},
    "protocol": "openai",
}


def install_public_parts(admin_user, make_kind) -> dict[str, Kind]:  # type: ignore[no-untyped-def]
    """Public shells Chat (direct chat) and Dify (external API), and a public model."""
    dify = {
        "kind": "Shell",
        "metadata": {"name": "Dify", "labels": {"type": "external_api"}},
        "spec": {"shellType": "Dify"},
    }
    return {
        "chat": make_kind(admin_user, shell_doc("Chat"), public=True),
        "dify": make_kind(admin_user, dify, public=True),
        "model": make_kind(admin_user, model_doc("pub-model"), public=True),
    }


def new_group(make_user, name: str) -> Group:  # type: ignore[no-untyped-def]
    """A group owned by a fresh user; ``group.add(user, role)`` adds members."""
    owner = make_user(f"owner-{name.replace('/', '-')}")
    group = Group.objects.create(name=name, owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)

    def add(user, role):  # type: ignore[no-untyped-def]
        GroupMember.objects.create(group=group, user=user, role=role)

    group.add = add  # type: ignore[attr-defined]
    return group


@pytest.fixture
def public_parts(admin_user, make_kind):  # type: ignore[no-untyped-def]
    return install_public_parts(admin_user, make_kind)


@pytest.fixture
def group_with(make_user):  # type: ignore[no-untyped-def]
    return lambda name: new_group(make_user, name)


def bot_body(name: str = "b1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "shell_name": "Chat",
        "agent_config": {"bind_model": "pub-model", "bind_model_type": "public"},
        "system_prompt": "You are terse.",
        "mcp_servers": {},
    }
    body.update(fields)
    return body


def create(client, name: str = "b1", **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.post(BASE, bot_body(name, **fields), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def rows(kind: str, **filters: Any) -> list[str]:
    return sorted(Kind.objects.filter(kind=kind, is_active=True, **filters).values_list("name", flat=True))


def skill_zip(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}/SKILL.md", "---\ndescription: A skill\n---\n\nDo it.\n")
    return buffer.getvalue()


def make_skill(actor, name: str, *, public: bool = False) -> Kind:  # type: ignore[no-untyped-def]
    return skills.store_skill(
        actor=actor,
        owner=services.Owner(None if public else actor),
        namespace="default",
        name=name,
        archive=skill_zip(name),
        filename=f"{name}.zip",
    )


# --- create ----------------------------------------------------------------------------------


def test_create_bot_bound_to_own_model_round_trips_through_the_crd_api(api, user, make_kind, public_parts):
    make_kind(user, model_doc("my-model"))
    response = api.post(
        BASE,
        bot_body(
            agent_config={"bind_model": "my-model", "bind_model_type": "user"},
            mcp_servers={"x": {"url": "u"}},
        ),
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == BOT_FIELDS
    bot = Kind.objects.get(kind="Bot", name="b1")
    assert body["id"] == bot.pk and body["user_id"] == user.pk
    assert {k: body[k] for k in BOT_FIELDS - {"id", "user_id", "created_at", "updated_at"}} == {
        "name": "b1",
        "namespace": "default",
        "shell_name": "Chat",
        "shell_type": "Chat",
        "agent_config": {"bind_model": "my-model", "bind_model_type": "user"},
        "system_prompt": "You are terse.",
        "mcp_servers": {"x": {"url": "u"}},
        "skills": [],
        "preload_skills": [],
        "is_active": True,
    }
    # The same rows through the Kind API.
    crd_bot = api.get(f"{CRD}/default/bots/b1").json()
    assert crd_bot["spec"] == {
        "ghostRef": {"name": "b1-ghost", "namespace": "default"},
        "shellRef": {"name": "Chat", "namespace": "default"},
        "modelRef": {"name": "my-model", "namespace": "default"},
    }
    ghost = api.get(f"{CRD}/default/ghosts/b1-ghost").json()
    assert ghost["spec"]["systemPrompt"] == "You are terse."
    assert ghost["spec"]["mcpServers"] == {"x": {"url": "u"}}
    assert rows("Model", owner=user) == ["my-model"]  # no dedicated model for a binding


def test_create_bot_with_custom_config_keeps_the_key_encrypted_and_masked(api, user, public_parts):
    response = api.post(BASE, bot_body("cb", agent_config=CUSTOM_CONFIG), format="json")
    assert response.status_code == 201, response.content
    assert SECRET.encode() not in response.content
    config = response.json()["agent_config"]
    assert config["protocol"] == "openai"
    assert config["env"]["api_key"] == crypto.mask(SECRET) and config["env"]["api_key"].startswith("****")
    assert config["env"]["model_id"] == "gpt-x"

    model = Kind.objects.get(kind="Model", name="cb-model", owner=user)
    assert model.spec["isCustomConfig"] is True and model.spec["protocol"] == "openai"
    assert "protocol" not in model.spec["modelConfig"]
    stored_key = model.spec["modelConfig"]["env"]["api_key"]
    assert crypto.is_encrypted(stored_key) and crypto.decrypt(stored_key) == SECRET
    assert Kind.objects.get(kind="Bot", name="cb").spec["modelRef"] == {
        "name": "cb-model",
        "namespace": "default",
    }

    bot_id = response.json()["id"]
    for url in (BASE, f"{BASE}/{bot_id}", f"{CRD}/default/models/cb-model"):
        shown = api.get(url)
        assert shown.status_code == 200
        assert SECRET.encode() not in shown.content, url
    assert api.get(BASE).json()["items"][0]["agent_config"] == config


def test_create_bot_with_public_model_or_no_model(api, public_parts):
    public = create(api, "pb")
    assert public["agent_config"] == {"bind_model": "pub-model", "bind_model_type": "public"}
    none = create(api, "nb", agent_config={})
    assert none["agent_config"] == {}
    assert "modelRef" not in Kind.objects.get(kind="Bot", name="nb").spec or (
        Kind.objects.get(kind="Bot", name="nb").spec["modelRef"] is None
    )


def test_create_bot_with_skills_validates_them(api, user, admin_user, public_parts):
    make_skill(user, "mine")
    make_skill(admin_user, "shared", public=True)
    body = create(api, "sk", skills=["mine", "shared"], preload_skills=["mine"])
    assert body["skills"] == ["mine", "shared"] and body["preload_skills"] == ["mine"]

    before = Kind.objects.count()
    response = api.post(BASE, bot_body("sk2", skills=["mine", "nope"]), format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "The following Skills do not exist: nope"}
    response = api.post(BASE, bot_body("sk3", preload_skills=["ghost-skill"]), format="json")
    assert response.status_code == 400
    assert Kind.objects.count() == before


def test_create_bot_errors(api, user, public_parts, make_kind):
    create(api, "dup")
    duplicate = api.post(BASE, bot_body("dup"), format="json")
    assert duplicate.status_code == 400
    assert duplicate.json() == {"detail": "Bot name already exists, please modify the name"}

    before = Kind.objects.count()
    shell = api.post(BASE, bot_body("x1", shell_name="NoSuchShell"), format="json")
    assert shell.status_code == 400 and shell.json() == {"detail": "Shell 'NoSuchShell' not found"}
    model = api.post(BASE, bot_body("x2", agent_config={"bind_model": "nope"}), format="json")
    assert model.status_code == 400 and model.json() == {"detail": "Model 'nope' not found"}
    # Another user's model or a public binding of a user model is not found either.
    wrong_type = api.post(
        BASE,
        bot_body("x3", agent_config={"bind_model": "pub-model", "bind_model_type": "user"}),
        format="json",
    )
    assert wrong_type.status_code == 400
    assert Kind.objects.count() == before

    assert_validation_error(api.post(BASE, {"shell_name": "Chat", "agent_config": {}}, format="json"), "name")
    assert_validation_error(api.post(BASE, bot_body("bad name!"), format="json"), "name")
    assert_validation_error(api.post(BASE, bot_body("x" * 95), format="json"), "name")
    assert_validation_error(api.post(BASE, bot_body(agent_config="gpt"), format="json"), "agent_config")
    assert_validation_error(
        api.post(BASE, bot_body(agent_config={"bind_model": "m", "bind_model_type": "x"}), format="json"),
        "agent_config",
    )
    assert_validation_error(api.post(BASE, bot_body(skills="one"), format="json"), "skills")
    assert_validation_error(api.post(BASE, [1, 2], format="json"))
    assert Kind.objects.count() == before


def test_failed_create_writes_nothing(api, user, make_kind, public_parts):
    """The dedicated model is written before the ghost; a ghost failure undoes it."""
    name = "n" * 94
    make_kind(user, ghost_doc(f"{name}-ghost"))  # the next free name would be too long
    before = Kind.objects.count()
    response = api.post(BASE, bot_body(name, agent_config=CUSTOM_CONFIG), format="json")
    assert response.status_code == 400
    assert Kind.objects.count() == before
    assert not Kind.objects.filter(name=f"{name}-model").exists()


def test_taken_ghost_name_gets_a_free_one(api, user, make_kind, public_parts):
    make_kind(user, ghost_doc("gb-ghost", "unrelated"))
    create(api, "gb")
    assert Kind.objects.get(kind="Bot", name="gb").spec["ghostRef"]["name"] == "gb-ghost-2"
    assert Kind.objects.get(kind="Ghost", name="gb-ghost").spec["systemPrompt"] == "unrelated"


def test_routes_need_credentials(anon_client, api, public_parts):
    bot_id = create(api)["id"]
    for method, url in (
        ("get", BASE),
        ("post", BASE),
        ("get", f"{BASE}/{bot_id}"),
        ("put", f"{BASE}/{bot_id}"),
        ("delete", f"{BASE}/{bot_id}"),
        ("get", f"{BASE}/{bot_id}/running-tasks"),
    ):
        response = getattr(anon_client, method)(url, {}, format="json")
        assert response.status_code == 401, (method, url)
        assert response.json() == {"detail": "Not authenticated"}
    assert Kind.objects.filter(kind="Bot", pk=bot_id).exists()


# --- list ------------------------------------------------------------------------------------


def test_list_scopes_and_pagination(api, client_for, user, other_user, group_with, make_kind, public_parts):
    for name in ("p1", "p2", "p3"):
        create(api, name)
    create(client_for(other_user), "theirs")
    group = group_with("team")
    group.add(user, GroupRole.REPORTER)
    make_kind(group.owner, ghost_doc("g-ghost"), "team")
    group_bot = bot_doc("g-bot", "g-ghost", "Chat")
    group_bot["spec"]["ghostRef"]["namespace"] = "team"
    make_kind(group.owner, group_bot, "team")

    personal = api.get(BASE).json()
    assert personal["total"] == 3
    assert [item["name"] for item in personal["items"]] == ["p3", "p2", "p1"]  # newest first

    first = api.get(BASE, {"limit": 2}).json()
    assert first["total"] == 3 and [i["name"] for i in first["items"]] == ["p3", "p2"]
    second = api.get(BASE, {"limit": 2, "page": 2}).json()
    assert second["total"] == 3 and [i["name"] for i in second["items"]] == ["p1"]

    grouped = api.get(BASE, {"scope": "group"}).json()
    assert [i["name"] for i in grouped["items"]] == ["g-bot"] and grouped["total"] == 1
    assert grouped["items"][0]["namespace"] == "team" and grouped["items"][0]["shell_type"] == "Chat"
    assert api.get(BASE, {"scope": "group", "group_name": "team"}).json()["total"] == 1
    assert api.get(BASE, {"scope": "all"}).json()["total"] == 4

    denied = client_for(other_user).get(BASE, {"scope": "group", "group_name": "team"})
    assert denied.status_code == 403
    assert client_for(other_user).get(BASE, {"scope": "group"}).json() == {"total": 0, "items": []}
    assert client_for(other_user).get(BASE, {"scope": "group", "group_name": "default"}).status_code == 403

    invalid = api.get(BASE, {"scope": "everything"})
    assert invalid.status_code == 400 and "Invalid scope" in invalid.json()["detail"]
    assert_validation_error(api.get(BASE, {"limit": 0}), "limit")
    assert_validation_error(api.get(BASE, {"limit": 101}), "limit")
    assert_validation_error(api.get(BASE, {"page": "x"}), "page")


def test_crd_created_bot_is_listed(api, user, bot_stack):
    stack = bot_stack(user, "s")
    items = api.get(BASE).json()["items"]
    assert len(items) == 1
    item = items[0]
    assert item["id"] == stack["bot"].pk
    assert item["agent_config"] == {"bind_model": "s-model", "bind_model_type": "user"}
    assert item["shell_name"] == "s-shell" and item["shell_type"] == "Chat"
    assert item["system_prompt"] == "You are helpful."
    assert item["mcp_servers"] == {} and item["skills"] == []


# --- detail ----------------------------------------------------------------------------------


def test_get_bot_detail(api, client_for, user, other_user, admin_user, make_kind, public_parts):
    bot_id = create(api)["id"]
    detail = api.get(f"{BASE}/{bot_id}")
    assert detail.status_code == 200
    body = detail.json()
    assert set(body) == BOT_FIELDS | {"user"}
    assert body["user"]["id"] == user.pk and body["user"]["user_name"] == "alice"
    assert body["system_prompt"] == "You are terse."

    other = client_for(other_user).get(f"{BASE}/{bot_id}")
    assert other.status_code == 404 and other.json() == {"detail": "Bot not found"}
    assert api.get(f"{BASE}/999999").status_code == 404
    assert api.get(f"{BASE}/99999999999999999999999").status_code == 404

    make_kind(admin_user, ghost_doc("pub-ghost"), public=True)
    public_bot = make_kind(admin_user, bot_doc("pub-bot", "pub-ghost", "Chat"), public=True)
    shown = client_for(other_user).get(f"{BASE}/{public_bot.pk}")
    assert shown.status_code == 200
    assert shown.json()["user"] is None and shown.json()["user_id"] == 0


def test_running_tasks_are_empty(api, client_for, other_user, public_parts):
    bot_id = create(api)["id"]
    response = api.get(f"{BASE}/{bot_id}/running-tasks")
    assert response.status_code == 200
    assert response.json() == {"has_running_tasks": False, "running_tasks_count": 0, "running_tasks": []}
    assert client_for(other_user).get(f"{BASE}/{bot_id}/running-tasks").status_code == 404


# --- update ----------------------------------------------------------------------------------


def test_update_renames_and_retargets_teams(api, user, make_kind, public_parts):
    created = create(api, "old", agent_config=CUSTOM_CONFIG)
    make_kind(user, team_doc("uses-old", ["old"]))
    make_kind(user, shell_doc("my-shell"))
    response = api.put(
        f"{BASE}/{created['id']}",
        {"name": "new", "shell_name": "my-shell", "system_prompt": "Be brief.", "mcp_servers": None},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == created["id"] and body["name"] == "new"
    assert body["shell_name"] == "my-shell" and body["system_prompt"] == "Be brief."
    assert body["agent_config"]["env"]["api_key"] == crypto.mask(SECRET)

    assert rows("Bot", owner=user) == ["new"]
    assert rows("Ghost", owner=user) == ["new-ghost"]
    assert rows("Model", owner=user) == ["new-model"]
    bot = Kind.objects.get(pk=created["id"])
    assert bot.spec["ghostRef"]["name"] == "new-ghost" and bot.spec["modelRef"]["name"] == "new-model"
    assert bot.spec["shellRef"] == {"name": "my-shell", "namespace": "default"}
    team = Kind.objects.get(kind="Team", name="uses-old")
    assert [m["botRef"] for m in team.spec["members"]] == [{"name": "new", "namespace": "default"}]
    assert api.get(f"{CRD}/default/bots/new").status_code == 200
    assert api.get(f"{CRD}/default/bots/old").status_code == 404

    taken = create(api, "other")
    clash = api.put(f"{BASE}/{taken['id']}", {"name": "new"}, format="json")
    assert clash.status_code == 400
    assert clash.json() == {"detail": "Bot name already exists, please modify the name"}


def test_update_switches_between_custom_and_bound_models(api, user, make_kind, public_parts):
    make_kind(user, model_doc("my-model"))
    bot_id = create(api, "sw", agent_config=CUSTOM_CONFIG)["id"]
    url = f"{BASE}/{bot_id}"

    # Sending the masked config back keeps the stored key; other fields change.
    shown = api.get(url).json()["agent_config"]
    shown["env"]["model_id"] = "gpt-y"
    kept = api.put(url, {"agent_config": shown}, format="json")
    assert kept.status_code == 200
    model = Kind.objects.get(kind="Model", name="sw-model")
    assert crypto.decrypt(model.spec["modelConfig"]["env"]["api_key"]) == SECRET
    assert model.spec["modelConfig"]["env"]["model_id"] == "gpt-y"

    bound = api.put(url, {"agent_config": {"bind_model": "my-model"}}, format="json").json()
    assert bound["agent_config"] == {"bind_model": "my-model", "bind_model_type": "user"}
    assert not Kind.objects.filter(kind="Model", name="sw-model").exists()  # dedicated model dropped

    custom = api.put(
        url, {"agent_config": {"env": {"model": "claude", "api_key": "k-123456789012"}}}, format="json"
    )
    assert custom.status_code == 200
    assert custom.json()["agent_config"] == {
        "env": {"model": "claude", "api_key": crypto.mask("k-123456789012")}
    }
    assert Kind.objects.get(pk=bot_id).spec["modelRef"] == {"name": "sw-model", "namespace": "default"}

    cleared = api.put(url, {"agent_config": {}}, format="json").json()
    assert cleared["agent_config"] == {}
    assert Kind.objects.get(pk=bot_id).spec["modelRef"] is None
    assert rows("Model", owner=user) == ["my-model"]


def test_update_ghost_skills_and_bad_input(api, user, public_parts):
    make_skill(user, "mine")
    bot_id = create(api, "gs")["id"]
    url = f"{BASE}/{bot_id}"
    updated = api.put(url, {"skills": ["mine"], "preload_skills": ["mine"]}, format="json").json()
    assert updated["skills"] == ["mine"] and updated["preload_skills"] == ["mine"]
    missing = api.put(url, {"skills": ["nope"]}, format="json")
    assert missing.status_code == 400 and missing.json() == {
        "detail": "The following Skills do not exist: nope"
    }
    assert api.put(url, {"shell_name": "Nope"}, format="json").status_code == 400
    moved = api.put(url, {"namespace": "elsewhere"}, format="json")
    assert moved.status_code == 400
    assert_validation_error(api.put(url, {"name": "bad name"}, format="json"), "name")
    assert_validation_error(api.put(url, {"mcp_servers": [1]}, format="json"), "mcp_servers")
    assert Kind.objects.get(kind="Ghost", name="gs-ghost").spec["skills"] == ["mine"]


def test_update_permissions(api, client_for, other_user, admin_user, make_kind, public_parts):
    bot_id = create(api)["id"]
    other = client_for(other_user).put(f"{BASE}/{bot_id}", {"system_prompt": "hijack"}, format="json")
    assert other.status_code == 404 and other.json() == {"detail": "Bot not found"}
    assert Kind.objects.get(kind="Ghost", name="b1-ghost").spec["systemPrompt"] == "You are terse."

    make_kind(admin_user, ghost_doc("pub-ghost"), public=True)
    public_bot = make_kind(admin_user, bot_doc("pub-bot", "pub-ghost", "Chat"), public=True)
    read_only = api.put(f"{BASE}/{public_bot.pk}", {"system_prompt": "x"}, format="json")
    assert read_only.status_code == 403 and read_only.json() == {"detail": "Public bots are read-only"}
    assert api.delete(f"{BASE}/{public_bot.pk}").status_code == 403
    assert Kind.objects.filter(pk=public_bot.pk).exists()


# --- groups ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "can_read", "can_write", "can_delete"),
    [
        (GroupRole.REPORTER, True, False, False),
        (GroupRole.DEVELOPER, True, True, False),
        (GroupRole.MAINTAINER, True, True, True),
        (None, False, False, False),
    ],
)
def test_group_roles(client_for, user, group_with, public_parts, role, can_read, can_write, can_delete):
    group = group_with("team")
    owner_api = client_for(group.owner)
    bot_id = create(owner_api, "gb", namespace="team")["id"]
    if role:
        group.add(user, role)
    api = client_for(user)

    listed = api.get(BASE, {"scope": "group"}).json()
    assert [i["id"] for i in listed["items"]] == ([bot_id] if can_read else [])
    assert api.get(f"{BASE}/{bot_id}").status_code == (200 if can_read else 404)

    created = api.post(BASE, bot_body("mine", namespace="team"), format="json")
    assert created.status_code == (201 if can_write else 403)
    if not can_write:
        assert created.json() == {"detail": "You need at least Developer role in group 'team' to create bots"}
        assert not Kind.objects.filter(name__startswith="mine").exists()
    else:
        assert created.json()["namespace"] == "team"
        assert rows("Ghost", namespace="team") == ["gb-ghost", "mine-ghost"]

    updated = api.put(f"{BASE}/{bot_id}", {"system_prompt": "Group prompt"}, format="json")
    assert updated.status_code == (200 if can_write else 403 if can_read else 404)
    prompt = Kind.objects.get(kind="Ghost", name="gb-ghost").spec["systemPrompt"]
    assert prompt == ("Group prompt" if can_write else "You are terse.")

    deleted = api.delete(f"{BASE}/{bot_id}")
    assert deleted.status_code == (200 if can_delete else 403 if can_read else 404)
    assert Kind.objects.filter(pk=bot_id).exists() is not can_delete


def test_group_bot_uses_group_shell_and_model(client_for, group_with, make_kind, public_parts):
    group = group_with("team")
    make_kind(group.owner, shell_doc("team-shell"), "team")
    make_kind(group.owner, model_doc("team-model"), "team")
    api = client_for(group.owner)
    body = create(
        api,
        "gm",
        namespace="team",
        shell_name="team-shell",
        agent_config={"bind_model": "team-model", "bind_model_type": "group"},
    )
    assert body["agent_config"] == {
        "bind_model": "team-model",
        "bind_model_type": "group",
        "bind_model_namespace": "team",
    }
    bot = Kind.objects.get(pk=body["id"])
    assert bot.spec["shellRef"] == {"name": "team-shell", "namespace": "team"}
    assert bot.spec["ghostRef"] == {"name": "gm-ghost", "namespace": "team"}
    custom = create(api, "gc", namespace="team", agent_config=CUSTOM_CONFIG)
    assert custom["agent_config"]["env"]["api_key"] == crypto.mask(SECRET)
    assert Kind.objects.get(kind="Model", name="gc-model").namespace == "team"


# --- delete ----------------------------------------------------------------------------------


def test_delete_bot_removes_ghost_and_dedicated_model(api, user, make_kind, public_parts):
    make_kind(user, model_doc("kept-model"))
    custom = create(api, "cd", agent_config=CUSTOM_CONFIG)
    bound = create(api, "bd", agent_config={"bind_model": "kept-model"})
    response = api.delete(f"{BASE}/{custom['id']}")
    assert response.status_code == 200 and response.json() == {"message": "Bot deleted successfully"}
    assert api.delete(f"{BASE}/{bound['id']}").status_code == 200
    assert rows("Bot", owner=user) == [] and rows("Ghost", owner=user) == []
    assert rows("Model", owner=user) == ["kept-model"]
    assert Kind.objects.filter(kind="Shell", name="Chat").exists()
    assert api.delete(f"{BASE}/{custom['id']}").status_code == 404
    assert api.get(f"{CRD}/default/bots/cd").status_code == 404


def test_delete_bot_used_by_a_team(api, client_for, user, other_user, make_kind, public_parts):
    first = create(api, "first")
    create(api, "second")
    team = make_kind(user, team_doc("duo", ["first", "second"]))
    assert client_for(other_user).delete(f"{BASE}/{first['id']}").status_code == 404

    refused = api.delete(f"{BASE}/{first['id']}")
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": "Bot 'first' is being used in team(s): duo. Please remove it from the team(s) first."
    }
    assert Kind.objects.filter(pk=first["id"]).exists()
    assert_validation_error(api.delete(f"{BASE}/{first['id']}?force=maybe"), "force")

    forced = api.delete(f"{BASE}/{first['id']}?force=true")
    assert forced.status_code == 200
    assert not Kind.objects.filter(pk=first["id"]).exists()
    team.refresh_from_db()
    assert team.is_active
    assert [m["botRef"]["name"] for m in team.spec["members"]] == ["second"]
