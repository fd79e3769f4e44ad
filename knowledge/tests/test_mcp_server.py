"""The Knowledge MCP server at ``/mcp/knowledge/sse`` (and ``/api/mcp/knowledge/sse``), driven by
the official ``mcp`` client over streamable HTTP against the real ASGI app on loopback: task
token auth, the five tools acting as the token's user, a document created through MCP indexed
and found by retrieval, and the refusals (no token, a user JWT, a forged or expired token, a
token for a deleted task, another user's knowledge base, bad arguments)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from typing import Any

import httpx
import httpx2
import jwt
import pytest
from django.conf import settings
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from accounts.services.tokens import issue_access_token
from kinds.tests.factories import bot_stack
from knowledge.models import KnowledgeDocument
from knowledge.services import retrieval
from knowledge.tests import factories as kf
from tasks.models import TaskResource
from tasks.tests.factories import make_task
from tasks.tests.test_attachments_parser import make_pdf

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

PATH = "/mcp/knowledge/sse"


def a_task(user: Any, prefix: str = "m") -> TaskResource:
    return make_task(user, bot_stack(user, prefix)["team"]).task


def task_token(user: Any, task_id: int, *, kind: str = "task_token", minutes: int = 60, key: str = "") -> str:
    claims = {
        "task_id": task_id,
        "subtask_id": 1,
        "user_id": user.pk,
        "user_name": user.user_name,
        "type": kind,
        "exp": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes),
    }
    return jwt.encode(claims, key or settings.JWT_SECRET_KEY, algorithm="HS256")


async def _session_calls(
    url: str, token: str, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[list[str], list[Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        names = sorted(tool.name for tool in (await session.list_tools()).tools)
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
    return names, results


def run_calls(url: str, token: str, *calls: tuple[str, dict[str, Any]]) -> tuple[list[str], list[Any]]:
    return asyncio.run(_session_calls(url, token, list(calls)))


def payload(result: Any) -> Any:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def error_text(result: Any) -> str:
    assert result.is_error
    return result.content[0].text


@pytest.fixture
def embed(settings: Any) -> Any:
    from knowledge.tests.fake_embed import FakeEmbedServer

    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    with FakeEmbedServer() as server:
        yield server


def test_tools_act_as_the_task_tokens_user(
    live_server_url: str, user: Any, other_user: Any, embed: Any
) -> None:
    kf.embedding_model(user, embed.base_url)
    mine = kf.make_kb(user, "Handbook")
    theirs = kf.make_kb(other_user, "Secret")
    task = a_task(user)
    token = task_token(user, task.pk)
    names, results = run_calls(
        live_server_url + PATH,
        token,
        ("list_knowledge_bases", {}),
        ("create_knowledge_base", {"name": "Agent notes", "description": "made by an agent"}),
    )
    assert names == [
        "create_document",
        "create_knowledge_base",
        "list_documents",
        "list_knowledge_bases",
        "update_document_content",
    ]
    listed = payload(results[0])
    assert [kb["id"] for kb in listed] == [mine.pk]  # never another user's
    created = payload(results[1])
    assert created["name"] == "Agent notes" and created["rag_enabled"] is True
    new_kb = kf.Kind.objects.get(pk=created["id"])
    assert new_kb.owner_id == user.pk
    config = new_kb.spec["retrievalConfig"]
    assert config["embedding_config"]["model_name"] == "embedder" and config["score_threshold"] == 0.5

    pdf = base64.b64encode(make_pdf(["Penguins huddle in the antarctic winter"])).decode()
    _, results = run_calls(
        live_server_url + "/api" + PATH,  # also under /api
        token,
        (
            "create_document",
            {"knowledge_base_id": new_kb.pk, "name": "notes", "content": "Backups run nightly."},
        ),
        (
            "create_document",
            {"knowledge_base_id": new_kb.pk, "name": "zoo", "file_base64": pdf, "file_extension": "pdf"},
        ),
        ("list_documents", {"knowledge_base_id": new_kb.pk}),
        ("list_documents", {"knowledge_base_id": theirs.pk}),
        ("create_document", {"knowledge_base_id": theirs.pk, "name": "x", "content": "intrusion"}),
    )
    text_doc, pdf_doc = payload(results[0]), payload(results[1])
    assert text_doc["name"] == "notes.md" and text_doc["source_type"] == "text"
    assert pdf_doc["name"] == "zoo.pdf" and pdf_doc["index_status"] == "ready"  # eager Celery in tests
    assert [d["id"] for d in payload(results[2])] == [text_doc["id"], pdf_doc["id"]]
    assert "not found" in error_text(results[3]).lower()
    assert "not found" in error_text(results[4]).lower()
    assert not KnowledgeDocument.objects.filter(kind_id=theirs.pk).exists()
    hits = retrieval.search(new_kb, retrieval.query_for(new_kb, "penguins in winter"))
    assert hits and hits[0].document_name == "zoo.pdf"

    _, results = run_calls(
        live_server_url + PATH,
        token,
        (
            "update_document_content",
            {"document_id": text_doc["id"], "content": "Snapshots are kept for thirty days."},
        ),
    )
    assert payload(results[0])["id"] == text_doc["id"]
    hits = retrieval.search(
        new_kb, retrieval.query_for(new_kb, "how long are snapshots kept", mode="keyword")
    )
    assert hits and hits[0].document_name == "notes.md" and "thirty days" in hits[0].content


def test_bad_arguments_are_tool_errors(live_server_url: str, user: Any) -> None:
    kb = kf.make_kb(user)
    token = task_token(user, a_task(user).pk)
    _, results = run_calls(
        live_server_url + PATH,
        token,
        ("list_knowledge_bases", {"scope": "everything"}),
        ("create_document", {"knowledge_base_id": kb.pk, "name": "x"}),
        (
            "create_document",
            {"knowledge_base_id": kb.pk, "name": "x", "file_base64": "%%%", "file_extension": "pdf"},
        ),
        ("create_document", {"knowledge_base_id": kb.pk, "name": "x", "content": ""}),
        ("create_knowledge_base", {"name": "y", "kb_type": "wiki"}),
        ("create_knowledge_base", {"name": "z", "namespace": "no-such-group"}),
        ("list_documents", {"knowledge_base_id": "abc"}),
    )
    assert all(r.is_error for r in results), [r.content for r in results]
    assert "scope" in error_text(results[0]) and "exactly one" in error_text(results[1])
    assert "base64" in error_text(results[2]) and "empty" in error_text(results[3])
    assert not KnowledgeDocument.objects.exists()
    assert kf.Kind.objects.filter(kind="KnowledgeBase").count() == 1  # nothing half-made


def test_requests_without_a_valid_task_token_get_401(live_server_url: str, user: Any) -> None:
    task = a_task(user)
    url = live_server_url + PATH
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    deleted_id = a_task(user, "gone").pk
    TaskResource.objects.filter(pk=deleted_id).update(is_active=False)
    refused = {
        "none": None,
        "user JWT": issue_access_token(user),
        "forged": task_token(user, task.pk, key="not-the-server-key-but-32-bytes-long"),
        "expired": task_token(user, task.pk, minutes=-5),
        "wrong type": task_token(user, task.pk, kind="refresh"),
        "deleted task": task_token(user, deleted_id),
        "garbage": "abc.def.ghi",
    }
    for label, token in refused.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(url, json=body, headers=headers, timeout=10)
        assert response.status_code == 401, label
        assert "detail" in response.json(), label
    # The executor payload's tokens (type "task") are accepted too.
    names, _ = run_calls(url, task_token(user, task.pk, kind="task"))
    assert "list_documents" in names
    assert httpx.post(live_server_url + "/mcp/knowledge/other", json=body, timeout=10).status_code == 404
