"""Deactivating public resources (``PUT /api/admin/public-*/{id}`` with ``is_active: false``).

A deactivated public row is not deleted: admins still list it (``is_active: false``), users no
longer see it in their lists and pickers and cannot newly choose it, and whatever already uses it
(bots, tasks and their messages) keeps working. Re-activating restores it.
"""

from __future__ import annotations

import pytest

from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, model_doc, shell_doc, team_doc

pytestmark = pytest.mark.django_db

BOTS = "/api/v1/namespaces/default/bots"


def _switch(admin_api, suffix: str, row: Kind, active: bool):  # type: ignore[no-untyped-def]
    response = admin_api.put(f"/api/admin/public-{suffix}/{row.pk}", {"is_active": active}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is active
    return response


def _admin_listed(admin_api, suffix: str, row: Kind) -> bool:  # type: ignore[no-untyped-def]
    items = admin_api.get(f"/api/admin/public-{suffix}?limit=1000").json()["items"]
    (item,) = [item for item in items if item["id"] == row.pk]
    return item["is_active"]


def _unified_model_names(api) -> set[str]:  # type: ignore[no-untyped-def]
    return {item["name"] for item in api.get("/api/models/unified").json()["data"]}


def test_deactivated_public_model_is_hidden_and_cannot_be_newly_chosen(
    admin_api, admin_user, api, user, make_kind
):
    model = make_kind(admin_user, model_doc("pub-model"), public=True)
    make_kind(user, ghost_doc("g"))
    make_kind(user, shell_doc("sh"))
    existing = api.post(BOTS, bot_doc("old-bot", "g", "sh", "pub-model"), format="json")
    assert existing.status_code == 201, existing.content
    assert "pub-model" in _unified_model_names(api)

    _switch(admin_api, "models", model, False)
    model.refresh_from_db()
    assert model.is_active and model.deactivated  # not deleted
    assert _admin_listed(admin_api, "models", model) is False
    assert admin_api.get("/api/admin/stats").json()["total_public_models"] == 1

    assert "pub-model" not in _unified_model_names(api)
    assert api.get("/api/models/unified/pub-model").status_code == 404
    assert all(item["name"] != "pub-model" for item in api.get("/api/models").json()["items"])

    refused = api.post(BOTS, bot_doc("new-bot", "g", "sh", "pub-model"), format="json")
    assert refused.status_code == 400
    assert refused.json() == {"detail": "Public Model 'pub-model' is deactivated and cannot be chosen"}
    assert not Kind.objects.filter(name="new-bot").exists()
    # A bot that already uses it may still be edited without choosing it anew.
    changed = bot_doc("old-bot", "g", "sh", "pub-model")
    changed["metadata"]["displayName"] = "Old bot"
    assert api.put(f"{BOTS}/old-bot", changed, format="json").status_code == 200

    _switch(admin_api, "models", model, True)
    assert _admin_listed(admin_api, "models", model) is True
    assert "pub-model" in _unified_model_names(api)
    assert api.post(BOTS, bot_doc("new-bot", "g", "sh", "pub-model"), format="json").status_code == 201


def test_deactivated_public_team_keeps_task_history_but_starts_no_new_task(
    admin_api, admin_user, api, user, make_kind, make_task
):
    make_kind(admin_user, ghost_doc("pg"), public=True)
    make_kind(admin_user, shell_doc("ps"), public=True)
    make_kind(admin_user, model_doc("pm"), public=True)
    make_kind(admin_user, bot_doc("pb", "pg", "ps", "pm"), public=True)
    team = make_kind(admin_user, team_doc("pub-team", ["pb"]), public=True)
    task = make_task(user, team, prompt="hello", answer="hi").task

    _switch(admin_api, "teams", team, False)
    assert all(item["id"] != team.pk for item in api.get("/api/teams").json()["items"])
    assert api.get(f"/api/tasks/{task.pk}").status_code == 200
    messages = api.get("/api/subtasks", {"task_id": task.pk}).json()["items"]
    assert [m["prompt"] for m in messages if m["role"] == "USER"] == ["hello"]
    refused = api.post("/api/tasks/create", {"prompt": "again", "team_id": team.pk}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"detail": "Public Team 'pub-team' is deactivated and cannot be chosen"}

    _switch(admin_api, "teams", team, True)
    assert any(item["id"] == team.pk for item in api.get("/api/teams").json()["items"])
    created = api.post("/api/tasks/create", {"prompt": "again", "team_id": team.pk}, format="json")
    assert created.status_code == 201, created.content


def test_deactivated_public_shell_leaves_the_picker(admin_api, admin_user, api, make_kind):
    shell = make_kind(admin_user, shell_doc("pub-shell"), public=True)
    _switch(admin_api, "shells", shell, False)
    names = {item["name"] for item in api.get("/api/shells/unified").json()["data"]}
    assert "pub-shell" not in names
    assert api.get("/api/shells/unified/pub-shell").status_code == 404
    _switch(admin_api, "shells", shell, True)
    assert "pub-shell" in {item["name"] for item in api.get("/api/shells/unified").json()["data"]}


def test_legacy_public_models_route_uses_the_same_switch(admin_api, admin_user, api, make_kind):
    model = make_kind(admin_user, model_doc("legacy-model"), public=True)
    response = admin_api.put(f"/api/models/{model.pk}", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert "legacy-model" not in _unified_model_names(api)
    assert _admin_listed(admin_api, "models", model) is False
    assert admin_api.put(f"/api/models/{model.pk}", {"is_active": True}, format="json").status_code == 200
    assert "legacy-model" in _unified_model_names(api)


def test_deactivated_row_still_holds_its_name_and_deletes_normally(admin_api, admin_user, make_kind):
    model = make_kind(admin_user, model_doc("held"), public=True)
    _switch(admin_api, "models", model, False)
    again = admin_api.post(
        "/api/admin/public-models", {"name": "held", "json": model_doc("held")}, format="json"
    )
    assert again.status_code == 400
    assert admin_api.delete(f"/api/admin/public-models/{model.pk}").status_code == 204
    assert not Kind.objects.filter(pk=model.pk).exists()
