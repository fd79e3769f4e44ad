"""Knowledge bases in a chat turn, end to end: the real ASGI app on loopback, the real
python-socketio client, the fake LLM calling ``knowledge_base_search`` and the fake embedding
server; the answer carries numbered sources that point at the right document, ``chat:sources``
announces them and the stored answer keeps them. Another user's knowledge base in ``contexts``
gives no tool and no chunk."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chat.tests.factories import model_doc_for
from chat.tests.fake_llm import FakeLLMServer
from chat.tests.sockets import connect
from kinds.tests.factories import bot_doc, ghost_doc, make_kind, shell_doc, team_doc
from knowledge.tests import factories as kf
from knowledge.tests.fake_embed import FakeEmbedServer
from tasks.models import Subtask
from tasks.services import task_knowledge
from tasks.tests.test_attachments_parser import make_pdf

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

GUIDE = (
    b"# Installation\n\nDownload the installer and run it as administrator.\n\n"
    b"# Backups\n\nBackups run nightly and snapshots are kept for thirty days.\n"
)


def call(query: str) -> str:
    return "@call knowledge_base_search " + json.dumps({"query": query}) + "\nGo"


@pytest.fixture
def embed(settings: Any) -> Iterator[FakeEmbedServer]:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    with FakeEmbedServer() as server:
        yield server


def make_team(owner: Any, llm: FakeLLMServer) -> Any:
    make_kind(owner, ghost_doc("k-ghost", "You are a test bot."))
    make_kind(owner, shell_doc("k-shell"))
    make_kind(owner, model_doc_for(llm, "k-model", "fake-tools-n3"))
    make_kind(owner, bot_doc("k-bot", "k-ghost", "k-shell", "k-model"))
    return make_kind(owner, team_doc("k-team", ["k-bot"]))


def make_kb(owner: Any, embed: FakeEmbedServer, name: str = "Handbook") -> tuple[Any, dict[str, Any]]:
    if not kf.Kind.objects.filter(name="embedder", owner=owner).exists():
        kf.embedding_model(owner, embed.base_url)
    kb = kf.make_kb(owner, name, rag=kf.retrieval_config())
    docs = {
        "guide": kf.add_document(owner, kb, "guide.md", GUIDE),
        "zoo": kf.add_document(owner, kb, "zoo.pdf", make_pdf(["Penguins huddle in the antarctic winter"])),
    }
    assert all(d.index_status == "ready" for d in docs.values())
    return kb, docs


def run_turn(
    url: str, user: Any, payload: dict[str, Any], chunks: list[Any] | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """The answer's ``chat:done`` result and the ``chat:sources`` events (``chunks`` gets the
    ``chat:chunk`` events when given)."""

    async def scenario() -> tuple[dict[str, Any], list[Any]]:
        client = await connect(url, user)
        ack = await client.call("chat:send", payload)
        assert "task_id" in ack, ack
        done = await client.wait_for("chat:done", timeout=30)
        sources = client.named("chat:sources")
        if chunks is not None:
            chunks.extend(client.named("chat:chunk"))
        await client.close()
        return done["result"], sources

    return asyncio.run(scenario())


def tool_output(result: dict[str, Any]) -> dict[str, Any]:
    value = result["value"]
    assert value.startswith("Tool results: "), value
    return json.loads(value[len("Tool results: ") : value.rindex("w0 w1 w2")])


@pytest.mark.parametrize("window", [128_000, 100])  # small KB injected whole; else retrieval
def test_search_answers_with_numbered_sources(
    live_server_url: str,
    user: Any,
    fake_llm: FakeLLMServer,
    embed: FakeEmbedServer,
    settings: Any,
    window: int,
) -> None:
    settings.KNOWLEDGE_CONTEXT_WINDOW = window
    team = make_team(user, fake_llm)
    kb, docs = make_kb(user, embed)
    contexts = [{"type": "knowledge_base", "data": {"knowledge_id": kb.pk, "name": "Handbook"}}]
    payload = {
        "team_id": team.pk,
        "message": call("how long are backup snapshots kept"),
        "contexts": contexts,
    }
    chunks: list[Any] = []
    result, announced = run_turn(live_server_url, user, payload, chunks)
    output = tool_output(result)
    assert output["mode"] == ("direct_injection" if window > 1000 else "rag_retrieval")
    top = (
        output["results"][0]
        if window < 1000
        else next(r for r in output["results"] if "thirty" in r["content"])
    )
    assert "thirty days" in top["content"] and top["source"] == "guide.md"
    sources = result["sources"]
    first = sources[0]
    assert {k: first[k] for k in ("index", "title", "kb_id", "url", "document_id")} == {
        "index": 1,
        "title": top["source"],
        "kb_id": kb.pk,
        "url": None,
        "document_id": docs["guide"].pk,
    }
    assert first["snippet"] and first["snippet"] in GUIDE.decode()
    # The tool's closing chunk already carries the sources (before chat:done).
    tool_views = [c["result"] for c in chunks if c.get("result") and c["result"].get("sources")]
    assert tool_views and tool_views[-1]["sources"] == sources
    assert not any((c.get("result") or {}).get("sources") for c in chunks[:1])
    assert [s["index"] for s in sources] == list(range(1, len(sources) + 1))  # numbered, no duplicates
    assert len({(s["kb_id"], s["title"]) for s in sources}) == len(sources)
    assert announced and announced[-1]["sources"] == sources
    stored = Subtask.objects.get(role="ASSISTANT").result
    assert stored["sources"] == sources
    system = fake_llm.requests[0].body["messages"][0]["content"]
    assert "<knowledge_base>" in system and f"Handbook (ID: {kb.pk}" in system and "only from" in system


def test_task_bound_knowledge_base_is_searched_with_the_relaxed_prompt(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, embed: FakeEmbedServer, settings: Any
) -> None:
    settings.KNOWLEDGE_CONTEXT_WINDOW = 100
    team = make_team(user, fake_llm)
    kb, _ = make_kb(user, embed)
    run_turn(live_server_url, user, {"team_id": team.pk, "message": "hello"})
    task_id = Subtask.objects.get(role="ASSISTANT").task_id
    task = Subtask.objects.get(role="ASSISTANT").task
    task.document["spec"]["is_group_chat"] = True
    task.save()
    task_knowledge.bind(actor=user, task_id=task_id, kb_name=kb.name)
    fake_llm.clear()
    result, _ = run_turn(
        live_server_url,
        user,
        {"team_id": team.pk, "task_id": task_id, "message": f"@{team.name}\n" + call("penguins")},
    )
    assert tool_output(result)["results"][0]["source"] == "zoo.pdf"
    system = fake_llm.requests[0].body["messages"][0]["content"]
    assert "attached to this conversation" in system


def test_another_users_knowledge_base_gives_nothing(
    live_server_url: str, user: Any, other_user: Any, fake_llm: FakeLLMServer, embed: FakeEmbedServer
) -> None:
    team = make_team(user, fake_llm)
    theirs, _ = make_kb(other_user, embed, "Secret")
    contexts = [{"type": "knowledge_base", "data": {"knowledge_id": theirs.pk}}]
    result, announced = run_turn(
        live_server_url, user, {"team_id": team.pk, "message": call("penguins"), "contexts": contexts}
    )
    assert "Penguins" not in json.dumps(result)
    assert not result.get("sources") and announced == []
    assert all(
        "knowledge_base_search" not in json.dumps(r.body.get("tools") or []) for r in fake_llm.requests
    )


def test_kb_ls_and_kb_head_share_the_call_limit(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, embed: FakeEmbedServer
) -> None:
    team = make_team(user, fake_llm)
    kb, docs = make_kb(user, embed)
    kf.bases.update(actor=user, kb_id=kb.pk, max_calls=2, exempt_calls=1)
    lines = [
        "@call kb_ls " + json.dumps({"knowledge_base_id": kb.pk}),
        "@call kb_head " + json.dumps({"document_id": docs["guide"].pk, "limit": 40}),
        "@call kb_head " + json.dumps({"document_id": docs["zoo"].pk}),
    ]
    contexts = [{"type": "knowledge_base", "data": {"knowledge_id": kb.pk}}]
    result, _ = run_turn(
        live_server_url,
        user,
        {"team_id": team.pk, "message": "\n".join([*lines, "Go"]), "contexts": contexts},
    )
    value = result["value"]
    assert '"name": "guide.md"' in value and '"has_more": true' in value
    assert "at most 2 times" in value  # the third call is refused


def test_the_message_keeps_its_knowledge_context_and_qa_history_lists_it(
    live_server_url: str,
    user: Any,
    other_user: Any,
    fake_llm: FakeLLMServer,
    embed: FakeEmbedServer,
    settings: Any,
    client_for: Any,
) -> None:
    from datetime import UTC, datetime, timedelta

    from tasks.models import SubtaskContext

    settings.KNOWLEDGE_CONTEXT_WINDOW = 100
    team = make_team(user, fake_llm)
    kb, _ = make_kb(user, embed)
    contexts = [{"type": "knowledge_base", "data": {"knowledge_id": kb.pk}}]
    run_turn(
        live_server_url,
        user,
        {"team_id": team.pk, "message": call("penguins antarctic"), "contexts": contexts},
    )
    context = SubtaskContext.objects.get(context_type="knowledge_base")
    assert context.subtask.role == "USER" and context.status == "ready"
    rag = context.type_data["rag_result"]
    assert rag["injection_mode"] == "rag_retrieval" and rag["query"] == "penguins antarctic"
    assert rag["sources"][0]["title"] == "zoo.pdf" and "Penguins" in context.extracted_text
    now = datetime.now(UTC)
    window = {
        "start_time": (now - timedelta(hours=1)).isoformat(),
        "end_time": (now + timedelta(hours=1)).isoformat(),
    }
    history = client_for(user).get("/api/v1/knowledge-base/qa-history", window).json()
    assert history["pagination"]["total"] == 1
    item = history["items"][0]
    assert item["user_prompt"].startswith("@call knowledge_base_search")
    assert item["assistant_answer"].startswith("Tool results:")
    assert item["knowledge_base_config"]["id"] == kb.pk
    assert item["knowledge_base_result"]["type_data"]["sources"][0]["title"] == "zoo.pdf"
    assert client_for(other_user).get("/api/v1/knowledge-base/qa-history", window).json()["items"] == []
    too_long = {**window, "start_time": (now - timedelta(days=31)).isoformat()}
    assert client_for(user).get("/api/v1/knowledge-base/qa-history", too_long).status_code == 422
    assert client_for(user).get("/api/v1/knowledge-base/qa-history").status_code == 422
    # The next answer's history carries what this message retrieved.
    from chat import history

    past = history.history(context.subtask.task)
    assert past[0]["role"] == "user" and f"[Knowledge Base: Handbook (ID: {kb.pk})]" in past[0]["content"]
    assert "Penguins" in past[0]["content"] and past[0]["content"].endswith("Go")


def test_selected_documents_small_enough_are_given_whole(
    live_server_url: str, user: Any, other_user: Any, fake_llm: FakeLLMServer, embed: FakeEmbedServer
) -> None:
    team = make_team(user, fake_llm)
    kb, docs = make_kb(user, embed)
    theirs, their_docs = make_kb(other_user, embed, "Secret")
    contexts = [
        {
            "type": "selected_documents",
            "data": {"knowledge_base_id": kb.pk, "document_ids": [docs["zoo"].pk]},
        },
        # Another user's knowledge base, and their document id under mine: both left out.
        {
            "type": "selected_documents",
            "data": {"knowledge_base_id": theirs.pk, "document_ids": [their_docs["guide"].pk]},
        },
        {
            "type": "selected_documents",
            "data": {"knowledge_base_id": kb.pk, "document_ids": [their_docs["zoo"].pk]},
        },
    ]
    run_turn(
        live_server_url, user, {"team_id": team.pk, "message": "what do penguins do", "contexts": contexts}
    )
    request = fake_llm.requests[0].body
    system = request["messages"][0]["content"]
    assert "<selected_documents>" in system and f"[Document: zoo.pdf (ID: {docs['zoo'].pk})]" in system
    assert "Penguins huddle" in system
    assert "thirty days" not in system  # the guide was not selected (its KB is mine, theirs is not)
    assert system.count("[Document:") == 1
    assert "knowledge_base_search" not in json.dumps(request.get("tools") or [])


def test_selected_documents_too_large_narrow_the_search(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, embed: FakeEmbedServer, settings: Any
) -> None:
    settings.KNOWLEDGE_CONTEXT_WINDOW = 100  # nothing fits: the tool searches the selection only
    team = make_team(user, fake_llm)
    kb, docs = make_kb(user, embed)
    contexts = [
        {"type": "selected_documents", "data": {"knowledge_base_id": kb.pk, "document_ids": [docs["zoo"].pk]}}
    ]
    result, _ = run_turn(
        live_server_url,
        user,
        {"team_id": team.pk, "message": call("how long are backup snapshots kept"), "contexts": contexts},
    )
    output = tool_output(result)
    assert output["mode"] == "rag_retrieval" and output["results"]
    assert {r["source"] for r in output["results"]} == {"zoo.pdf"}
    assert [s["title"] for s in result["sources"]] == ["zoo.pdf"]
    assert "<selected_documents>" not in fake_llm.requests[0].body["messages"][0]["content"]


def test_knowledge_base_context_with_document_ids_narrows_direct_injection(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, embed: FakeEmbedServer
) -> None:
    team = make_team(user, fake_llm)
    kb, docs = make_kb(user, embed)
    contexts = [
        {"type": "knowledge_base", "data": {"knowledge_id": kb.pk, "document_ids": [docs["guide"].pk]}}
    ]
    result, _ = run_turn(
        live_server_url, user, {"team_id": team.pk, "message": call("penguins"), "contexts": contexts}
    )
    output = tool_output(result)
    assert output["mode"] == "direct_injection"
    assert {r["source"] for r in output["results"]} == {"guide.md"}


def test_document_scopes_read_only_well_formed_ids() -> None:
    from chat.protocol import ChatSend

    payload = ChatSend(
        team_id=1,
        message="x",
        contexts=[
            {
                "type": "selected_documents",
                "data": {"knowledge_base_id": "7", "document_ids": [1, "2", True, -3, 2]},
            },
            {"type": "knowledge_base", "data": {"knowledge_id": 8, "document_ids": "not a list"}},
            {"type": "knowledge_base", "data": {"knowledge_id": 10, "document_ids": []}},
            {"type": "knowledge_base", "data": {"knowledge_id": 9, "document_ids": [2**70, 4]}},
            {"type": "selected_documents", "data": {"knowledge_base_id": None, "document_ids": [5]}},
        ],
    )
    assert payload.knowledge_base_ids() == (7, 8, 10, 9)
    assert payload.document_scopes() == ((7, (1, 2), True), (9, (4,), False))
