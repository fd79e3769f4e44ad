"""``GET /api/tables``: the table documents (knowledge documents of source type ``table``) the
caller can reach. None exist until tables are built, so the answer is the reference's list
envelope, empty; the web frontend calls it on every page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_tables_is_an_empty_list_envelope(api):
    response = api.get("/api/tables")
    assert response.status_code == 200
    assert response.json() == {"total": 0, "items": []}


def test_tables_needs_credentials(anon_client, client_for, user):
    bad_token = client_for(user)
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    for client in (anon_client, bad_token):
        assert client.get("/api/tables").status_code == 401


def test_openapi_describes_tables(anon_client):
    paths = anon_client.get("/api/openapi.json").json()["paths"]
    assert "get" in paths["/api/tables"]


def test_tables_lists_table_documents_of_readable_knowledge_bases(api, user, other_user, client_for):
    from knowledge.services import documents
    from knowledge.tests import factories as f

    kb = f.make_kb(user)
    url = "https://example.org/notable/1"
    body = documents.DocumentInput(name="Sales", source_type="table", source_config={"url": url})
    doc = documents.create(actor=user, kb_id=kb.pk, data=body)
    f.add_document(user, kb, "a.txt", b"not a table")
    listed = api.get("/api/tables").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == doc.pk
    assert listed["items"][0]["source_config"] == {"url": url} and listed["items"][0]["attachment_id"] == 0
    assert client_for(other_user).get("/api/tables").json() == {"total": 0, "items": []}
