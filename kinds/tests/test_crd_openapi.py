"""The Kind API in the OpenAPI document: one set of routes per kind, bodies from ``kinds/specs``.

The document is generated from the same URL patterns that route requests, so these tests also
check that every documented route reaches the Kind view and that live bodies fit the schemas.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import resolve

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from kinds import registry
from kinds.api import crd
from kinds.tests.factories import bot_doc, ghost_doc, model_doc, shell_doc, team_doc
from kinds.tests.openapi import body_schema, errors_against, served_schema

pytestmark = pytest.mark.django_db

BASE = "/api/v1/namespaces/{namespace}"
API = "/api/v1/namespaces/default"


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock():
        return served_schema()


def _component(schema: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def _enum(schema: dict[str, Any], prop: dict[str, Any]) -> list[Any]:
    """A property's enum, inline or in a component (the enum post-processing moves them)."""
    if "enum" in prop:
        return prop["enum"]
    return _component(schema, prop["allOf"][0] if "allOf" in prop else prop)["enum"]


def _required_spec_fields(kind_type: registry.KindType) -> set[str]:
    assert kind_type.schema is not None
    spec_model = kind_type.schema.model_fields["spec"].annotation
    return {(field.alias or name) for name, field in spec_model.model_fields.items() if field.is_required()}


def test_no_catch_all_path_is_documented(schema):
    assert not [path for path in schema["paths"] if "{rest}" in path]


@pytest.mark.parametrize("kind_type", registry.all_types(), ids=lambda t: t.plural)
def test_each_kind_has_its_own_documented_routes(schema, kind_type):
    listing = schema["paths"][f"{BASE}/{kind_type.plural}"]
    item = schema["paths"][f"{BASE}/{kind_type.plural}/{{name}}"]
    writes = {"post"} if kind_type.writable else set()
    assert set(listing) - {"parameters"} == {"get"} | writes
    assert set(item) - {"parameters"} == {"get", "delete"} | ({"put"} if kind_type.writable else set())
    assert set(schema["paths"][f"{BASE}/apply"]) == {"post"}
    assert set(schema["paths"][f"{BASE}/delete"]) == {"post"}


@pytest.mark.parametrize("kind_type", registry.all_types(), ids=lambda t: t.plural)
def test_bodies_are_the_kinds_document(schema, kind_type):
    path = f"{BASE}/{kind_type.plural}"
    one = _component(schema, body_schema(schema, f"{path}/{{name}}", "get", "200"))
    assert _enum(schema, one["properties"]["kind"]) == [kind_type.kind]
    assert set(one["required"]) >= {"apiVersion", "kind", "metadata", "spec"}
    listed = _component(schema, body_schema(schema, path, "get", "200"))
    assert _enum(schema, listed["properties"]["kind"]) == [f"{kind_type.kind}List"]
    assert listed["properties"]["items"]["items"] == body_schema(schema, f"{path}/{{name}}", "get", "200")
    if not kind_type.writable:
        return
    created = schema["paths"][path]["post"]
    assert set(created["responses"]) >= {"201", "400", "404", "409", "422"}
    assert created["responses"]["201"]["content"]["application/json"]["schema"] == body_schema(
        schema, f"{path}/{{name}}", "get", "200"
    )
    request = _component(schema, body_schema(schema, path, "post"))
    assert _enum(schema, request["properties"]["kind"]) == [kind_type.kind]
    assert request["required"] == ["metadata", "spec"]
    spec = _component(schema, request["properties"]["spec"])
    assert set(spec.get("required", [])) == _required_spec_fields(kind_type)
    # Unknown keys are accepted and dropped, so the schema must not forbid them.
    assert spec["additionalProperties"] is True
    assert body_schema(schema, f"{path}/{{name}}", "put") == body_schema(schema, path, "post")


def test_documented_routes_reach_the_kind_view_and_the_one_parser(schema):
    documented = [path for path in schema["paths"] if path.startswith(BASE)]
    assert len(documented) == 2 * len(registry.all_types()) + 2
    for path in documented:
        concrete = path.replace("{namespace}", "default").replace("{name}", "x")
        match = resolve(concrete)
        assert match.func.view_class is crd.NamespacedKindView, path
        segments = concrete.removeprefix("/api/v1/namespaces/")
        for method in set(schema["paths"][path]) - {"parameters"}:
            namespace, plural, name = crd.split_path(segments, method.upper())
            assert namespace == "default", path
            assert plural == segments.split("/")[1], path
            assert name == ("x" if "{name}" in path else None), path


def test_a_group_named_like_a_plural_is_still_listed_by_the_parser(api, user, make_user):
    # ".../org/ghosts/ghosts" also matches the item pattern (namespace "org", ghost "ghosts");
    # the one parser decides on the namespaces that exist, as before the per-kind routes.
    owner = make_user("owner")
    group = Group.objects.create(name="org/ghosts", owner=owner)
    Group.objects.create(name="org", owner=owner)
    GroupMember.objects.create(group=group, user=user, role=GroupRole.DEVELOPER)
    assert api.post("/api/v1/namespaces/org/ghosts/ghosts", ghost_doc("g"), format="json").status_code == 201
    listing = api.get("/api/v1/namespaces/org/ghosts/ghosts")
    assert listing.status_code == 200
    assert [item["metadata"]["name"] for item in listing.json()["items"]] == ["g"]


def test_undocumented_paths_keep_their_answers(api):
    assert api.post(f"{API}/ghosts", ghost_doc("g"), format="json").status_code == 201
    assert api.get(f"{API}/ghosts/").json()["items"][0]["metadata"]["name"] == "g"
    unknown = api.get(f"{API}/widgets")
    assert unknown.status_code == 400
    assert unknown.json()["detail"].startswith("Invalid resource type: widgets.")
    assert api.get("/api/v1/namespaces/ghosts").status_code == 404
    # An encoded '/' in a name leaves the item pattern: the parser finds no kind (documented 400).
    assert api.get(f"{API}/ghosts/a%2Fb").status_code == 400


def _fits(schema: dict[str, Any], path: str, method: str, status: str | None, body: Any) -> None:
    problems = errors_against(schema, body_schema(schema, path, method, status), body)
    assert problems == [], f"{method.upper()} {path} {status or 'request'}: {problems}"


def test_live_documents_fit_their_schemas(schema, api):
    docs = {
        "ghosts": ghost_doc("g", mcpServers={"fs": {"command": "x"}}),
        "shells": shell_doc("sh"),
        "models": model_doc("m", api_key="sk-secret-1234567890"),
        "bots": bot_doc("b", "g", "sh", "m"),
        "teams": team_doc("t", ["b"]),
        "retrievers": {
            "kind": "Retriever",
            "metadata": {"name": "es", "labels": {"tier": "hot"}},
            "spec": {
                "storageConfig": {
                    "type": "qdrant",
                    "url": "http://127.0.0.1:6333",
                    "apiKey": "qdrant-key-123456",
                    "indexStrategy": {"mode": "fixed", "fixedName": "docs"},
                }
            },
        },
        "devices": {"kind": "Device", "metadata": {"name": "laptop"}, "spec": {"deviceId": "d-1"}},
    }
    for plural, doc in docs.items():
        path = f"{BASE}/{plural}"
        _fits(schema, path, "post", None, doc)
        created = api.post(f"{API}/{plural}", doc, format="json")
        assert created.status_code == 201, created.content
        _fits(schema, path, "post", "201", created.json())
        _fits(schema, path, "get", "200", api.get(f"{API}/{plural}").json())
        _fits(
            schema,
            f"{path}/{{name}}",
            "get",
            "200",
            api.get(f"{API}/{plural}/{doc['metadata']['name']}").json(),
        )
    updated = api.put(f"{API}/ghosts/g", ghost_doc("g", "changed"), format="json")
    assert updated.status_code == 200
    _fits(schema, f"{BASE}/ghosts/{{name}}", "put", "200", updated.json())

    applied = api.post(
        f"{API}/apply", [ghost_doc("g2"), {"kind": "Widget", "metadata": {"name": "w"}}], format="json"
    )
    assert applied.status_code == 200
    _fits(schema, f"{BASE}/apply", "post", "200", applied.json())
    _fits(schema, f"{BASE}/apply", "post", None, [ghost_doc("g2")])

    for status, response in (
        ("409", api.post(f"{API}/ghosts", ghost_doc("g"), format="json")),
        ("409", api.delete(f"{API}/ghosts/g")),  # the bot refers to it
        ("400", api.post(f"{API}/ghosts", {"metadata": {"name": "x"}, "spec": {}}, format="json")),
        ("404", api.get(f"{API}/ghosts/nope")),
        ("422", api.post(f"{API}/ghosts", [1], format="json")),
    ):
        assert response.status_code == int(status), response.content
        path = f"{BASE}/ghosts" if response.request["REQUEST_METHOD"] == "POST" else f"{BASE}/ghosts/{{name}}"
        _fits(schema, path, response.request["REQUEST_METHOD"].lower(), status, response.json())

    deleted = api.delete(f"{API}/teams/t")
    assert deleted.status_code == 200
    _fits(schema, f"{BASE}/teams/{{name}}", "delete", "200", deleted.json())
