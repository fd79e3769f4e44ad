"""``/api/models``: unified listings, legacy public models, and provider checks against a fake
OpenAI/Anthropic/Gemini-compatible HTTP server on a loopback port."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from accounts.roles import GroupRole
from kinds import secrets
from kinds.adapters.admin import total_public_models
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, model_doc, shell_doc
from kinds.tests.test_legacy_shells import make_group, seed_public_shells
from wegent.tests.helpers import assert_validation_error, free_port

pytestmark = pytest.mark.django_db

ALICE_KEY = "sk-alice-secret-0123456789"
PUBLIC_KEY = "sk-public-secret-9876543210"
GOOD_KEY = "sk-good-provider-key-42"
UNIFIED_KEYS = {"name", "type", "displayName", "provider", "modelId", "namespace", "modelCategoryType"}


def provider_model(name: str, provider: str = "openai", key: str = ALICE_KEY, **spec: Any) -> dict[str, Any]:
    document = model_doc(name, key, **spec)
    document["spec"]["modelConfig"]["env"]["model"] = provider
    document["spec"]["modelConfig"]["env"]["model_id"] = f"{provider}-{name}"
    return document


@pytest.fixture
def public_shells(make_kind, admin_user):  # type: ignore[no-untyped-def]
    return seed_public_shells(make_kind, admin_user)


@pytest.fixture
def catalogue(make_kind, user, other_user, admin_user, public_shells):  # type: ignore[no-untyped-def]
    """Alice's models, a custom one, Bob's model, and public models (one name shared with Alice)."""
    rows = {
        "a-openai": make_kind(user, provider_model("a-openai", "openai")),
        "a-claude": make_kind(user, provider_model("a-claude", "claude")),
        "a-custom": make_kind(user, provider_model("a-custom", "openai", isCustomConfig=True)),
        "shared": make_kind(user, provider_model("shared", "openai")),
        "b-model": make_kind(other_user, provider_model("b-model", "openai")),
    }
    for name, provider, extra in (
        ("p-gemini", "gemini", {}),
        ("shared", "claude", {}),
        ("p-embed", "openai", {"modelType": "embedding"}),
    ):
        doc = provider_model(name, provider, PUBLIC_KEY, **extra)
        rows[f"public-{name}"] = make_kind(admin_user, doc, public=True)
    return rows


def assert_no_secret(response, *secrets_: str) -> None:  # type: ignore[no-untyped-def]
    body = response.content.decode()
    for secret in secrets_ or (ALICE_KEY, PUBLIC_KEY):
        assert secret not in body


# --- unified -------------------------------------------------------------------------------------


def test_unified_personal_lists_own_and_public_sorted(api, catalogue):
    response = api.get("/api/models/unified")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(m["name"], m["type"]) for m in data] == [
        ("a-claude", "user"),
        ("a-openai", "user"),
        ("p-embed", "public"),
        ("p-gemini", "public"),
        ("shared", "user"),
        ("shared", "public"),
    ]
    assert all(set(item) == UNIFIED_KEYS for item in data)
    assert data[1] == {
        "name": "a-openai",
        "type": "user",
        "displayName": None,
        "provider": "openai",
        "modelId": "openai-a-openai",
        "namespace": "default",
        "modelCategoryType": "llm",
    }
    assert data[2]["modelCategoryType"] == "embedding"
    assert_no_secret(response)


def test_unified_include_config_masks_secrets(api, catalogue):
    response = api.get("/api/models/unified?include_config=true")
    assert response.status_code == 200
    data = response.json()["data"]
    assert all(set(item) == {*UNIFIED_KEYS, "config", "isActive"} for item in data)
    own = next(m for m in data if m["name"] == "a-openai")
    assert own["isActive"] is True
    env = own["config"]["env"]
    assert env["api_key"].startswith("****")
    assert (env["model"], env["base_url"]) == ("openai", "http://127.0.0.1:9/v1")
    assert_no_secret(response)


@pytest.mark.parametrize(
    ("shell", "expected"),
    [
        ("ClaudeCode", ["a-claude", "shared"]),  # public shell type without supportModel
        ("Agno", ["a-claude", "a-openai", "p-embed", "p-gemini", "shared", "shared"]),
        ("Chat", ["a-claude", "a-openai", "p-embed", "p-gemini", "shared", "shared"]),
        ("alice-shell", ["a-openai", "p-embed", "shared"]),  # her shell: supportModel ["openai"]
        ("SomethingElse", ["a-claude", "a-openai", "p-embed", "p-gemini", "shared", "shared"]),
    ],
)
def test_unified_shell_compatibility(api, user, make_kind, catalogue, shell, expected):
    make_kind(user, shell_doc("alice-shell"))
    response = api.get(f"/api/models/unified?shell_type={shell}")
    assert [m["name"] for m in response.json()["data"]] == expected


def test_unified_category_filter(api, catalogue):
    response = api.get("/api/models/unified?model_category_type=embedding")
    assert [m["name"] for m in response.json()["data"]] == ["p-embed"]
    llm = api.get("/api/models/unified?shell_type=Chat&scope=personal&model_category_type=llm").json()["data"]
    assert "p-embed" not in [m["name"] for m in llm]


def test_unified_group_scopes(client_for, user, make_user, make_kind, catalogue):
    crew = make_group(make_user, "crew", {user: GroupRole.REPORTER})
    secret = make_group(make_user, "secret", {})
    make_kind(crew.owner, provider_model("crew-model"), "crew")
    make_kind(crew.owner, provider_model("crew-custom", isCustomConfig=True), "crew")
    make_kind(secret.owner, provider_model("secret-model"), "secret")
    api = client_for(user)

    def own(query: str) -> list[tuple[str, str, str]]:
        response = api.get(f"/api/models/unified?{query}")
        assert response.status_code == 200, response.content
        return [
            (m["name"], m["type"], m["namespace"]) for m in response.json()["data"] if m["type"] != "public"
        ]

    assert own("scope=group&group_name=crew") == [("crew-model", "group", "crew")]
    assert own("scope=group") == [("crew-model", "group", "crew")]
    assert ("crew-model", "group", "crew") in own("scope=all")
    assert ("a-openai", "user", "default") in own("scope=all")
    assert api.get("/api/models/unified?scope=group&group_name=secret").status_code == 403
    invalid = api.get("/api/models/unified?scope=nope")
    assert invalid.status_code == 400
    assert_validation_error(api.get("/api/models/unified?include_config=maybe"), "include_config")


def test_unified_requires_auth(anon_client):
    for url in (
        "/api/models/unified",
        "/api/models/unified/x",
        "/api/models/names?shell_type=Chat",
        "/api/models",
    ):
        assert anon_client.get(url).status_code == 401


def test_unified_detail(api, catalogue):
    own = api.get("/api/models/unified/shared")
    assert own.status_code == 200
    assert (own.json()["type"], own.json()["provider"], own.json()["isActive"]) == ("user", "openai", True)
    assert own.json()["config"]["env"]["api_key"].startswith("****")
    public = api.get("/api/models/unified/shared?model_type=public")
    assert (public.json()["type"], public.json()["provider"]) == ("public", "claude")
    assert api.get("/api/models/unified/p-gemini").json()["type"] == "public"
    assert api.get("/api/models/unified/p-gemini?model_type=user").status_code == 404
    # Bob's model is not Alice's to see.
    missing = api.get("/api/models/unified/b-model")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Model not found"}
    assert_no_secret(own)
    assert_no_secret(public)


def test_model_names(api, user, make_kind, catalogue):
    make_kind(user, shell_doc("alice-shell"))
    response = api.get("/api/models/names?shell_type=alice-shell")
    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {"name": "a-custom", "displayName": None},
            {"name": "a-openai", "displayName": None},
            {"name": "p-embed", "displayName": None},
            {"name": "shared", "displayName": None},
        ]
    }
    agno = [m["name"] for m in api.get("/api/models/names?shell_type=Agno").json()["data"]]
    assert agno == ["a-claude", "a-custom", "a-openai", "p-embed", "p-gemini", "shared"]
    unknown = api.get("/api/models/names?shell_type=Nope")
    assert unknown.status_code == 400
    assert unknown.json() == {"detail": "Shell type not found"}
    assert_validation_error(api.get("/api/models/names"), "shell_type")


def test_crd_round_trip(api, catalogue):
    body = provider_model("via-crd", "claude")
    body["metadata"]["displayName"] = "Via CRD"
    assert api.post("/api/v1/namespaces/default/models", body, format="json").status_code == 201
    item = next(m for m in api.get("/api/models/unified").json()["data"] if m["name"] == "via-crd")
    assert (item["type"], item["displayName"], item["provider"]) == ("user", "Via CRD", "claude")
    body["spec"]["modelConfig"]["env"]["model_id"] = "claude-new"
    body["spec"]["modelConfig"]["env"]["api_key"] = "****6789"  # a mask keeps the stored key
    assert api.put("/api/v1/namespaces/default/models/via-crd", body, format="json").status_code == 200
    detail = api.get("/api/models/unified/via-crd").json()
    assert detail["modelId"] == "claude-new"
    stored = Kind.objects.get(name="via-crd")
    assert secrets.revealed("Model", stored.document)["spec"]["modelConfig"]["env"]["api_key"] == ALICE_KEY


# --- legacy public models --------------------------------------------------------------------------


def test_public_model_list_and_detail(api, catalogue):
    response = api.get("/api/models")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert [item["name"] for item in body["items"]] == ["p-embed", "shared", "p-gemini"]  # newest first
    item = body["items"][0]
    assert set(item) == {"id", "name", "config", "is_active", "created_at", "updated_at"}
    assert item["config"]["env"]["api_key"].startswith("****")
    paged = api.get("/api/models?page=2&limit=1").json()
    assert (paged["total"], [i["name"] for i in paged["items"]]) == (3, ["shared"])
    assert_validation_error(api.get("/api/models?limit=101"), "limit")

    public = catalogue["public-p-gemini"]
    detail = api.get(f"/api/models/{public.pk}")
    assert detail.status_code == 200
    assert detail.json()["name"] == "p-gemini"
    # Only public models are reachable by id; huge ids are not found rather than failing.
    assert api.get(f"/api/models/{catalogue['a-openai'].pk}").json() == {"detail": "Model not found"}
    assert api.get("/api/models/99999999999999999999").status_code == 404
    assert_no_secret(response)
    assert_no_secret(detail)


def test_public_model_writes_need_admin(api, catalogue):
    denied = api.post("/api/models", {"name": "mine", "config": {"env": {"api_key": "x"}}}, format="json")
    assert denied.status_code == 403
    assert denied.json() == {"detail": "Permission denied. Admin access required."}
    assert not Kind.objects.filter(name="mine").exists()
    public = catalogue["public-p-gemini"]
    assert api.put(f"/api/models/{public.pk}", {"config": {}}, format="json").status_code == 403
    assert api.delete(f"/api/models/{public.pk}").status_code == 403
    assert api.post("/api/models/batch", [{"name": "x", "env": {}}], format="json").status_code == 403
    assert Kind.objects.filter(pk=public.pk).exists()
    # A non-admin cannot learn whether a name exists either.
    assert api.post("/api/models", {"name": "shared", "config": {}}, format="json").status_code == 403


def test_admin_creates_public_model(admin_api, api, catalogue):
    config = {"env": {"model": "openai", "model_id": "gpt-x", "api_key": "sk-brand-new-key-123"}}
    response = admin_api.post("/api/models", {"name": "new-public", "config": config}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["config"]["env"]["api_key"] == "****-123"
    assert "sk-brand-new-key-123" not in response.content.decode()
    row = Kind.objects.get(name="new-public")
    assert row.owner_id is None
    assert row.document["spec"]["modelConfig"]["env"]["api_key"] != "sk-brand-new-key-123"  # encrypted
    # Visible to everyone as a public model, not in the admin's own Kind list.
    assert ("new-public", "public") in [
        (m["name"], m["type"]) for m in api.get("/api/models/unified").json()["data"]
    ]
    assert admin_api.get("/api/v1/namespaces/default/models").json()["items"] == []
    assert total_public_models() == 4

    duplicate = admin_api.post("/api/models", {"name": "new-public", "config": config}, format="json")
    assert duplicate.status_code == 400
    assert duplicate.json() == {"detail": "Model name already exists"}
    assert_validation_error(
        admin_api.post("/api/models", {"name": "x", "config": []}, format="json"), "config"
    )
    assert_validation_error(admin_api.post("/api/models", {"config": {}}, format="json"), "name")
    bad_name = admin_api.post("/api/models", {"name": "Bad Name!", "config": {}}, format="json")
    assert bad_name.status_code == 400
    # Created switched off (deactivated, see test_public_deactivation), not refused.
    inactive = admin_api.post("/api/models", {"name": "off", "config": {}, "is_active": False}, format="json")
    assert inactive.status_code == 201 and inactive.json()["is_active"] is False
    assert Kind.objects.get(name="off").deactivated
    assert not Kind.objects.filter(name="Bad Name!").exists()


def test_admin_updates_and_deletes_public_model(admin_api, admin_user, make_kind, catalogue):
    public = catalogue["public-p-gemini"]
    shown = admin_api.get(f"/api/models/{public.pk}").json()["config"]
    shown["env"]["model_id"] = "gemini-2"  # the masked api_key is sent back unchanged
    response = admin_api.put(f"/api/models/{public.pk}", {"config": shown}, format="json")
    assert response.status_code == 200, response.content
    row = Kind.objects.get(pk=public.pk)
    env = secrets.revealed("Model", row.document)["spec"]["modelConfig"]["env"]
    assert (env["model_id"], env["api_key"]) == ("gemini-2", PUBLIC_KEY)
    assert row.spec["protocol"] == "openai"  # the rest of the spec is kept

    renamed = admin_api.put(f"/api/models/{public.pk}", {"name": "p-gemini-2"}, format="json")
    assert renamed.status_code == 200
    assert (renamed.json()["id"], renamed.json()["name"]) == (public.pk, "p-gemini-2")
    taken = admin_api.put(f"/api/models/{public.pk}", {"name": "shared"}, format="json")
    assert taken.json() == {"detail": "Model name already exists"}
    switched_off = admin_api.put(f"/api/models/{public.pk}", {"is_active": False}, format="json")
    assert switched_off.status_code == 200 and switched_off.json()["is_active"] is False
    assert admin_api.put(f"/api/models/{public.pk}", {"is_active": True}, format="json").status_code == 200
    assert_validation_error(
        admin_api.put(f"/api/models/{public.pk}", {"config": "x"}, format="json"), "config"
    )

    # A public bot using the model blocks deletion (and renaming).
    make_kind(admin_user, ghost_doc("pg"), public=True)
    make_kind(admin_user, bot_doc("pbot", "pg", "Chat", "p-gemini-2"), public=True)
    refused = admin_api.delete(f"/api/models/{public.pk}")
    assert refused.status_code == 409
    assert refused.json()["referrers"] == [{"kind": "Bot", "namespace": "default", "name": "pbot"}]
    assert admin_api.put(f"/api/models/{public.pk}", {"name": "other"}, format="json").status_code == 409

    other = catalogue["public-p-embed"]
    deleted = admin_api.delete(f"/api/models/{other.pk}")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Model deleted successfully"}
    assert not Kind.objects.filter(pk=other.pk).exists()
    assert admin_api.delete(f"/api/models/{other.pk}").status_code == 404
    # Alice's model is not a public model.
    assert admin_api.delete(f"/api/models/{catalogue['a-openai'].pk}").status_code == 404


def test_admin_batch_upsert(admin_api, catalogue):
    items = [
        {"name": "batch-new", "env": {"model": "openai", "model_id": "m1", "api_key": "sk-batch-key-000001"}},
        {"name": "shared", "env": {"model": "claude", "model_id": "c2", "api_key": "****3210"}},
        {"name": "Bad Name", "env": {}},
    ]
    response = admin_api.post("/api/models/batch", items, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert [m["name"] for m in body["created"]] == ["batch-new"]
    assert [m["name"] for m in body["updated"]] == ["shared"]
    assert [s["name"] for s in body["skipped"]] == ["Bad Name"]
    assert "sk-batch-key-000001" not in response.content.decode()
    shared = Kind.objects.get(name="shared", owner__isnull=True)
    env = secrets.revealed("Model", shared.document)["spec"]["modelConfig"]["env"]
    assert (env["model_id"], env["api_key"]) == ("c2", PUBLIC_KEY)
    assert shared.spec["protocol"] == "openai"
    assert not Kind.objects.filter(name="Bad Name").exists()
    assert_validation_error(admin_api.post("/api/models/batch", {"name": "x"}, format="json"))
    assert_validation_error(admin_api.post("/api/models/batch", [{"name": "x"}], format="json"), "env")


# --- provider checks against a fake provider ------------------------------------------------------


class FakeProvider:
    """OpenAI-, Anthropic- and Gemini-compatible endpoints on 127.0.0.1, recording each request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                provider.requests.append(
                    {"method": self.command, "path": self.path, "headers": headers, "body": body}
                )
                key = (
                    headers.get("authorization", "").removeprefix("Bearer ")
                    or headers.get("x-api-key")
                    or headers.get("x-goog-api-key")
                )
                if key != GOOD_KEY:
                    self._reply(401, {"error": {"message": f"Incorrect API key provided: {key}"}})
                    return
                answer = provider.answer(self.path, headers)
                self._reply(404 if answer is None else 200, answer or {"error": "not found"})

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @staticmethod
    def answer(path: str, headers: dict[str, str]) -> Any:
        if path == "/v1/models" and "anthropic-version" in headers:
            return {
                "data": [{"id": "claude-x", "display_name": "Claude X", "created_at": "2025-01-01T00:00:00Z"}]
            }
        if path == "/v1/models" and "x-goog-api-key" in headers:
            return {"models": [{"name": "models/gemini-x", "displayName": "Gemini X"}]}
        if path == "/v1/models":
            return {"object": "list", "data": [{"id": "fake-1", "created": 1700000000, "owned_by": "fake"}]}
        known = {"/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/messages", "/v1beta/models"}
        if path in known or (path.startswith("/v1beta/models/") and ":" in path):
            return {"id": "ok", "choices": [], "content": [], "candidates": [], "data": []}
        return None


@pytest.fixture
def fake_provider():  # type: ignore[no-untyped-def]
    provider = FakeProvider()
    provider.thread.start()
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()


def test_connection_openai_success_and_failure(api, fake_provider, anon_client):
    body = {
        "provider_type": "openai",
        "model_id": "fake-n20",
        "api_key": GOOD_KEY,
        "base_url": f"{fake_provider.url}/v1",
        "custom_headers": {"X-Team": "blue"},
        "model_category_type": "llm",
    }
    response = api.post("/api/models/test-connection", body, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Successfully connected to fake-n20 using Chat Completions API",
    }
    sent = fake_provider.requests[-1]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/chat/completions")
    assert sent["body"]["max_tokens"] == 1
    assert sent["body"]["model"] == "fake-n20"
    assert sent["headers"]["x-team"] == "blue"

    wrong = api.post("/api/models/test-connection", {**body, "api_key": "sk-wrong-key-abcdef"}, format="json")
    assert wrong.status_code == 200
    assert wrong.json()["success"] is False
    assert "401" in wrong.json()["message"]
    assert "sk-wrong-key-abcdef" not in wrong.content.decode()  # the provider echoed it; we scrub it
    assert anon_client.post("/api/models/test-connection", body, format="json").status_code == 401


def test_connection_unreachable_provider_is_not_an_error(api):
    body = {
        "provider_type": "openai",
        "model_id": "m",
        "api_key": GOOD_KEY,
        "base_url": f"http://127.0.0.1:{free_port()}/v1",
    }
    response = api.post("/api/models/test-connection", body, format="json")
    assert response.status_code == 200
    assert response.json()["success"] is False
    assert response.json()["message"].startswith("Connection failed:")
    bad_scheme = api.post(
        "/api/models/test-connection", {**body, "base_url": "file:///etc/passwd"}, format="json"
    )
    assert bad_scheme.json() == {
        "success": False,
        "message": "Connection failed: base_url must be an http(s) URL",
    }
    # Malformed URLs and headers are failures to report, not server errors.
    for broken in ({"base_url": "http://[::1"}, {"custom_headers": {"X-Bad": "a\r\nInjected: 1"}}):
        for route in ("test-connection", "fetch-available-models"):
            response = api.post(f"/api/models/{route}", {**body, **broken}, format="json")
            assert response.status_code == 200, response.content
            assert response.json()["success"] is False


@pytest.mark.parametrize(
    ("provider_type", "category", "path", "message"),
    [
        ("openai-responses", "llm", "/v1/responses", "Successfully connected to m1 using Responses API"),
        ("anthropic", "llm", "/v1/messages", "Successfully connected to m1"),
        ("gemini", "llm", "/v1beta/models/m1:generateContent", "Successfully connected to m1"),
        (
            "gemini-deep-research",
            "llm",
            "/v1beta/models",
            "Successfully connected to Gemini Deep Research API",
        ),
        ("openai", "embedding", "/v1/embeddings", "Successfully connected to embedding model m1"),
        (
            "gemini",
            "embedding",
            "/v1beta/models/m1:embedContent",
            "Successfully connected to embedding model m1",
        ),
    ],
)
def test_connection_providers(api, fake_provider, provider_type, category, path, message):
    base = f"{fake_provider.url}/v1" if provider_type.startswith("openai") else fake_provider.url
    body = {
        "provider_type": provider_type,
        "model_id": "m1",
        "api_key": GOOD_KEY,
        "base_url": base,
        "model_category_type": category,
    }
    response = api.post("/api/models/test-connection", body, format="json")
    assert response.json() == {"success": True, "message": message}
    assert fake_provider.requests[-1]["path"] == path


def test_connection_without_a_call(api, fake_provider):
    tts = {"provider_type": "openai", "model_id": "voice", "api_key": "k", "model_category_type": "tts"}
    assert api.post("/api/models/test-connection", tts, format="json").json()["success"] is True
    missing = api.post("/api/models/test-connection", {"provider_type": "openai"}, format="json")
    assert missing.json() == {
        "success": False,
        "message": "Missing required fields: provider_type, model_id, api_key",
    }
    unsupported = {
        "provider_type": "acme",
        "model_id": "m",
        "api_key": GOOD_KEY,
        "base_url": fake_provider.url,
    }
    assert api.post("/api/models/test-connection", unsupported, format="json").json() == {
        "success": False,
        "message": "Unsupported provider type: acme",
    }
    assert fake_provider.requests == []
    assert_validation_error(
        api.post("/api/models/test-connection", {"custom_headers": ["x"]}, format="json"), "custom_headers"
    )
    assert_validation_error(api.post("/api/models/test-connection", ["x"], format="json"))


def test_masked_key_uses_the_stored_key_at_the_stored_url(api, user, make_kind, fake_provider):
    other = FakeProvider()
    other.thread.start()
    try:
        document = provider_model("stored", "openai", GOOD_KEY)
        document["spec"]["modelConfig"]["env"]["base_url"] = f"{fake_provider.url}/v1"
        make_kind(user, document)
        shown = api.get("/api/models/unified/stored").json()["config"]["env"]["api_key"]
        body = {
            "provider_type": "openai",
            "model_id": "m",
            "api_key": shown,
            "base_url": f"{other.url}/v1",  # ignored: a stored key only goes to the stored URL
            "model_name": "stored",
        }
        response = api.post("/api/models/test-connection", body, format="json")
        assert response.json()["success"] is True, response.json()
        assert fake_provider.requests[-1]["headers"]["authorization"] == f"Bearer {GOOD_KEY}"
        assert other.requests == []
        assert GOOD_KEY not in response.content.decode()

        fetched = api.post("/api/models/fetch-available-models", body, format="json")
        assert fetched.json()["success"] is True
        assert other.requests == []

        no_model = api.post("/api/models/test-connection", {**body, "model_name": None}, format="json")
        assert no_model.json()["success"] is False
        assert "masked" in no_model.json()["message"]
        unknown = api.post("/api/models/test-connection", {**body, "model_name": "nope"}, format="json")
        assert unknown.json() == {"success": False, "message": "Connection failed: Model 'nope' not found"}
    finally:
        other.server.shutdown()
        other.server.server_close()


def test_masked_key_of_another_users_model_is_not_usable(api, other_user, make_kind, fake_provider):
    make_kind(other_user, provider_model("bobs", "openai", GOOD_KEY))
    body = {"provider_type": "openai", "model_id": "m", "api_key": "****y-42", "model_name": "bobs"}
    response = api.post("/api/models/test-connection", body, format="json")
    assert response.json() == {"success": False, "message": "Connection failed: Model 'bobs' not found"}
    assert fake_provider.requests == []


@pytest.mark.parametrize(
    ("provider_type", "base_suffix", "models"),
    [
        ("openai", "/v1", [{"id": "fake-1", "name": "fake-1", "created": 1700000000, "owned_by": "fake"}]),
        ("custom", "/v1", [{"id": "fake-1", "name": "fake-1", "created": 1700000000, "owned_by": "fake"}]),
        (
            "anthropic",
            "",
            [{"id": "claude-x", "name": "Claude X", "created": "2025-01-01T00:00:00Z", "owned_by": None}],
        ),
        ("gemini", "", [{"id": "gemini-x", "name": "Gemini X", "created": None, "owned_by": None}]),
    ],
)
def test_fetch_available_models(api, fake_provider, provider_type, base_suffix, models):
    body = {
        "provider_type": provider_type,
        "api_key": GOOD_KEY,
        "base_url": f"{fake_provider.url}{base_suffix}",
    }
    response = api.post("/api/models/fetch-available-models", body, format="json")
    assert response.status_code == 200
    assert response.json() == {"success": True, "models": models}


def test_fetch_available_models_failures(api, fake_provider, anon_client):
    body = {
        "provider_type": "openai",
        "api_key": "sk-wrong-key-abcdef",
        "base_url": f"{fake_provider.url}/v1",
    }
    wrong = api.post("/api/models/fetch-available-models", body, format="json")
    assert wrong.json() == {"success": False, "message": "API Key authentication failed", "models": []}
    missing_path = api.post(
        "/api/models/fetch-available-models",
        {**body, "api_key": GOOD_KEY, "base_url": f"{fake_provider.url}/nope"},
        format="json",
    )
    assert missing_path.json()["success"] is False
    unreachable = {**body, "base_url": f"http://127.0.0.1:{free_port()}/v1"}
    assert api.post("/api/models/fetch-available-models", unreachable, format="json").json() == {
        "success": False,
        "message": "Network connection failed",
        "models": [],
    }
    assert api.post(
        "/api/models/fetch-available-models", {"provider_type": "openai"}, format="json"
    ).json() == {
        "success": False,
        "message": "Missing required fields: provider_type, api_key",
        "models": [],
    }
    assert (
        api.post(
            "/api/models/fetch-available-models", {**body, "provider_type": "acme"}, format="json"
        ).json()["message"]
        == "Unsupported provider type: acme"
    )
    assert_validation_error(
        api.post("/api/models/fetch-available-models", {"api_key": 5 * ["x"]}, format="json")
    )
    assert anon_client.post("/api/models/fetch-available-models", body, format="json").status_code == 401


def test_compatible_models_route_is_reachable(api, anon_client, catalogue):
    """The reference registers /models/compatible behind /models/{id} (422); here it answers."""
    response = api.get("/api/models/compatible?shell_type=ClaudeCode")
    assert response.status_code == 200
    assert [m["name"] for m in response.json()["data"]] == ["a-claude", "shared"]
    assert "b-model" not in response.content.decode()  # another user's model
    assert_no_secret(response)
    assert_validation_error(api.get("/api/models/compatible"), "shell_type")
    assert anon_client.get("/api/models/compatible?shell_type=Chat").status_code == 401


# --- the settings page sends back the masked key it was shown (frontend flows e9, e10) ---------

MASK_TWIN_KEY = "sk-twin-secret-key-y-42"  # shows as the same mask as GOOD_KEY


def model_at(name: str, key: str, base_url: str | None, provider: str = "openai") -> dict[str, Any]:
    document = provider_model(name, provider, key)
    env = document["spec"]["modelConfig"]["env"]
    env.pop("base_url")
    if base_url:
        env["base_url"] = base_url
    return document


def page_bodies(shown: str, base_url: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Load Models, Test Connection) exactly as the edit dialog sends them: no model_name."""
    load = {"provider_type": "openai", "api_key": shown, "base_url": base_url}
    test = {**load, "model_id": "fake-n20", "model_category_type": "llm"}
    return load, test


def test_settings_page_masked_key_uses_the_callers_stored_key(api, user, make_kind, fake_provider):
    make_kind(user, model_at("mine", GOOD_KEY, f"{fake_provider.url}/v1"))
    listed = api.get("/api/models/unified?include_config=true&scope=personal").json()["data"]
    env = next(item for item in listed if item["name"] == "mine")["config"]["env"]
    assert env["api_key"] == "****y-42"
    load, test = page_bodies(env["api_key"], env["base_url"])

    loaded = api.post("/api/models/fetch-available-models", load, format="json")
    assert loaded.json()["success"] is True, loaded.json()
    assert loaded.json()["models"][0]["id"] == "fake-1"
    tested = api.post("/api/models/test-connection", test, format="json")
    assert tested.json() == {
        "success": True,
        "message": "Successfully connected to fake-n20 using Chat Completions API",
    }
    assert [r["headers"]["authorization"] for r in fake_provider.requests] == 2 * [f"Bearer {GOOD_KEY}"]
    assert GOOD_KEY not in loaded.content.decode() + tested.content.decode()


def _refused(api: Any, shown: str, base_url: str | None) -> None:
    load, test = page_bodies(shown, base_url)
    assert api.post("/api/models/fetch-available-models", load, format="json").json() == {
        "success": False,
        "message": "The API key is masked; send the key, or model_name (and namespace) to use the stored key",
        "models": [],
    }
    tested = api.post("/api/models/test-connection", test, format="json").json()
    assert tested["success"] is False and "The API key is masked" in tested["message"]


def test_masked_key_of_another_user_or_at_another_url_is_refused(
    api, user, other_user, make_kind, fake_provider
):
    other = FakeProvider()
    other.thread.start()
    try:
        make_kind(user, model_at("mine", GOOD_KEY, f"{fake_provider.url}/v1"))
        make_kind(other_user, model_at("bobs", MASK_TWIN_KEY, f"{other.url}/v1"))
        _refused(api, "****y-42", f"{other.url}/v1")  # Bob's mask and URL: Bob's key is not usable
        _refused(api, "****y-42", f"{fake_provider.url}/elsewhere")  # own mask, another URL
        _refused(api, "****0000", f"{fake_provider.url}/v1")  # no key shows as this mask
        assert fake_provider.requests == [] and other.requests == []
    finally:
        other.server.shutdown()
        other.server.server_close()


def test_ambiguous_mask_is_refused(api, user, make_kind, fake_provider):
    make_kind(user, model_at("one", GOOD_KEY, f"{fake_provider.url}/v1"))
    make_kind(user, model_at("two", MASK_TWIN_KEY, f"{fake_provider.url}/v1/"))
    _refused(api, "****y-42", f"{fake_provider.url}/v1")
    assert fake_provider.requests == []


def test_masked_key_without_a_url_stays_with_its_provider(api, user, make_kind, fake_provider):
    make_kind(user, model_at("no-url", GOOD_KEY, None))
    body = {"provider_type": "anthropic", "api_key": "****y-42", "base_url": None}
    assert api.post("/api/models/fetch-available-models", body, format="json").json()["success"] is False
    assert fake_provider.requests == []


def test_a_public_models_masked_key_is_usable_and_stays_masked(api, admin_user, make_kind, fake_provider):
    make_kind(admin_user, model_at("shared", GOOD_KEY, f"{fake_provider.url}/v1"), public=True)
    load, _ = page_bodies("****y-42", f"{fake_provider.url}/v1")
    loaded = api.post("/api/models/fetch-available-models", load, format="json")
    assert loaded.json()["success"] is True
    assert GOOD_KEY not in loaded.content.decode()


def test_a_group_models_masked_key_is_usable_by_its_readers_only(
    api, user, other_user, make_user, make_kind, fake_provider, client_for
):
    group = make_group(make_user, "team-a", {user: GroupRole.REPORTER})
    make_kind(group.owner, model_at("group-model", GOOD_KEY, f"{fake_provider.url}/v1"), namespace="team-a")
    load, _ = page_bodies("****y-42", f"{fake_provider.url}/v1")
    assert api.post("/api/models/fetch-available-models", load, format="json").json()["success"] is True
    outsider = client_for(other_user).post("/api/models/fetch-available-models", load, format="json")
    assert outsider.json()["success"] is False
    assert len(fake_provider.requests) == 1
