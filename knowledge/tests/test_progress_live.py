"""Indexing progress reaches the uploader over ``/chat`` (the real ASGI server on loopback and the
real python-socketio client): pending -> indexing percents -> ready, or failed with a reason; and
nobody else receives it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat.tests.sockets import connect
from knowledge.tests import factories as f

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def watch(url: str, users: list[Any], work: Any) -> list[list[dict[str, Any]]]:
    async def scenario() -> list[list[dict[str, Any]]]:
        clients = [await connect(url, u) for u in users]
        doc = await asyncio.to_thread(work)
        await clients[0].wait_for(
            "knowledge:document_status",
            lambda d: d["document_id"] == doc.pk and d["index_status"] in ("ready", "failed"),
            timeout=20,
        )
        seen = [c.named("knowledge:document_status") for c in clients]
        for c in clients:
            await c.close()
        return seen

    return asyncio.run(scenario())


def test_progress_is_pushed_to_the_uploader(live_server_url, user, other_user, fake_embed, settings):
    settings.KNOWLEDGE_EMBED_BATCH = 1
    f.embedding_model(user, fake_embed.base_url)
    kb = f.make_kb(user, rag=f.retrieval_config())
    text = "\n\n".join(f"Section {i} about topic {i}. " * 10 for i in range(4)).encode()
    mine, theirs = watch(
        live_server_url,
        [user, other_user],
        lambda: f.add_document(user, kb, "a.txt", text, type="sentence", chunk_size=200, chunk_overlap=0),
    )
    states = [(e["index_status"], e["progress"]) for e in mine]
    assert states[0] == ("indexing", 5) and states[-1] == ("ready", 100)
    percents = [p for s, p in states if s == "indexing"]
    assert percents == sorted(percents) and len(percents) > 3  # one step per embedding batch
    assert mine[-1]["status"] == "enabled" and mine[-1]["chunk_count"] > 1
    assert theirs == []


def test_failure_is_pushed_with_its_reason(live_server_url, user, fake_embed):
    f.embedding_model(user, fake_embed.base_url, model_id="fake-embed-error-503")
    kb = f.make_kb(user, rag=f.retrieval_config())
    (mine,) = watch(live_server_url, [user], lambda: f.add_document(user, kb, "a.txt", b"words here"))
    assert mine[-1]["index_status"] == "failed" and "HTTP 503" in mine[-1]["error"]
