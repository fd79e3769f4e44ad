"""``/api/retrievers``: Retriever kinds by name (CRUD through the Kind services), storage types,
and the connection test against a real loopback HTTP server (and a closed port)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from knowledge.tests import factories as f
from wegent.tests.helpers import free_port

pytestmark = pytest.mark.django_db

URL = "/api/retrievers"


def retriever(name: str = "es-main", namespace: str = "default", url: str = "http://127.0.0.1:9200") -> dict:
    return {
        "apiVersion": "agent.wecode.io/v1",
        "kind": "Retriever",
        "metadata": {"name": name, "namespace": namespace, "displayName": "Main ES"},
        "spec": {
            "storageConfig": {
                "type": "elasticsearch",
                "url": url,
                "password": "hunter2-secret",
                "indexStrategy": {"mode": "per_dataset"},
            }
        },
    }


class _Store(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path in ("/", "/collections") else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def store(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_crud_by_name(api):
    created = api.post(URL, retriever(), format="json")
    assert created.status_code == 200, created.content
    assert created.json()["spec"]["storageConfig"]["password"] != "hunter2-secret"  # masked
    listed = api.get(URL).json()["data"]
    assert listed == [
        {
            "name": "es-main",
            "type": "user",
            "displayName": "Main ES",
            "storageType": "elasticsearch",
            "namespace": "default",
        }
    ]
    assert api.get(f"{URL}/es-main").json()["metadata"]["name"] == "es-main"
    body = retriever(url="http://127.0.0.1:9300")
    assert (
        api.put(f"{URL}/es-main", body, format="json")
        .json()["spec"]["storageConfig"]["url"]
        .endswith(":9300")
    )
    assert api.delete(f"{URL}/es-main").json() == {"message": "Retriever deleted successfully"}
    assert api.get(f"{URL}/es-main").status_code == 404


def test_bad_bodies_and_other_users(api, client_for, other_user):
    bad = retriever()
    bad["spec"]["storageConfig"]["type"] = "milvus"
    assert api.post(URL, bad, format="json").status_code in (400, 422)  # the Kind API's validation answer
    assert api.post(URL, {"kind": "Retriever"}, format="json").status_code in (400, 422)
    api.post(URL, retriever(), format="json")
    bob = client_for(other_user)
    assert bob.get(f"{URL}/es-main").status_code == 404
    assert bob.delete(f"{URL}/es-main").status_code == 404
    assert bob.get(URL).json()["data"] == []
    assert api.get(URL, {"scope": "group"}).status_code == 404
    assert api.get(URL, {"scope": "everything"}).status_code == 422


def test_group_retrievers(user, other_user, client_for):
    f.make_group("team", user, bob="Reporter")
    alice, bob = client_for(user), client_for(other_user)
    assert alice.post(URL, retriever("g-es", "team"), format="json").status_code == 200
    assert bob.post(URL, retriever("mine", "team"), format="json").status_code in (403, 404)
    items = bob.get(URL, {"scope": "group", "group_name": "team"}).json()["data"]
    assert [(i["name"], i["type"]) for i in items] == [("g-es", "group")]
    assert [i["name"] for i in bob.get(URL, {"scope": "all"}).json()["data"]] == ["g-es"]


def test_storage_types(api):
    assert api.get(f"{URL}/storage-types/retrieval-methods").json() == {
        "data": {"elasticsearch": ["vector", "keyword", "hybrid"], "qdrant": ["vector"]},
        "storage_types": ["elasticsearch", "qdrant"],
    }
    assert api.get(f"{URL}/storage-types/qdrant/retrieval-methods").json() == {
        "storage_type": "qdrant",
        "retrieval_methods": ["vector"],
    }
    assert api.get(f"{URL}/storage-types/milvus/retrieval-methods").status_code == 400


def test_connection(api, store, settings):
    ok = api.post(
        f"{URL}/test-connection", {"storage_type": "qdrant", "url": store, "api_key": "k"}, format="json"
    )
    assert ok.json() == {"success": True, "message": "Successfully connected to qdrant"}
    down = f"http://127.0.0.1:{free_port()}"
    failed = api.post(
        f"{URL}/test-connection", {"storage_type": "elasticsearch", "url": down}, format="json"
    ).json()
    assert failed["success"] is False and "Connection failed" in failed["message"]
    missing = api.post(f"{URL}/test-connection", {"url": store}, format="json").json()
    assert missing == {"success": False, "message": "Missing required fields: storage_type, url"}
    settings.OUTBOUND_ALLOWLIST = []
    refused = api.post(
        f"{URL}/test-connection", {"storage_type": "qdrant", "url": store}, format="json"
    ).json()
    assert refused["success"] is False and "loopback" in refused["message"]


def test_needs_credentials(anon_client):
    assert anon_client.get(URL).status_code == 401
    assert anon_client.post(f"{URL}/test-connection", {}, format="json").status_code == 401


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://127.0.0.1/x", "http://", "http://[::1", "http://169.254.169.254"]
)
def test_connection_to_bad_urls_is_a_failed_test(api, url):
    body = {"storage_type": "elasticsearch", "url": url}
    response = api.post(f"{URL}/test-connection", body, format="json")
    assert response.status_code == 200 and response.json()["success"] is False
