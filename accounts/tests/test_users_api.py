"""/api/users: profile, git credentials, preferences, boot-time reads, search and admin create."""

from __future__ import annotations

import json
import uuid

import pytest

from accounts import hooks
from accounts.models import User
from accounts.roles import SystemRole
from accounts.services import system_config
from accounts.services.users import USER_EXISTS
from accounts.tests.factories import PASSWORD
from wegent import crypto
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

GITHUB_TOKEN = "ghp_plaintextTOKEN1234567890"
GITLAB_TOKEN = "glpat-anotherSECRET-0987654321"

USER_IN_DB_FIELDS = {
    "id",
    "user_name",
    "email",
    "is_active",
    "git_info",
    "preferences",
    "role",
    "auth_source",
    "created_at",
    "updated_at",
}


def github(token: str = GITHUB_TOKEN, **fields) -> dict:
    return {"git_domain": "github.com", "git_token": token, "type": "github", **fields}


def put_me(api, body: dict):
    return api.put("/api/users/me", body, format="json")


def stored_git(user: User) -> list[dict]:
    user.refresh_from_db()
    return user.git_info


# --- authentication on every route ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/users/me"),
        ("put", "/api/users/me"),
        ("delete", "/api/users/me/git-token/github.com"),
        ("get", "/api/users/me/pet"),
        ("get", "/api/users/features"),
        ("get", "/api/users/quick-access"),
        ("get", "/api/users/welcome-config"),
        ("get", "/api/users/default-teams"),
        ("get", "/api/users/search?q=a"),
        ("post", "/api/users"),
    ],
)
def test_every_route_requires_credentials(anon_client, user, method, url):
    response = getattr(anon_client, method)(url, {}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    bad = getattr(anon_client, method)(url, {}, format="json", HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert bad.status_code == 401


# --- GET /users/me --------------------------------------------------------------------------


def test_me_returns_user_in_db_with_masked_tokens(api, user):
    user.git_info = [
        {"id": "g1", "git_domain": "github.com", "git_token": crypto.encrypt(GITHUB_TOKEN), "type": "github"}
    ]
    user.preferences = {"send_key": "cmd_enter", "quick_access": {"version": 1, "teams": [1]}}
    user.save()
    response = api.get("/api/users/me")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == USER_IN_DB_FIELDS
    assert body["user_name"] == "alice" and body["id"] == user.id and body["role"] == "user"
    assert body["preferences"] == {"send_key": "cmd_enter"}
    assert body["git_info"][0]["git_token"] == crypto.mask(GITHUB_TOKEN)
    assert crypto.is_mask(body["git_info"][0]["git_token"])
    assert GITHUB_TOKEN not in response.content.decode()


def test_me_with_empty_preferences_is_null(api):
    body = api.get("/api/users/me").json()
    assert body["preferences"] is None
    assert body["git_info"] == []


# --- PUT /users/me: plain fields ------------------------------------------------------------


def test_update_email_and_password(api, user):
    response = put_me(api, {"email": "new@example.org", "password": "brand-new-pw"})
    assert response.status_code == 200
    assert response.json()["email"] == "new@example.org"
    user.refresh_from_db()
    assert user.email == "new@example.org"
    assert user.check_password("brand-new-pw")
    assert not user.check_password(PASSWORD)


def test_empty_update_changes_nothing(api, user):
    before = user.updated_at
    response = put_me(api, {})
    assert response.status_code == 200
    assert response.json()["user_name"] == "alice"
    user.refresh_from_db()
    assert user.updated_at == before


def test_rename_returns_user_and_invalidates_the_old_token(api, user, client_for):
    response = put_me(api, {"user_name": "alice2"})
    assert response.status_code == 200
    assert response.json()["user_name"] == "alice2"
    user.refresh_from_db()
    assert user.user_name == "alice2"
    assert api.get("/api/users/me").status_code == 401  # the JWT names "alice"
    assert client_for(user).get("/api/users/me").json()["user_name"] == "alice2"


def test_rename_to_own_name_is_fine(api):
    assert put_me(api, {"user_name": "alice"}).status_code == 200


def test_rename_to_taken_name(api, user, other_user):
    response = put_me(api, {"user_name": "bob", "email": "changed@example.org"})
    assert response.status_code == 400
    assert response.json() == {"detail": USER_EXISTS}
    user.refresh_from_db()
    assert user.user_name == "alice"
    assert user.email == "alice@example.com"  # nothing of the request was written


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_name": "a"}, "user_name"),
        ({"user_name": "x" * 51}, "user_name"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"preferences": {"send_key": "shift_enter"}}, "send_key"),
        ({"preferences": {"search_key": "cmd_x"}}, "search_key"),
        ({"preferences": {"memory_enabled": "maybe"}}, "memory_enabled"),
        ({"preferences": "enter"}, "preferences"),
        ({"git_info": [github(type="bitbucket")]}, "type"),
        ({"git_info": [github(auth_type="token")]}, "auth_type"),
        ({"git_info": [{"git_domain": "github.com", "type": "github"}]}, "git_token"),
        ({"git_info": [{"git_token": "t", "type": "github"}]}, "git_domain"),
        ({"git_info": {"git_domain": "github.com"}}, "git_info"),
    ],
)
def test_update_bad_input_is_422(api, user, body, field):
    assert_validation_error(put_me(api, body), field)
    user.refresh_from_db()
    assert user.user_name == "alice" and user.git_info == [] and user.preferences == {}


def test_update_body_must_be_an_object(api):
    assert_validation_error(api.put("/api/users/me", [1, 2], format="json"))
    response = api.put("/api/users/me", "{broken", content_type="application/json")
    assert_validation_error(response)


# --- PUT /users/me: preferences ---------------------------------------------------------------


def test_preferences_merge_key_by_key_and_drop_unknown_keys(api, user):
    user.preferences = {"send_key": "enter", "quick_access": {"version": 3, "teams": [7]}}
    user.save()
    response = put_me(api, {"preferences": {"search_key": "cmd_f", "theme": "dark", "quick_access": {}}})
    assert response.status_code == 200
    assert response.json()["preferences"] == {"send_key": "enter", "search_key": "cmd_f"}
    user.refresh_from_db()
    assert user.preferences == {
        "send_key": "enter",
        "search_key": "cmd_f",
        "quick_access": {"version": 3, "teams": [7]},
    }
    put_me(api, {"preferences": {"memory_enabled": False, "send_key": "cmd_enter"}})
    user.refresh_from_db()
    assert user.preferences["memory_enabled"] is False
    assert user.preferences["send_key"] == "cmd_enter"
    assert user.preferences["search_key"] == "cmd_f"


def test_null_preferences_leave_them_alone(api, user):
    user.preferences = {"send_key": "cmd_enter"}
    user.save()
    assert put_me(api, {"preferences": None}).status_code == 200
    user.refresh_from_db()
    assert user.preferences == {"send_key": "cmd_enter"}


# --- PUT /users/me: git credentials -------------------------------------------------------------


def test_new_git_entry_is_encrypted_at_rest_and_masked_in_the_response(api, user):
    response = put_me(api, {"git_info": [github(git_login="alice-gh")]})
    assert response.status_code == 200
    assert GITHUB_TOKEN not in response.content.decode()
    entry = response.json()["git_info"][0]
    assert entry["git_token"] == crypto.mask(GITHUB_TOKEN)
    assert entry["git_login"] == "alice-gh"
    uuid.UUID(entry["id"])  # a uuid4 was assigned

    [stored] = stored_git(user)
    assert stored["git_token"] != GITHUB_TOKEN
    assert GITHUB_TOKEN not in json.dumps(stored)
    assert crypto.decrypt(stored["git_token"]) == GITHUB_TOKEN
    assert stored["id"] == entry["id"]
    assert stored["user_name"] is None and stored["auth_type"] is None
    assert GITHUB_TOKEN not in api.get("/api/users/me").content.decode()


def test_email_is_filled_from_the_first_git_entry_only_when_missing(api, user):
    user.email = None
    user.save()
    put_me(api, {"git_info": [github(git_email="gh@example.org")]})
    user.refresh_from_db()
    assert user.email == "gh@example.org"
    put_me(api, {"git_info": [github(GITLAB_TOKEN, git_email="other@example.org")]})
    user.refresh_from_db()
    assert user.email == "gh@example.org"


def test_merge_by_id_replaces_the_token(api, user):
    first = put_me(api, {"git_info": [github()]}).json()["git_info"][0]
    response = put_me(api, {"git_info": [github("ghp_rotatedTOKEN_abcdefgh", id=first["id"])]})
    assert response.status_code == 200
    [stored] = stored_git(user)
    assert stored["id"] == first["id"]
    assert crypto.decrypt(stored["git_token"]) == "ghp_rotatedTOKEN_abcdefgh"


def test_mask_sent_back_keeps_the_stored_token(api, user):
    entry = put_me(api, {"git_info": [github(user_name="al")]}).json()["git_info"][0]
    before = stored_git(user)[0]["git_token"]
    edited = {**entry, "user_name": "alice-renamed", "git_domain": "github.example.com"}
    response = put_me(api, {"git_info": [edited]})
    assert response.status_code == 200
    [stored] = stored_git(user)
    assert stored["git_token"] == before
    assert crypto.decrypt(stored["git_token"]) == GITHUB_TOKEN
    assert stored["user_name"] == "alice-renamed"
    assert stored["git_domain"] == "github.example.com"  # a domain change by id


def test_mask_without_id_matches_the_single_entry_of_that_domain(api, user):
    put_me(
        api, {"git_info": [github(), {**github(GITLAB_TOKEN), "git_domain": "gitlab.com", "type": "gitlab"}]}
    )
    response = put_me(api, {"git_info": [github(crypto.mask(GITHUB_TOKEN), git_login="L")]})
    assert response.status_code == 200
    stored = stored_git(user)
    assert len(stored) == 2
    assert crypto.decrypt(stored[0]["git_token"]) == GITHUB_TOKEN
    assert stored[0]["git_login"] == "L"


def test_mask_that_matches_no_stored_entry_is_refused(api, user):
    response = put_me(api, {"git_info": [github("****1234")]})
    assert response.status_code == 400
    assert "masked git token" in response.json()["detail"]
    assert stored_git(user) == []


def test_merge_by_domain_and_plaintext_token_without_id(api, user):
    first = put_me(api, {"git_info": [github()]}).json()["git_info"][0]
    put_me(api, {"git_info": [github(git_login="same-token")]})
    [stored] = stored_git(user)
    assert stored["id"] == first["id"]
    assert stored["git_login"] == "same-token"

    put_me(api, {"git_info": [github("ghp_secondTOKEN_xyz1234")]})
    stored = stored_git(user)
    assert len(stored) == 2
    assert {crypto.decrypt(e["git_token"]) for e in stored} == {GITHUB_TOKEN, "ghp_secondTOKEN_xyz1234"}
    assert len({e["id"] for e in stored}) == 2


def test_entries_not_mentioned_are_kept(api, user):
    put_me(api, {"git_info": [github()]})
    put_me(api, {"git_info": [{"git_domain": "gitlab.com", "git_token": GITLAB_TOKEN, "type": "gitlab"}]})
    assert [e["git_domain"] for e in stored_git(user)] == ["github.com", "gitlab.com"]
    assert put_me(api, {"git_info": []}).status_code == 200
    assert len(stored_git(user)) == 2


def test_gerrit_needs_a_user_name_and_nothing_is_written(api, user):
    gerrit = {"git_domain": "review.example.com", "git_token": "pw-123456", "type": "gerrit"}
    response = put_me(api, {"user_name": "alice-x", "git_info": [github(), gerrit]})
    assert response.status_code == 400
    assert response.json() == {"detail": "username is required for Gerrit"}
    user.refresh_from_db()
    assert user.user_name == "alice" and user.git_info == []
    ok = put_me(api, {"git_info": [{**gerrit, "user_name": "al", "auth_type": "basic"}]})
    assert ok.status_code == 200
    assert stored_git(user)[0]["auth_type"] == "basic"


# --- DELETE /users/me/git-token/{domain} ------------------------------------------------------


@pytest.fixture
def three_tokens(api, user) -> list[dict]:
    body = {
        "git_info": [
            github(),
            github("ghp_secondTOKEN_xyz1234"),
            {"git_domain": "git.example.com/group", "git_token": GITLAB_TOKEN, "type": "gitlab"},
        ]
    }
    return put_me(api, body).json()["git_info"]


def test_delete_by_id_removes_only_that_entry(api, user, three_tokens):
    target = three_tokens[1]
    response = api.delete(f"/api/users/me/git-token/github.com?git_info_id={target['id']}")
    assert response.status_code == 200
    assert [e["id"] for e in response.json()["git_info"]] == [three_tokens[0]["id"], three_tokens[2]["id"]]
    assert [e["id"] for e in stored_git(user)] == [three_tokens[0]["id"], three_tokens[2]["id"]]


def test_delete_by_domain_removes_all_its_entries(api, user, three_tokens):
    response = api.delete("/api/users/me/git-token/github.com")
    assert response.status_code == 200
    assert [e["git_domain"] for e in stored_git(user)] == ["git.example.com/group"]
    nested = api.delete("/api/users/me/git-token/git.example.com/group")
    assert nested.status_code == 200
    assert nested.json()["git_info"] == [] and stored_git(user) == []


def test_delete_with_nothing_matching_is_404(api, user, three_tokens):
    for url in ("/api/users/me/git-token/gitee.com", "/api/users/me/git-token/github.com?git_info_id=nope"):
        response = api.delete(url)
        assert response.status_code == 404
        assert response.json() == {"detail": "Git token not found"}
    assert len(stored_git(user)) == 3


def test_delete_touches_only_the_callers_tokens(client_for, user, other_user):
    client_for(other_user).put("/api/users/me", {"git_info": [github()]}, format="json")
    bobs_id = stored_git(other_user)[0]["id"]
    response = client_for(user).delete(f"/api/users/me/git-token/github.com?git_info_id={bobs_id}")
    assert response.status_code == 404
    assert len(stored_git(other_user)) == 1


# --- GET /users/features, /users/me/pet -------------------------------------------------------


@pytest.mark.parametrize("enabled", [True, False])
def test_features(api, settings, enabled):
    settings.MEMORY_ENABLED = enabled
    response = api.get("/api/users/features")
    assert response.status_code == 200
    assert response.json() == {"memory_enabled": enabled}


def test_pet_is_a_hidden_newborn(api, user):
    response = api.get("/api/users/me/pet")
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == user.id
    assert body["is_visible"] is False
    assert body["stage"] == 1 and body["experience"] == 0
    assert set(body["appearance_traits"]) == {
        "primary_domain",
        "secondary_domain",
        "color_tone",
        "accessories",
    }
    assert body["svg_seed"] == api.get("/api/users/me/pet").json()["svg_seed"]


# --- GET /users/quick-access ----------------------------------------------------------------------


@pytest.fixture
def team_provider():
    """A stand-in for the kinds app: teams 1, 2, 3 exist; 2 has no mode; others are unknown."""
    calls: list[tuple[list[int], str]] = []
    teams = {
        1: {"name": "chat-team", "agent_type": "chat", "recommended_mode": "chat"},
        2: {"name": "plain-team", "agent_type": None},
        3: {"name": "code-team", "agent_type": "claude", "recommended_mode": "code", "extra": 1},
    }

    def provider(ids: list[int], actor: User) -> dict[int, dict]:
        calls.append((list(ids), actor.user_name))
        return {team_id: teams[team_id] for team_id in ids if team_id in teams}

    with hooks.team_summaries.registered(provider):
        yield calls


def test_quick_access_without_config_or_provider(api):
    response = api.get("/api/users/quick-access")
    assert response.status_code == 200
    assert response.json() == {
        "system_version": 0,
        "user_version": None,
        "show_system_recommended": True,
        "teams": [],
    }


def test_quick_access_without_provider_lists_nothing(api, admin_user):
    system_config.set_value(system_config.QUICK_ACCESS_RECOMMENDED, {"teams": [1, 2]}, actor=admin_user)
    body = api.get("/api/users/quick-access").json()
    assert body["system_version"] == 1 and body["teams"] == []


def test_quick_access_system_first_while_the_user_list_is_older(api, user, admin_user, team_provider):
    system_config.set_value(system_config.QUICK_ACCESS_RECOMMENDED, {"teams": [9]}, actor=admin_user)
    system_config.set_value(system_config.QUICK_ACCESS_RECOMMENDED, {"teams": [1, 2, 99]}, actor=admin_user)
    user.preferences = {"quick_access": {"version": 1, "teams": [3, 1]}}
    user.save()
    body = api.get("/api/users/quick-access").json()
    assert body["system_version"] == 2
    assert body["user_version"] == 1
    assert body["show_system_recommended"] is True
    assert body["teams"] == [
        {"id": 1, "name": "chat-team", "is_system": True, "recommended_mode": "chat", "agent_type": "chat"},
        {"id": 2, "name": "plain-team", "is_system": True, "recommended_mode": "both", "agent_type": None},
        {
            "id": 3,
            "name": "code-team",
            "is_system": False,
            "recommended_mode": "code",
            "agent_type": "claude",
        },
    ]
    assert team_provider == [([1, 2, 99, 3], "alice")]


def test_quick_access_user_list_only_once_it_is_current(api, user, admin_user, team_provider):
    system_config.set_value(system_config.QUICK_ACCESS_RECOMMENDED, {"teams": [1, 2]}, actor=admin_user)
    user.preferences = {"quick_access": {"version": 1, "teams": [3, 2, 42]}}
    user.save()
    body = api.get("/api/users/quick-access").json()
    assert body["show_system_recommended"] is False
    assert [(t["id"], t["is_system"]) for t in body["teams"]] == [(3, False), (2, False)]


def test_quick_access_with_no_user_version_shows_system_items(api, user, admin_user, team_provider):
    system_config.set_value(system_config.QUICK_ACCESS_RECOMMENDED, {"teams": [2]}, actor=admin_user)
    user.preferences = {"quick_access": {"teams": [2, 1]}}
    user.save()
    body = api.get("/api/users/quick-access").json()
    assert body["user_version"] is None and body["show_system_recommended"] is True
    assert [(t["id"], t["is_system"]) for t in body["teams"]] == [(2, True), (1, False)]


def test_quick_access_ignores_malformed_stored_values(api, user, admin_user, team_provider):
    system_config.set_value(system_config.QUICK_ACCESS_RECOMMENDED, {"teams": "1,2"}, actor=admin_user)
    user.preferences = {"quick_access": {"version": "new", "teams": [1, "2", None, True]}}
    user.save()
    response = api.get("/api/users/quick-access")
    assert response.status_code == 200
    body = response.json()
    assert body["user_version"] is None
    assert [t["id"] for t in body["teams"]] == [1]


# --- GET /users/welcome-config ----------------------------------------------------------------------


def test_welcome_config_defaults_for_a_user(api):
    response = api.get("/api/users/welcome-config")
    assert response.status_code == 200
    body = response.json()
    assert body["admin_setup_completed"] is None
    assert {s["mode"] for s in body["slogans"]} == {"chat", "code"}
    assert len(body["tips"]) >= 3
    for item in body["slogans"] + body["tips"]:
        assert set(item) == {"id", "zh", "en", "mode"}
        assert item["zh"] and item["en"]


def test_welcome_config_tells_admins_whether_setup_is_done(admin_api, admin_user):
    assert admin_api.get("/api/users/welcome-config").json()["admin_setup_completed"] is False
    system_config.mark_admin_setup_completed(actor=admin_user)
    assert admin_api.get("/api/users/welcome-config").json()["admin_setup_completed"] is True


def test_welcome_config_from_the_stored_row(api, admin_user):
    slogans = [
        {"id": 7, "zh": "你好", "en": "Hello", "mode": "chat"},
        {"id": 8, "en": "No mode"},
        "junk",
        {"zh": "no id"},
    ]
    system_config.set_value(system_config.CHAT_SLOGAN_TIPS, {"slogans": slogans}, actor=admin_user)
    body = api.get("/api/users/welcome-config").json()
    assert body["slogans"] == [
        {"id": 7, "zh": "你好", "en": "Hello", "mode": "chat"},
        {"id": 8, "zh": "", "en": "No mode", "mode": "both"},
    ]
    assert len(body["tips"]) >= 3  # defaults fill the part the row does not set


# --- GET /users/default-teams -------------------------------------------------------------------------


def test_default_teams_parse_name_and_namespace(api, settings):
    settings.DEFAULT_TEAM_CHAT = "wegent-chat#default"
    settings.DEFAULT_TEAM_CODE = ""
    settings.DEFAULT_TEAM_KNOWLEDGE = "notebook"
    settings.DEFAULT_TEAM_TASK = " worker # team-a "
    response = api.get("/api/users/default-teams")
    assert response.status_code == 200
    assert response.json() == {
        "chat": {"name": "wegent-chat", "namespace": "default"},
        "code": None,
        "knowledge": {"name": "notebook", "namespace": "default"},
        "task": {"name": "worker", "namespace": "team-a"},
    }


def test_default_teams_with_blank_name_is_null(api, settings):
    settings.DEFAULT_TEAM_CHAT = "#ns"
    settings.DEFAULT_TEAM_TASK = "   "
    body = api.get("/api/users/default-teams").json()
    assert body["chat"] is None and body["task"] is None


# --- GET /users/search ----------------------------------------------------------------------------------


@pytest.fixture
def people(make_user, user):
    make_user("carol", email="CAROL@Example.org")
    make_user("dave", email="d@example.org", is_active=False)
    make_user("malory", email=None)
    return user


def test_search_is_case_insensitive_and_excludes_caller_and_inactive(api, people):
    response = api.get("/api/users/search?q=A")
    assert response.status_code == 200
    body = response.json()
    names = [u["user_name"] for u in body["users"]]
    assert names == ["carol", "malory"]
    assert body["total"] == 2
    assert body["users"][0] == {
        "id": User.objects.get(user_name="carol").id,
        "user_name": "carol",
        "email": "CAROL@Example.org",
    }
    by_email = api.get("/api/users/search?q=example.ORG").json()
    assert [u["user_name"] for u in by_email["users"]] == ["carol"]


def test_search_respects_limit(api, people, make_user):
    for index in range(5):
        make_user(f"zed{index}")
    body = api.get("/api/users/search?q=zed&limit=3").json()
    assert body["total"] == 3
    assert [u["user_name"] for u in body["users"]] == ["zed0", "zed1", "zed2"]


@pytest.mark.parametrize("query", ["", "?q=", "?q=a&limit=0", "?q=a&limit=101", "?q=a&limit=x"])
def test_search_bad_query_is_422(api, query):
    response = api.get(f"/api/users/search{query}")
    assert_validation_error(response)
    assert response.json()["errors"][0]["loc"][0] == "query"


# --- POST /users (admin) --------------------------------------------------------------------------------


def test_admin_creates_a_user_with_the_name_as_default_password(admin_api):
    response = admin_api.post("/api/users", {"user_name": "newbie"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == USER_IN_DB_FIELDS
    assert body["user_name"] == "newbie" and body["role"] == "user" and body["email"] is None
    created = User.objects.get(user_name="newbie")
    assert created.check_password("newbie")


def test_admin_creates_an_admin_with_password_and_email(admin_api):
    body = {"user_name": "boss", "password": "pw-boss-1", "email": "boss@example.org", "role": "admin"}
    response = admin_api.post("/api/users", body, format="json")
    assert response.status_code == 201
    created = User.objects.get(user_name="boss")
    assert created.role == SystemRole.ADMIN and created.email == "boss@example.org"
    assert created.check_password("pw-boss-1")


def test_create_duplicate_user_is_400(admin_api, user):
    response = admin_api.post("/api/users", {"user_name": "alice"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": USER_EXISTS}
    assert User.objects.filter(user_name="alice").count() == 1


def test_non_admin_cannot_create_users(api):
    response = api.post("/api/users", {"user_name": "sneaky"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Permission denied. Admin access required."}
    assert not User.objects.filter(user_name="sneaky").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user_name"),
        ({"user_name": "x"}, "user_name"),
        ({"user_name": "x" * 51}, "user_name"),
        ({"user_name": "okname", "email": "nope"}, "email"),
        ({"user_name": "okname", "role": "root"}, "role"),
    ],
)
def test_create_bad_input_is_422(admin_api, body, field):
    assert_validation_error(admin_api.post("/api/users", body, format="json"), field)
    assert not User.objects.filter(user_name="okname").exists()


def test_null_git_info_items_are_a_422_and_change_nothing(api, user):
    # The list may be null; its items may not (they were read as dicts: a 500, found by the fuzzer).
    put_me(api, {"git_info": [github()]})
    before = stored_git(User.objects.get(pk=user.pk))
    assert_validation_error(put_me(api, {"git_info": [None]}), "git_info")
    assert_validation_error(put_me(api, {"git_info": [github(), None]}), "git_info")
    assert stored_git(User.objects.get(pk=user.pk)) == before
    assert put_me(api, {"git_info": None}).status_code == 200
