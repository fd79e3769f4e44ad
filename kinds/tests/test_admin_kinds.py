"""``/api/admin/public-*`` and ``/api/admin/users/.../kinds`` (acting as another user)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.roles import GroupRole
from kinds import secrets
from kinds.adapters.admin import total_public_models
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, model_doc, shell_doc, team_doc
from kinds.tests.test_legacy_shells import make_group
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

SECRET = "sk-admin-secret-key-0042"
RETRIEVER_PASSWORD = "es-password-very-secret"
ITEM_KEYS = {"id", "name", "namespace", "display_name", "json", "is_active", "created_at", "updated_at"}


def retriever_doc(name: str) -> dict[str, Any]:
    return {
        "kind": "Retriever",
        "metadata": {"name": name},
        "spec": {
            "storageConfig": {
                "type": "elasticsearch",
                "url": "http://127.0.0.1:9200",
                "username": "elastic",
                "password": RETRIEVER_PASSWORD,
                "indexStrategy": {"mode": "per_dataset"},
            },
            "description": "search",
        },
    }


def public_model(make_kind, admin, name: str, display: str | None = None):  # type: ignore[no-untyped-def]
    document = model_doc(name, SECRET)
    if display:
        document["metadata"]["displayName"] = display
    return make_kind(admin, document, public=True)


# --- public resources ----------------------------------------------------------------------------


def test_public_models_list(admin_api, admin_user, user, make_kind):
    public_model(make_kind, admin_user, "zeta", "Alpha model")
    public_model(make_kind, admin_user, "beta")
    public_model(make_kind, admin_user, "same", "same")
    make_kind(user, model_doc("alices", SECRET))

    response = admin_api.get("/api/admin/public-models?page=1&limit=100")  # as the setup wizard calls it
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert [(i["name"], i["display_name"]) for i in body["items"]] == [
        ("zeta", "Alpha model"),
        ("beta", None),
        ("same", None),  # a display name equal to the name is not repeated
    ]
    item = body["items"][0]
    assert set(item) == ITEM_KEYS
    assert item["namespace"] == "default"
    assert item["json"]["kind"] == "Model"
    assert item["json"]["spec"]["modelConfig"]["env"]["api_key"] == "****0042"
    assert SECRET not in response.content.decode()

    second = admin_api.get("/api/admin/public-models?page=2&limit=2").json()
    assert (second["total"], [i["name"] for i in second["items"]]) == (3, ["same"])
    assert admin_api.get("/api/admin/public-models?limit=1000").status_code == 200
    assert_validation_error(admin_api.get("/api/admin/public-models?limit=1001"), "limit")
    assert_validation_error(admin_api.get("/api/admin/public-models?page=0"), "page")


@pytest.mark.parametrize("suffix", ["models", "teams", "bots", "ghosts", "shells", "retrievers"])
def test_public_routes_need_admin(api, anon_client, admin_user, make_kind, suffix):
    ghost = make_kind(admin_user, ghost_doc("pg"), public=True)
    assert anon_client.get(f"/api/admin/public-{suffix}").status_code == 401
    denied = api.get(f"/api/admin/public-{suffix}")
    assert denied.status_code == 403
    assert denied.json() == {"detail": "Permission denied. Admin access required."}
    body = {"name": "x", "json": ghost_doc("x")}
    assert api.post(f"/api/admin/public-{suffix}", body, format="json").status_code == 403
    assert (
        api.put(
            f"/api/admin/public-{suffix}/{ghost.pk}", {"json": ghost_doc("pg")}, format="json"
        ).status_code
        == 403
    )
    assert api.delete(f"/api/admin/public-{suffix}/{ghost.pk}").status_code == 403
    assert anon_client.delete(f"/api/admin/public-{suffix}/{ghost.pk}").status_code == 401
    assert Kind.objects.filter(pk=ghost.pk).exists()
    assert not Kind.objects.filter(name="x").exists()


def _public_fixtures(make_kind, admin) -> None:  # type: ignore[no-untyped-def]
    """What public bots and teams refer to."""
    make_kind(admin, ghost_doc("base-ghost"), public=True)
    make_kind(admin, shell_doc("base-shell"), public=True)
    make_kind(admin, bot_doc("base-bot", "base-ghost", "base-shell"), public=True)


CASES = {
    "models": (model_doc("made", SECRET), ("spec", "protocol"), "anthropic"),
    "ghosts": (ghost_doc("made"), ("spec", "systemPrompt"), "Be brief."),
    "shells": (shell_doc("made"), ("spec", "shellType"), "Agno"),
    "bots": (
        bot_doc("made", "base-ghost", "base-shell"),
        ("spec", "modelRef"),
        {"name": "m", "namespace": "default"},
    ),
    "teams": (team_doc("made", ["base-bot"]), ("spec", "description"), "changed"),
    "retrievers": (retriever_doc("made"), ("spec", "description"), "changed"),
}


@pytest.mark.parametrize("suffix", list(CASES))
def test_public_crud_round_trip(admin_api, admin_user, api, make_kind, suffix):
    _public_fixtures(make_kind, admin_user)
    document, (part, field), new_value = CASES[suffix]
    created = admin_api.post(f"/api/admin/public-{suffix}", {"name": "made", "json": document}, format="json")
    assert created.status_code == 201, created.content
    item = created.json()
    row = Kind.objects.get(pk=item["id"])
    assert (row.owner_id, row.namespace, row.name) == (None, "default", "made")
    assert item["json"]["metadata"]["name"] == "made"
    assert SECRET not in created.content.decode() and RETRIEVER_PASSWORD not in created.content.decode()
    listed = admin_api.get(f"/api/admin/public-{suffix}").json()
    assert item["id"] in [i["id"] for i in listed["items"]]

    changed = {**item["json"], part: {**item["json"][part], field: new_value}}
    updated = admin_api.put(f"/api/admin/public-{suffix}/{row.pk}", {"json": changed}, format="json")
    assert updated.status_code == 200, updated.content
    assert updated.json()["json"][part][field] == new_value
    assert updated.json()["json"]["metadata"]["resourceVersion"] == "2"
    row.refresh_from_db()
    assert row.document[part][field] == new_value
    if suffix == "models":  # the masked key sent back kept the stored one
        assert secrets.revealed("Model", row.document)["spec"]["modelConfig"]["env"]["api_key"] == SECRET
    if suffix == "retrievers":
        storage = secrets.revealed("Retriever", row.document)["spec"]["storageConfig"]
        assert storage["password"] == RETRIEVER_PASSWORD

    deleted = admin_api.delete(f"/api/admin/public-{suffix}/{row.pk}")
    assert deleted.status_code == 204
    assert not Kind.objects.filter(pk=row.pk).exists()
    assert admin_api.delete(f"/api/admin/public-{suffix}/{row.pk}").status_code == 404


def test_public_create_errors(admin_api, admin_user, make_kind):
    public_model(make_kind, admin_user, "taken")
    duplicate = admin_api.post(
        "/api/admin/public-models", {"name": "taken", "json": model_doc("taken")}, format="json"
    )
    assert duplicate.status_code == 400
    assert duplicate.json() == {"detail": "Public model 'taken' already exists in namespace 'default'"}
    moved = admin_api.post(
        "/api/admin/public-ghosts", {"name": "g", "namespace": "team", "json": ghost_doc("g")}, format="json"
    )
    assert moved.status_code == 400
    invalid = admin_api.post("/api/admin/public-ghosts", {"name": "g", "json": {"spec": {}}}, format="json")
    assert invalid.status_code == 400
    assert invalid.json()["detail"].startswith("Invalid Ghost resource")
    wrong_kind = admin_api.post(
        "/api/admin/public-ghosts", {"name": "g", "json": shell_doc("g")}, format="json"
    )
    assert wrong_kind.status_code == 400
    assert_validation_error(admin_api.post("/api/admin/public-ghosts", {"name": "g"}, format="json"), "json")
    assert_validation_error(admin_api.post("/api/admin/public-ghosts", ["x"], format="json"))
    # A public bot may only use public ghosts and shells.
    missing = admin_api.post(
        "/api/admin/public-bots", {"name": "b", "json": bot_doc("b", "nope", "nope")}, format="json"
    )
    assert missing.status_code == 404
    assert not Kind.objects.filter(name__in=["g", "b"]).exists()


def test_public_update_errors(admin_api, admin_user, user, make_kind):
    row = make_kind(admin_user, ghost_doc("pg"), public=True)
    own = make_kind(user, ghost_doc("alices"))
    not_found = admin_api.put(f"/api/admin/public-ghosts/{own.pk}", {"json": ghost_doc("x")}, format="json")
    assert not_found.status_code == 404
    assert not_found.json() == {"detail": f"Public ghost with id {own.pk} not found"}
    assert (
        admin_api.put("/api/admin/public-ghosts/99999999999999999999", {}, format="json").status_code == 404
    )
    # A model id is not a ghost id.
    model = public_model(make_kind, admin_user, "pm")
    assert admin_api.delete(f"/api/admin/public-ghosts/{model.pk}").status_code == 404
    assert (
        admin_api.put(f"/api/admin/public-ghosts/{row.pk}", {"namespace": "x"}, format="json").status_code
        == 400
    )
    stale = {**ghost_doc("pg"), "metadata": {"name": "pg", "resourceVersion": "7"}}
    assert (
        admin_api.put(f"/api/admin/public-ghosts/{row.pk}", {"json": stale}, format="json").status_code == 409
    )
    assert_validation_error(
        admin_api.put(f"/api/admin/public-ghosts/{row.pk}", {"json": "x"}, format="json"), "json"
    )

    renamed = admin_api.put(f"/api/admin/public-ghosts/{row.pk}", {"name": "pg-2"}, format="json")
    assert renamed.status_code == 200
    assert (renamed.json()["id"], renamed.json()["name"]) == (row.pk, "pg-2")
    assert Kind.objects.get(pk=row.pk).document["metadata"]["name"] == "pg-2"
    assert own.name == Kind.objects.get(pk=own.pk).name


def test_public_delete_refused_while_referenced(admin_api, admin_user, make_kind):
    _public_fixtures(make_kind, admin_user)
    ghost = Kind.objects.get(name="base-ghost")
    response = admin_api.delete(f"/api/admin/public-ghosts/{ghost.pk}")
    assert response.status_code == 409
    assert response.json()["referrers"] == [{"kind": "Bot", "namespace": "default", "name": "base-bot"}]
    assert Kind.objects.filter(pk=ghost.pk).exists()


def test_public_teams_description_and_chat_only(admin_api, admin_user, make_kind):
    _public_fixtures(make_kind, admin_user)
    chat = team_doc("chat-team", ["base-bot"])
    code = team_doc("code-team", ["base-bot"])
    code["spec"]["bind_mode"] = ["code"]
    make_kind(admin_user, chat, public=True)
    make_kind(admin_user, code, public=True)
    everything = admin_api.get("/api/admin/public-teams").json()
    assert {i["name"]: i["description"] for i in everything["items"]} == {
        "chat-team": "chat-team team",
        "code-team": "code-team team",
    }
    chat_only = admin_api.get("/api/admin/public-teams?chat_only=true").json()
    assert (chat_only["total"], [i["name"] for i in chat_only["items"]]) == (1, ["chat-team"])


def test_public_retrievers_shape_and_bare_document(admin_api):
    created = admin_api.post("/api/admin/public-retrievers", retriever_doc("es"), format="json")
    assert created.status_code == 201, created.content
    item = created.json()
    assert set(item) == {*ITEM_KEYS, "storageType", "description"}
    assert (item["storageType"], item["description"]) == ("elasticsearch", "search")
    assert item["json"]["spec"]["storageConfig"]["password"].startswith("****")
    listed = admin_api.get("/api/admin/public-retrievers")
    assert RETRIEVER_PASSWORD not in listed.content.decode()
    row = Kind.objects.get(name="es")
    assert row.owner_id is None
    assert row.document["spec"]["storageConfig"]["password"] != RETRIEVER_PASSWORD  # encrypted at rest


def test_total_public_models_counter(admin_user, user, make_kind):
    assert total_public_models() == 0
    public_model(make_kind, admin_user, "a")
    public_model(make_kind, admin_user, "b")
    make_kind(user, model_doc("own"))
    assert total_public_models() == 2


# --- Kind management acting as another user ----------------------------------------------------------


def test_admin_manages_a_users_kinds(admin_api, api, user, other_user, make_kind):
    base = f"/api/admin/users/{user.pk}/kinds/ghosts"
    created = admin_api.post(base, ghost_doc("from-admin"), format="json")
    assert created.status_code == 201, created.content
    row = Kind.objects.get(name="from-admin")
    assert (row.owner, row.namespace) == (user, "default")
    # Alice sees it as her own through the Kind API; Bob does not.
    assert api.get("/api/v1/namespaces/default/ghosts/from-admin").status_code == 200
    make_kind(other_user, ghost_doc("bobs"))

    listing = admin_api.get(base)
    assert listing.status_code == 200
    assert listing.json()["kind"] == "GhostList"
    assert [i["metadata"]["name"] for i in listing.json()["items"]] == ["from-admin"]
    by_name = admin_api.get(f"/api/admin/users/username/{user.user_name}/kinds/ghosts")
    assert by_name.json() == listing.json()
    one = admin_api.get(f"{base}/from-admin")
    assert one.json()["spec"]["systemPrompt"] == "You are helpful."
    assert admin_api.get("/api/admin/users/username/alice/kinds/ghosts/from-admin").json() == one.json()
    missing = admin_api.get(f"{base}/bobs")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Ghost resource 'bobs' not found in namespace 'default'"}

    updated = admin_api.put(f"{base}/from-admin", ghost_doc("from-admin", "Be terse."), format="json")
    assert updated.status_code == 200
    assert Kind.objects.get(pk=row.pk).spec["systemPrompt"] == "Be terse."
    deleted = admin_api.delete(f"{base}/from-admin")
    assert deleted.status_code == 204
    assert not Kind.objects.filter(pk=row.pk).exists()
    assert admin_api.delete(f"{base}/from-admin").status_code == 404


def test_admin_kind_secrets_are_masked(admin_api, user):
    response = admin_api.post(
        f"/api/admin/users/{user.pk}/kinds/models", model_doc("m", SECRET), format="json"
    )
    assert response.status_code == 201
    listing = admin_api.get(f"/api/admin/users/{user.pk}/kinds/models")
    for shown in (response, listing, admin_api.get(f"/api/admin/users/{user.pk}/kinds/models/m")):
        assert SECRET not in shown.content.decode()


def test_admin_kind_errors(admin_api, api, anon_client, user):
    assert admin_api.get("/api/admin/users/999999/kinds/ghosts").json() == {"detail": "User not found"}
    assert admin_api.get("/api/admin/users/99999999999999999999/kinds/ghosts").status_code == 404
    assert admin_api.get("/api/admin/users/username/nobody/kinds/ghosts").status_code == 404
    assert (
        admin_api.post("/api/admin/users/999999/kinds/ghosts", ghost_doc("g"), format="json").status_code
        == 404
    )
    unknown = admin_api.get(f"/api/admin/users/{user.pk}/kinds/widgets")
    assert unknown.status_code == 400
    assert unknown.json()["detail"].startswith("Invalid resource type: widgets")
    invalid = admin_api.post(
        f"/api/admin/users/{user.pk}/kinds/ghosts", {"metadata": {"name": "g"}}, format="json"
    )
    assert invalid.status_code == 400
    assert_validation_error(admin_api.get(f"/api/admin/users/{user.pk}/kinds/ghosts?namespace={'x' * 200}"))
    # Not for non-admins, including the user themselves.
    assert api.get(f"/api/admin/users/{user.pk}/kinds/ghosts").status_code == 403
    assert (
        api.post(f"/api/admin/users/{user.pk}/kinds/ghosts", ghost_doc("g"), format="json").status_code == 403
    )
    assert (
        api.post(f"/api/admin/users/{user.pk}/kinds/batch/apply", [ghost_doc("g")], format="json").status_code
        == 403
    )
    assert api.get("/api/admin/users/username/alice/kinds/ghosts").status_code == 403
    assert anon_client.get(f"/api/admin/users/{user.pk}/kinds/ghosts").status_code == 401
    assert not Kind.objects.filter(name="g").exists()
    # The username variants are read-only.
    assert (
        admin_api.post(
            "/api/admin/users/username/alice/kinds/ghosts", ghost_doc("g"), format="json"
        ).status_code
        == 405
    )


def test_admin_batch_apply_and_delete_as_user(admin_api, user):
    items = [bot_doc("b", "g", "s"), ghost_doc("g"), shell_doc("s")]
    applied = admin_api.post(f"/api/admin/users/{user.pk}/kinds/batch/apply", items, format="json")
    assert applied.status_code == 200, applied.content
    assert applied.json()["success"] is True
    assert {(r["kind"], r["operation"]) for r in applied.json()["results"]} == {
        ("Ghost", "created"),
        ("Shell", "created"),
        ("Bot", "created"),
    }
    assert set(Kind.objects.filter(owner=user).values_list("name", flat=True)) == {"b", "g", "s"}

    dry = admin_api.post(f"/api/admin/users/{user.pk}/kinds/batch/delete?dryRun=true", items, format="json")
    assert dry.json()["dryRun"] is True
    assert Kind.objects.filter(owner=user).count() == 3
    deleted = admin_api.post(f"/api/admin/users/{user.pk}/kinds/batch/delete", items, format="json")
    assert deleted.json()["success"] is True
    assert not Kind.objects.filter(owner=user).exists()
    assert (
        admin_api.post(f"/api/admin/users/{user.pk}/kinds/batch/apply", [], format="json").status_code == 400
    )
    assert_validation_error(
        admin_api.post(f"/api/admin/users/{user.pk}/kinds/batch/apply", {"a": 1}, format="json")
    )
    assert (
        admin_api.post("/api/admin/users/999999/kinds/batch/apply", items, format="json").status_code == 404
    )


@pytest.mark.parametrize(
    ("role", "status"), [(GroupRole.DEVELOPER, 201), (GroupRole.REPORTER, 404), (None, 404)]
)
def test_admin_acts_with_the_users_group_role(admin_api, user, make_user, role, status):
    make_group(make_user, "crew", {user: role} if role else {})
    response = admin_api.post(
        f"/api/admin/users/{user.pk}/kinds/ghosts?namespace=crew", ghost_doc("g"), format="json"
    )
    assert response.status_code == status, response.content
    if status == 201:
        row = Kind.objects.get(name="g")
        assert (row.owner, row.namespace) == (user, "crew")
        listed = admin_api.get(f"/api/admin/users/{user.pk}/kinds/ghosts?namespace=crew").json()
        assert [i["metadata"]["name"] for i in listed["items"]] == ["g"]
    else:
        assert not Kind.objects.filter(name="g").exists()
