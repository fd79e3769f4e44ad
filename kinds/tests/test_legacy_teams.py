"""``/api/teams``: the flat team ("agent") over Team Kind rows, and the quick-access provider."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.roles import GroupRole
from kinds import events as kind_events
from kinds.adapters import teams as team_adapter
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, team_doc
from kinds.tests.test_legacy_bots import (
    CUSTOM_CONFIG,
    SECRET,
    create,
    install_public_parts,
    make_skill,
    new_group,
)
from wegent import crypto
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

BASE = "/api/teams"
CRD = "/api/v1/namespaces"
TEAM_FIELDS = {
    "name",
    "description",
    "bots",
    "workflow",
    "bind_mode",
    "is_active",
    "icon",
    "requires_workspace",
    "id",
    "user_id",
    "namespace",
    "created_at",
    "updated_at",
    "user",
    "share_status",
    "agent_type",
    "recommended_mode",
}


@pytest.fixture
def public_parts(admin_user, make_kind):  # type: ignore[no-untyped-def]
    return install_public_parts(admin_user, make_kind)


@pytest.fixture
def group_with(make_user):  # type: ignore[no-untyped-def]
    return lambda name: new_group(make_user, name)


@pytest.fixture
def public_team(admin_user, make_kind, public_parts):  # type: ignore[no-untyped-def]
    make_kind(admin_user, ghost_doc("pub-ghost"), public=True)
    make_kind(admin_user, bot_doc("pub-bot", "pub-ghost", "Chat"), public=True)
    return make_kind(admin_user, team_doc("pub-team", ["pub-bot"]), public=True)


def team_body(name: str, bot_ids: list[int], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "bots": [
            {"bot_id": bot_id, "bot_prompt": "", "role": "leader" if i == 0 else "member"}
            for i, bot_id in enumerate(bot_ids)
        ],
        "bind_mode": ["chat"],
        "description": f"{name} team",
    }
    body.update(fields)
    return body


def create_team(client, name: str, bot_ids: list[int], **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.post(BASE, team_body(name, bot_ids, **fields), format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- create ----------------------------------------------------------------------------------


def test_create_team_round_trips_through_the_crd_api(api, user, public_parts):
    bot = create(api, "tb", agent_config=CUSTOM_CONFIG)
    response = api.post(BASE, team_body("t1", [bot["id"]], icon="robot"), format="json")
    assert response.status_code == 201, response.content
    assert SECRET.encode() not in response.content
    body = response.json()
    assert set(body) == TEAM_FIELDS
    team = Kind.objects.get(kind="Team", name="t1")
    assert body["id"] == team.pk and body["user_id"] == user.pk
    assert body["user"] == {"id": user.pk, "user_name": "alice"}
    assert body["workflow"] == {"mode": "pipeline"}  # the reference's default
    assert body["bind_mode"] == ["chat"] and body["icon"] == "robot" and body["requires_workspace"] is None
    assert (body["agent_type"], body["recommended_mode"], body["share_status"]) == ("chat", "chat", 0)
    assert body["bots"] == [
        {
            "bot_id": bot["id"],
            "bot_prompt": "",
            "role": "leader",
            "requireConfirmation": False,
            "bot": {"agent_config": bot["agent_config"], "agent_name": None, "shell_type": "Chat"},
        }
    ]
    assert body["bots"][0]["bot"]["agent_config"]["env"]["api_key"] == crypto.mask(SECRET)

    crd = api.get(f"{CRD}/default/teams/t1").json()
    assert crd["spec"]["members"] == [
        {
            "botRef": {"name": "tb", "namespace": "default"},
            "prompt": "",
            "role": "leader",
            "requireConfirmation": False,
        }
    ]
    assert crd["spec"]["collaborationModel"] == "pipeline" and crd["spec"]["description"] == "t1 team"


def test_create_team_modes_and_agent_types(api, user, make_kind, public_parts):
    make_kind(user, {"kind": "Shell", "metadata": {"name": "cc"}, "spec": {"shellType": "ClaudeCode"}})
    coder = create(api, "coder", shell_name="cc")
    body = create_team(api, "code-team", [coder["id"]], workflow={"mode": "solo"}, bind_mode=["chat", "code"])
    assert body["workflow"] == {"mode": "solo"}
    assert (body["agent_type"], body["recommended_mode"]) == ("claude", "both")
    only_code = create_team(api, "only-code", [coder["id"]], bind_mode=["code"])
    assert only_code["recommended_mode"] == "code"


def test_create_team_errors(api, client_for, user, other_user, public_parts):
    bot = create(api, "eb")
    theirs = create(client_for(other_user), "theirs")
    dify_one = create(api, "d1", shell_name="Dify", agent_config={})
    create_team(api, "dup", [bot["id"]])
    before = Kind.objects.count()

    duplicate = api.post(BASE, team_body("dup", [bot["id"]]), format="json")
    assert duplicate.status_code == 400
    assert duplicate.json() == {"detail": "Team name already exists, please modify the name"}
    empty = api.post(BASE, team_body("e", []), format="json")
    assert empty.status_code == 400 and empty.json() == {"detail": "bots cannot be empty"}
    invalid = api.post(BASE, team_body("i", [bot["id"], theirs["id"], 987654]), format="json")
    assert invalid.status_code == 400
    assert invalid.json() == {"detail": f"Invalid or inactive bot_ids: {theirs['id']}, 987654"}
    external = api.post(BASE, team_body("x", [dify_one["id"], bot["id"]]), format="json")
    assert external.status_code == 400
    assert external.json() == {
        "detail": "Teams using external API shells (Dify) must have exactly one bot. Found 2 bots."
    }
    assert Kind.objects.count() == before
    assert create_team(api, "dify-alone", [dify_one["id"]])["agent_type"] == "dify"

    assert_validation_error(api.post(BASE, {"name": "nobots"}, format="json"), "bots")
    assert_validation_error(api.post(BASE, team_body("bad name", [bot["id"]]), format="json"), "name")
    assert_validation_error(api.post(BASE, {"name": "t", "bots": [{"bot_id": "x"}]}, format="json"), "bot_id")
    assert_validation_error(
        api.post(BASE, {"name": "t", "bots": [{"bot_id": 10**30}]}, format="json"), "bot_id"
    )
    assert_validation_error(
        api.post(BASE, team_body("w", [bot["id"]], workflow={"mode": 3}), format="json"), "workflow"
    )
    assert_validation_error(
        api.post(BASE, team_body("w", [bot["id"]], bind_mode="chat"), format="json"), "bind_mode"
    )
    assert_validation_error(api.post(BASE, "not an object", format="json"))


def test_team_routes_need_credentials(anon_client, api, public_parts):
    team_id = create_team(api, "anon", [create(api, "ab")["id"]])["id"]
    for method, url in (
        ("get", BASE),
        ("post", BASE),
        ("get", f"{BASE}/{team_id}"),
        ("put", f"{BASE}/{team_id}"),
        ("delete", f"{BASE}/{team_id}"),
        ("get", f"{BASE}/{team_id}/running-tasks"),
        ("get", f"{BASE}/{team_id}/skills"),
    ):
        response = getattr(anon_client, method)(url, {}, format="json")
        assert response.status_code == 401, (method, url)
        assert response.json() == {"detail": "Not authenticated"}
    assert Kind.objects.filter(pk=team_id).exists()


# --- list ------------------------------------------------------------------------------------


def test_list_scopes_sorting_and_pagination(
    api, client_for, user, other_user, group_with, make_kind, public_team, bot_stack
):
    bot_id = create(api, "lb")["id"]
    first = create_team(api, "first", [bot_id])
    second = create_team(api, "second", [bot_id])
    create_team(client_for(other_user), "theirs", [create(client_for(other_user), "ob")["id"]])
    group = group_with("team")
    child = group_with("team/child")
    group.add(user, GroupRole.REPORTER)
    stack = bot_stack(child.owner, "g", "team/child")
    crd_team = bot_stack(user, "crd")["team"]  # created through the Kind API path

    everything = api.get(BASE).json()  # default scope "all"
    names = [item["name"] for item in everything["items"]]
    assert names == ["crd-team", "g-team", "second", "first", "pub-team"]
    assert everything["total"] == 5
    by_name = {item["name"]: item for item in everything["items"]}
    assert by_name["pub-team"]["user"] is None and by_name["pub-team"]["user_id"] == 0
    assert by_name["pub-team"]["workflow"] == {"mode": "solo"}
    assert by_name["g-team"]["namespace"] == "team/child"  # inherited role in a sub-group
    assert by_name["g-team"]["bots"][0]["bot_id"] == stack["bot"].pk
    assert by_name["crd-team"]["id"] == crd_team.pk
    assert by_name["crd-team"]["bots"][0]["bot"]["agent_config"] == {
        "bind_model": "crd-model",
        "bind_model_type": "user",
    }

    personal = api.get(BASE, {"scope": "personal"}).json()
    assert [i["name"] for i in personal["items"]] == ["crd-team", "second", "first", "pub-team"]
    grouped = api.get(BASE, {"scope": "group"}).json()
    assert [i["name"] for i in grouped["items"]] == ["g-team"]
    assert api.get(BASE, {"scope": "group", "group_name": "team/child"}).json()["total"] == 1
    assert api.get(BASE, {"scope": "group", "group_name": "team"}).json()["total"] == 0

    page1 = api.get(BASE, {"limit": 2}).json()
    assert page1["total"] == 5 and [i["id"] for i in page1["items"]] == [crd_team.pk, stack["team"].pk]
    page3 = api.get(BASE, {"limit": 2, "page": 3}).json()
    assert page3["total"] == 5 and [i["name"] for i in page3["items"]] == ["pub-team"]
    short = api.get(BASE, {"limit": 10, "scope": "group"}).json()
    assert short == {"total": 1, "items": short["items"]}

    # Updating a team moves it to the front.
    api.put(f"{BASE}/{first['id']}", {"description": "touched"}, format="json")
    assert api.get(BASE, {"scope": "personal"}).json()["items"][0]["id"] == first["id"]
    assert second["id"] != first["id"]

    outsider = client_for(other_user)
    assert [i["name"] for i in outsider.get(BASE).json()["items"]] == ["theirs", "pub-team"]
    denied = outsider.get(BASE, {"scope": "group", "group_name": "team"})
    assert denied.status_code == 403
    invalid = api.get(BASE, {"scope": "mine"})
    assert invalid.status_code == 400
    assert invalid.json() == {"detail": "Invalid scope 'mine'. Valid values: personal, group, all"}
    assert_validation_error(api.get(BASE, {"page": 0}), "page")
    assert_validation_error(api.get(BASE, {"limit": "many"}), "limit")


def test_share_status_label(api, user, public_parts):
    team = create_team(api, "shared", [create(api, "sb")["id"]])
    row = Kind.objects.get(pk=team["id"])
    row.document = {**row.document, "metadata": {**row.document["metadata"], "labels": {"share_status": "1"}}}
    row.save()
    assert api.get(BASE).json()["items"][0]["share_status"] == 1
    assert api.get(f"{BASE}/{team['id']}").json()["share_status"] == 1


# --- detail ----------------------------------------------------------------------------------


def test_team_detail(api, client_for, user, other_user, public_team, group_with):
    bot = create(api, "db", agent_config=CUSTOM_CONFIG)
    team = create_team(api, "detail", [bot["id"]])
    response = api.get(f"{BASE}/{team['id']}")
    assert response.status_code == 200
    assert SECRET.encode() not in response.content
    body = response.json()
    assert set(body) == TEAM_FIELDS
    assert body["user"]["id"] == user.pk and body["user"]["email"] == "alice@example.com"
    bot_detail = api.get(f"/api/bots/{bot['id']}").json()
    bot_detail.pop("user")
    assert body["bots"] == [
        {"bot": bot_detail, "bot_prompt": "", "role": "leader", "requireConfirmation": False}
    ]

    other = client_for(other_user).get(f"{BASE}/{team['id']}")
    assert other.status_code == 403 and other.json() == {"detail": "Access denied to this team"}
    assert api.get(f"{BASE}/424242").json() == {"detail": "Team not found"}
    assert api.get(f"{BASE}/424242").status_code == 404

    public = client_for(other_user).get(f"{BASE}/{public_team.pk}")
    assert public.status_code == 200
    assert public.json()["user"] is None and public.json()["bots"][0]["bot"]["name"] == "pub-bot"

    group = group_with("team")
    group.add(other_user, GroupRole.REPORTER)
    group.owner.git_info = [{"git_domain": "github.com", "git_token": "tok-0123456789", "type": "github"}]
    group.owner.save()
    group_bot = create(client_for(group.owner), "gdb", namespace="team")
    group_team = create_team(client_for(group.owner), "gt", [group_bot["id"]], namespace="team")
    seen = client_for(other_user).get(f"{BASE}/{group_team['id']}")
    assert seen.status_code == 200
    assert seen.json()["user"]["id"] == group.owner.pk and seen.json()["user"]["git_info"] == []
    assert api.get(f"{BASE}/{group_team['id']}").status_code == 403


def test_running_tasks_and_skills(api, client_for, user, other_user, admin_user, public_parts):
    make_skill(user, "one")
    make_skill(user, "two")
    a = create(api, "sa", skills=["one"], preload_skills=["one"])
    b = create(api, "sb", skills=["two", "one"])
    team = create_team(api, "skilled", [a["id"], b["id"]])
    skills = api.get(f"{BASE}/{team['id']}/skills")
    assert skills.status_code == 200
    assert skills.json() == {
        "team_id": team["id"],
        "team_namespace": "default",
        "skills": ["one", "two"],
        "preload_skills": ["one"],
    }
    running = api.get(f"{BASE}/{team['id']}/running-tasks")
    assert running.json() == {"has_running_tasks": False, "running_tasks_count": 0, "running_tasks": []}
    outsider = client_for(other_user)
    assert outsider.get(f"{BASE}/{team['id']}/skills").status_code == 403
    assert outsider.get(f"{BASE}/{team['id']}/running-tasks").status_code == 403
    assert api.get(f"{BASE}/999999/skills").status_code == 404


# --- update ----------------------------------------------------------------------------------


def test_update_team(api, user, public_parts):
    bot1 = create(api, "u1")
    bot2 = create(api, "u2")
    team = create_team(api, "ut", [bot1["id"]], workflow={"mode": "route"}, icon="i1")
    url = f"{BASE}/{team['id']}"
    renamed: list[tuple[int, str, str]] = []

    def hook(row: Kind, old: str) -> None:
        renamed.append((row.pk, old, row.name))

    with kind_events.team_renamed.registered(hook):
        response = api.put(url, {"name": "ut2", "description": "changed"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == team["id"] and body["name"] == "ut2" and body["description"] == "changed"
    assert body["workflow"] == {"mode": "route"} and body["icon"] == "i1"  # untouched fields kept
    assert renamed == [(team["id"], "ut", "ut2")]
    assert api.get(f"{CRD}/default/teams/ut2").status_code == 200
    assert api.get(f"{CRD}/default/teams/ut").status_code == 404

    changed = api.put(
        url,
        {
            "bots": [{"bot_id": bot2["id"], "bot_prompt": "p", "role": "r", "requireConfirmation": True}],
            "workflow": {},
            "bind_mode": ["code"],
            "requires_workspace": True,
        },
        format="json",
    ).json()
    assert [b["bot_id"] for b in changed["bots"]] == [bot2["id"]]
    assert changed["bots"][0]["requireConfirmation"] is True and changed["bots"][0]["bot_prompt"] == "p"
    assert changed["workflow"] == {"mode": "pipeline"} and changed["recommended_mode"] == "code"
    assert changed["requires_workspace"] is True

    create_team(api, "taken", [bot1["id"]])
    clash = api.put(url, {"name": "taken"}, format="json")
    assert clash.status_code == 400
    assert clash.json() == {"detail": "Team name already exists, please modify the name"}
    assert api.put(url, {"bots": []}, format="json").json() == {"detail": "bots cannot be empty"}
    assert api.put(url, {"bots": [{"bot_id": 31337}]}, format="json").status_code == 400
    assert api.put(url, {"namespace": "other"}, format="json").status_code == 400
    assert_validation_error(api.put(url, {"name": ""}, format="json"), "name")
    assert_validation_error(
        api.put(url, {"requires_workspace": "perhaps"}, format="json"), "requires_workspace"
    )
    assert Kind.objects.get(pk=team["id"]).name == "ut2"
    assert api.put(f"{BASE}/999999", {"description": "x"}, format="json").status_code == 404


def test_update_and_delete_permissions(api, client_for, other_user, public_team, public_parts):
    team = create_team(api, "mine", [create(api, "pb")["id"]])
    outsider = client_for(other_user)
    put = outsider.put(f"{BASE}/{team['id']}", {"description": "hijack"}, format="json")
    assert put.status_code == 403 and put.json() == {"detail": "Access denied"}
    delete = outsider.delete(f"{BASE}/{team['id']}")
    assert delete.status_code == 403 and delete.json() == {"detail": "Access denied"}
    assert Kind.objects.get(pk=team["id"]).spec["description"] == "mine team"

    for response in (
        api.put(f"{BASE}/{public_team.pk}", {"description": "x"}, format="json"),
        api.delete(f"{BASE}/{public_team.pk}"),
    ):
        assert response.status_code == 403
    assert Kind.objects.get(pk=public_team.pk).spec["description"] == "pub-team team"


def test_delete_team(api, user, public_parts):
    bot = create(api, "del-bot")
    team = create_team(api, "gone", [bot["id"]])
    response = api.delete(f"{BASE}/{team['id']}?force=false")
    assert response.status_code == 200
    assert response.json() == {"message": "Team deactivated successfully"}
    assert not Kind.objects.filter(pk=team["id"]).exists()
    assert Kind.objects.filter(pk=bot["id"]).exists()  # bots stay
    assert api.delete(f"{BASE}/{team['id']}").status_code == 404
    assert_validation_error(api.delete(f"{BASE}/{bot['id']}?force=nah"), "force")


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
    team_id = create_team(owner_api, "gt", [bot_id], namespace="team")["id"]
    if role:
        group.add(user, role)
    api = client_for(user)

    listed = api.get(BASE, {"scope": "group"}).json()
    assert [i["id"] for i in listed["items"]] == ([team_id] if can_read else [])
    assert api.get(f"{BASE}/{team_id}").status_code == (200 if can_read else 403)
    assert api.get(f"{BASE}/{team_id}/skills").status_code == (200 if can_read else 403)

    created = api.post(BASE, team_body("new", [bot_id], namespace="team"), format="json")
    assert created.status_code == (201 if can_write else 403)
    if not can_write:
        assert created.json() == {
            "detail": "You need at least Developer role in group 'team' to create teams"
        }

    updated = api.put(f"{BASE}/{team_id}", {"description": "by member"}, format="json")
    assert updated.status_code == (200 if can_write else 403)
    if not can_write:
        assert updated.json() == {
            "detail": "You need at least Developer role in group 'team' to update this team"
        }

    deleted = api.delete(f"{BASE}/{team_id}")
    assert deleted.status_code == (200 if can_delete else 403)
    if not can_delete:
        assert deleted.json() == {
            "detail": "You need at least Maintainer role in group 'team' to delete this team"
        }
    assert Kind.objects.filter(pk=team_id).exists() is not can_delete


def test_group_team_uses_only_group_or_public_bots(
    api, client_for, user, group_with, admin_user, make_kind, public_team
):
    group = group_with("team")
    group.add(user, GroupRole.DEVELOPER)
    personal = create(api, "personal-bot")
    group_bot = create(client_for(group.owner), "group-bot", namespace="team")
    public_bot = Kind.objects.get(kind="Bot", name="pub-bot")
    refused = api.post(BASE, team_body("gteam", [personal["id"]], namespace="team"), format="json")
    assert refused.status_code == 400
    assert refused.json() == {"detail": f"Invalid or inactive bot_ids: {personal['id']}"}
    created = create_team(api, "gteam", [group_bot["id"], public_bot.pk], namespace="team")
    assert created["namespace"] == "team" and [b["bot_id"] for b in created["bots"]] == [
        group_bot["id"],
        public_bot.pk,
    ]
    # A personal team may use bots of groups the user can read.
    mixed = create_team(api, "mixed", [personal["id"], group_bot["id"]])
    assert [b["bot_id"] for b in mixed["bots"]] == [personal["id"], group_bot["id"]]


# --- quick access provider -------------------------------------------------------------------


def test_team_summaries(api, client_for, user, other_user, make_user, group_with, make_kind, public_team):
    mine = create_team(api, "mine", [create(api, "qb")["id"]], bind_mode=["chat", "code"])
    theirs = create_team(client_for(other_user), "theirs", [create(client_for(other_user), "tb")["id"]])
    group = group_with("team")
    group.add(user, GroupRole.REPORTER)
    group_team = create_team(
        client_for(group.owner),
        "gt",
        [create(client_for(group.owner), "gb", namespace="team")["id"]],
        namespace="team",
    )
    hidden_group = group_with("hidden")
    hidden = create_team(
        client_for(hidden_group.owner),
        "ht",
        [create(client_for(hidden_group.owner), "hb", namespace="hidden")["id"]],
        namespace="hidden",
    )

    ids = [mine["id"], theirs["id"], group_team["id"], hidden["id"], public_team.pk, 999999, 10**30]
    summaries = team_adapter.team_summaries(ids, user)
    assert summaries == {
        mine["id"]: {"name": "mine", "agent_type": "chat", "recommended_mode": "both", "is_system": False},
        group_team["id"]: {
            "name": "gt",
            "agent_type": "chat",
            "recommended_mode": "chat",
            "is_system": False,
        },
        public_team.pk: {
            "name": "pub-team",
            "agent_type": "chat",
            "recommended_mode": "chat",
            "is_system": True,
        },
    }
    assert team_adapter.team_summaries([], user) == {}


def test_team_list_cache_sees_every_kind_of_change(api, user, other_user, settings):
    """The cached /api/teams list is retired by team, bot, group and user changes."""
    from accounts.models import Group, GroupMember
    from kinds.models import Kind
    from kinds.tests.factories import team_doc

    settings.LIST_CACHE_SECONDS = 60
    assert api.get("/api/teams?scope=all").json()["total"] == 0
    api.post(
        "/api/v1/namespaces/default/ghosts",
        {"kind": "Ghost", "metadata": {"name": "g"}, "spec": {"systemPrompt": "p"}},
        format="json",
    )
    api.post(
        "/api/v1/namespaces/default/shells",
        {"kind": "Shell", "metadata": {"name": "s"}, "spec": {"shellType": "Chat"}},
        format="json",
    )
    api.post(
        "/api/v1/namespaces/default/bots",
        {
            "kind": "Bot",
            "metadata": {"name": "b"},
            "spec": {"ghostRef": {"name": "g"}, "shellRef": {"name": "s"}},
        },
        format="json",
    )
    api.post("/api/v1/namespaces/default/teams", team_doc("t1", ["b"]), format="json")
    listing = api.get("/api/teams?scope=all").json()
    assert [t["name"] for t in listing["items"]] == ["t1"]
    # A rename through the Kind row is seen at once.
    row = Kind.objects.get(kind="Team", name="t1")
    row.document = {**row.document, "spec": {**row.spec, "description": "changed"}}
    row.save()
    assert api.get("/api/teams?scope=all").json()["items"][0]["description"] == "changed"
    # Joining a group shows its teams; the owner's new name shows at once too.
    group = Group.objects.create(name="g1", owner=other_user)
    GroupMember.objects.create(group=group, user=other_user, role="Owner")
    Kind.objects.create(
        owner=other_user,
        kind="Team",
        namespace="g1",
        name="gt",
        document={
            "kind": "Team",
            "metadata": {"name": "gt"},
            "spec": {"members": [], "collaborationModel": "solo"},
        },
    )
    assert {t["name"] for t in api.get("/api/teams?scope=all").json()["items"]} == {"t1"}
    GroupMember.objects.create(group=group, user=user, role="Reporter")
    assert {t["name"] for t in api.get("/api/teams?scope=all").json()["items"]} == {"t1", "gt"}
    user.user_name = "alice2"
    user.save()
    from accounts.services.tokens import issue_access_token

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_access_token(user)}")
    names = {t["name"]: t["user"]["user_name"] for t in api.get("/api/teams?scope=all").json()["items"]}
    assert names["t1"] == "alice2"


def test_null_bot_items_are_a_422_and_change_nothing(api, user, public_parts):
    # The list may be null; its items may not (they were read as dicts: a 500, found by the fuzzer).
    bot = create(api, "nb")
    team = create_team(api, "nt", [bot["id"]])
    url = f"{BASE}/{team['id']}"
    before = api.get(url).json()
    assert_validation_error(api.put(url, {"bots": [None]}, format="json"), "bots")
    assert_validation_error(api.post(BASE, team_body("nt2", []) | {"bots": [None]}, format="json"), "bots")
    assert api.get(url).json() == before
