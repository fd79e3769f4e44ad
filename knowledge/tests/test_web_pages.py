"""``/api/web-scraper``: a page from a real loopback HTTP server becomes an indexed web document;
refresh re-reads it; the outbound guard refuses private addresses; failures are reported."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from knowledge.models import KnowledgeChunk
from knowledge.tests import factories as f
from wegent.tests.helpers import free_port

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = {
    "/page": (
        200,
        "<html><head><title>Tides</title><meta name='description' content='About tides'>"
        "<style>p{color:red}</style><script>alert(1)</script></head><body><h1>Tides</h1>"
        "<p>Tides rise twice a day because of the moon.</p><ul><li>Spring tides</li></ul></body></html>",
    ),
    "/empty": (200, "<html><body><script>x()</script></body></html>"),
    "/secret": (401, "no"),
}


class _Site(BaseHTTPRequestHandler):
    version = {"n": 0}

    def do_GET(self) -> None:
        status, body = PAGES.get(self.path, (404, "missing"))
        if self.path == "/page" and self.version["n"]:
            body = body.replace("the moon", "the moon and the sun")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    _Site.version["n"] = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_page_becomes_an_indexed_web_document_and_refreshes(api, user, fake_embed, site):
    f.embedding_model(user, fake_embed.base_url)
    kb = f.make_kb(user, rag=f.retrieval_config())
    body = {"url": f"{site}/page", "knowledge_base_id": kb.pk}
    result = api.post("/api/web-scraper/create-document", body, format="json").json()
    assert result["success"] is True, result
    doc = result["document"]
    assert doc["source_type"] == "web" and doc["name"] == "Tides.md" and doc["index_status"] == "ready"
    assert doc["source_config"]["title"] == "Tides" and doc["source_config"]["url"] == f"{site}/page"
    text = "\n".join(KnowledgeChunk.objects.filter(document_id=doc["id"]).values_list("content", flat=True))
    assert "# Tides" in text and "twice a day" in text and "- Spring tides" in text
    assert "alert" not in text and "color" not in text
    _Site.version["n"] = 1
    refreshed = api.post(
        "/api/web-scraper/refresh-document", {"document_id": doc["id"]}, format="json"
    ).json()
    assert refreshed["success"] is True
    text = "\n".join(KnowledgeChunk.objects.filter(document_id=doc["id"]).values_list("content", flat=True))
    assert "the moon and the sun" in text


def test_scrape_failures(api, site, settings):
    def scrape(url):  # type: ignore[no-untyped-def]
        return api.post("/api/web-scraper/scrape", {"url": url}, format="json").json()

    assert scrape(f"{site}/page")["title"] == "Tides"
    assert scrape(f"{site}/empty")["error_code"] == "EMPTY_CONTENT"
    assert scrape(f"{site}/secret")["error_code"] == "AUTH_REQUIRED"
    assert scrape(f"{site}/missing")["error_code"] == "FETCH_FAILED"
    assert scrape("ftp://example.org/x")["error_code"] == "INVALID_URL_FORMAT"
    assert scrape(f"http://127.0.0.1:{free_port()}/")["error_code"] == "FETCH_FAILED"
    settings.OUTBOUND_ALLOWLIST = []
    for url in (f"{site}/page", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/"):
        assert scrape(url)["error_code"] == "SSRF_BLOCKED", url


def test_another_users_kb_and_bad_bodies(api, other_user, client_for, site, user):
    kb = f.make_kb(user)
    bob = client_for(other_user)
    response = bob.post(
        "/api/web-scraper/create-document", {"url": f"{site}/page", "knowledge_base_id": kb.pk}, format="json"
    )
    assert response.status_code == 404
    assert api.post("/api/web-scraper/create-document", {"url": 5}, format="json").status_code == 422
    assert (
        api.post("/api/web-scraper/refresh-document", {"document_id": 999}, format="json").status_code == 404
    )
