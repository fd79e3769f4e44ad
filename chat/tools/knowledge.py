"""Knowledge bases in a chat turn (reference extras §1.9): ``knowledge_base_search``, ``kb_ls`` and
``kb_head``, their shared call limits, the direct injection of small knowledge bases, the strict
or relaxed prompt, and the numbered ``sources`` of the answer.

The turn's knowledge bases come from ``knowledge.services.turn_search`` (picked in the message,
or bound to the task; only those the sender may read). Sources are deduplicated by (knowledge
base, document) and numbered from 1 in the order they first appear; each call's output carries
them, ``chat:sources`` announces them, and the answer's ``result.sources`` keeps them (the
runner merges ``Toolbox.result_extras`` into the result it stores and sends with ``chat:done``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

from chat.tools.base import Toolbox, ToolError, ToolSpec, TurnContext
from chat.tools.sources import SOURCES
from knowledge.exceptions import RetrievalUnavailable
from knowledge.services import turn_search
from wegent.errors import DomainError
from wegent.realtime import emitter
from wegent.realtime.db import run_sync
from wegent.realtime.rooms import task_room

SEARCH, LS, HEAD = "knowledge_base_search", "kb_ls", "kb_head"
CHAT_SOURCES = "chat:sources"
DEFAULT_RESULTS, MAX_RESULTS = 20, 50
DEFAULT_HEAD, MAX_HEAD = 50_000, 500_000
SNIPPET_CHARS = 200  # of a source's first passage, shown beside its citation number
DIRECT_INJECTION_SHARE = 0.30  # of the context window: a smaller knowledge base is given whole
WARN_SHARE, REFUSE_SHARE = 0.70, 0.90
SELECTED_SHARE = 0.50  # of the context window: selected documents that fit are given whole

STRICT = (
    "The user selected the knowledge bases below for this message. Search them with "
    "knowledge_base_search before answering and answer only from what it returns; if they do not "
    "hold the answer, say so instead of answering from general knowledge. Cite sources as [n] "
    "with the numbers the tool gives."
)
RELAXED = (
    "The knowledge bases below are attached to this conversation. Search them with "
    "knowledge_base_search when the question may concern them and cite what you use as [n]; "
    "you may also answer from general knowledge."
)
NO_RAG = (
    "The knowledge bases below have no search index: list their documents with kb_ls and read "
    "them with kb_head."
)


@dataclass
class _Session:
    """One turn's knowledge: what it may search, what it returned, its numbered sources."""

    ctx: TurnContext
    knowledge: turn_search.TurnKnowledge
    toolbox: Toolbox
    calls: int = 0
    returned_tokens: int = 0
    sources: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def max_calls(self) -> int:
        return min(b.max_calls for b in self.knowledge.bases)

    @property
    def exempt_calls(self) -> int:
        return min(b.exempt_calls for b in self.knowledge.bases)

    def count_call(self) -> str | None:
        """Counts a call of any of the three tools; a warning to add, or raises when refused."""
        if self.calls >= self.max_calls:
            raise ToolError(
                f"The knowledge base tools may be called at most {self.max_calls} times in a "
                "conversation; answer with what you have."
            )
        self.calls += 1
        if self.calls <= self.exempt_calls:
            return None
        window = settings.KNOWLEDGE_CONTEXT_WINDOW
        if self.returned_tokens >= REFUSE_SHARE * window:
            raise ToolError("Knowledge base results already fill the context: use kb_ls and kb_head instead.")
        if self.returned_tokens >= WARN_SHARE * window:
            return "Warning: knowledge base results fill most of the context; search only if essential."
        return None

    def number(self, hit: Any, url: str | None) -> int:
        """The source number of a hit's document; a new document gets the next number. The
        entry has the reference's ``{index, title, kb_id, url, snippet}`` plus ``document_id``
        (for the chunk and detail routes the citation popups read)."""
        key = (hit.kb_id, hit.document_name)
        if key not in self.sources:
            self.sources[key] = {
                "index": len(self.sources) + 1,
                "title": hit.document_name,
                "kb_id": hit.kb_id,
                "url": url,
                "snippet": hit.content[:SNIPPET_CHARS],
                "document_id": hit.document_id,
            }
        return self.sources[key]["index"]

    async def publish_sources(self) -> None:
        listed = sorted(self.sources.values(), key=lambda s: s["index"])
        self.toolbox.result_extras["sources"] = listed
        payload = {"task_id": self.ctx.task_id, "subtask_id": self.ctx.subtask_id, "sources": listed}
        await emitter.emit(CHAT_SOURCES, payload, room=task_room(self.ctx.task_id))


def _estimate(text: str) -> int:
    return len(text) // 4


@dataclass
class KnowledgeSearch:
    session: _Session

    @property
    def spec(self) -> ToolSpec:
        names = ", ".join(f"{b.name} (ID: {b.kb.pk})" for b in self.session.knowledge.bases if b.rag_enabled)
        return ToolSpec(
            name=SEARCH,
            description=f"Search the knowledge bases {names}: the matching passages, with source numbers.",
            parameters={
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look for."},
                    "max_results": {
                        "type": "integer",
                        "description": f"How many passages (1 to {MAX_RESULTS}).",
                    },
                },
                "required": ["query"],
            },
        )

    async def run(self, arguments: dict[str, Any]) -> str:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("query is required and must be a non-empty string")
        limit = arguments.get("max_results", DEFAULT_RESULTS)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
            raise ToolError(f"max_results must be an integer from 1 to {MAX_RESULTS}")
        session = self.session
        warning = session.count_call()
        small = sum(b.estimated_tokens for b in session.knowledge.bases)
        direct = small <= DIRECT_INJECTION_SHARE * settings.KNOWLEDGE_CONTEXT_WINDOW
        try:
            if direct:
                hits = await run_sync(turn_search.all_chunks, session.knowledge)
            else:
                hits = await run_sync(turn_search.search, session.knowledge, query.strip()[:2000], limit)
        except RetrievalUnavailable as exc:
            raise ToolError(f"Knowledge base search failed: {exc.detail}") from None
        except DomainError as exc:
            raise ToolError(str(exc.detail)) from None
        urls = await run_sync(turn_search.document_urls, {hit.document_id for hit in hits})
        results = [
            {
                "content": hit.content,
                "source": hit.document_name,
                "source_index": session.number(hit, urls.get(hit.document_id)),
                "score": hit.score,
                "knowledge_base_id": hit.kb_id,
            }
            for hit in hits
        ]
        output: dict[str, Any] = {
            "query": query,
            "mode": "direct_injection" if direct else "rag_retrieval",
            "count": len(results),
            "results": results,
            "sources": sorted(
                {
                    r["source_index"]: {
                        "index": r["source_index"],
                        "title": r["source"],
                        "kb_id": r["knowledge_base_id"],
                    }
                    for r in results
                }.values(),
                key=lambda s: s["index"],
            ),
        }
        if warning:
            output["warning"] = warning
        if not results:
            output["message"] = "No matching passages were found in the knowledge bases."
        text = json.dumps(output, ensure_ascii=False)
        session.returned_tokens += _estimate(text)
        if results:
            await session.publish_sources()
        if session.knowledge.contexts:
            await run_sync(
                turn_search.save_result, session.knowledge, query, output["mode"], hits, output["sources"]
            )
        return text


@dataclass
class KbList:
    session: _Session
    spec: ToolSpec = field(
        default=ToolSpec(
            name=LS,
            description="List the documents of one knowledge base (id, name, type, size, summary).",
            parameters={
                "type": "object",
                "properties": {
                    "knowledge_base_id": {"type": "integer", "description": "The knowledge base ID."}
                },
                "required": ["knowledge_base_id"],
            },
        )
    )

    async def run(self, arguments: dict[str, Any]) -> str:
        kb_id = arguments.get("knowledge_base_id")
        if isinstance(kb_id, bool) or not isinstance(kb_id, int):
            raise ToolError("knowledge_base_id must be an integer")
        self.session.count_call()
        listed = await run_sync(turn_search.list_documents, self.session.knowledge, kb_id)
        if listed is None:
            raise ToolError(f"Knowledge base {kb_id} is not available in this conversation")
        return json.dumps(listed, ensure_ascii=False)


@dataclass
class KbHead:
    session: _Session
    spec: ToolSpec = field(
        default=ToolSpec(
            name=HEAD,
            description="Read a document of the knowledge bases, a window at a time (offset, limit).",
            parameters={
                "type": "object",
                "properties": {
                    "document_id": {"type": "integer"},
                    "offset": {"type": "integer", "description": "Start character (default 0)."},
                    "limit": {
                        "type": "integer",
                        "description": f"Characters to read (default {DEFAULT_HEAD}).",
                    },
                },
                "required": ["document_id"],
            },
        )
    )

    async def run(self, arguments: dict[str, Any]) -> str:
        doc_id = arguments.get("document_id")
        offset = arguments.get("offset", 0)
        limit = arguments.get("limit", DEFAULT_HEAD)
        for name, value, low, high in (
            ("document_id", doc_id, 1, 2**63 - 1),
            ("offset", offset, 0, 2**31),
            ("limit", limit, 1, MAX_HEAD),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ToolError(f"{name} must be an integer from {low} to {high}")
        self.session.count_call()
        window = await run_sync(turn_search.read_document, self.session.knowledge, doc_id, offset, limit)
        if window is None:
            raise ToolError(f"Document {doc_id} is not available in this conversation")
        self.session.returned_tokens += _estimate(window["content"])
        return json.dumps(window, ensure_ascii=False)


def _prompt(knowledge: turn_search.TurnKnowledge) -> str:
    parts = []
    for label, chosen in (
        (STRICT, [b for b in knowledge.bases if b.strict and b.rag_enabled]),
        (RELAXED, [b for b in knowledge.bases if not b.strict and b.rag_enabled]),
        (NO_RAG, [b for b in knowledge.bases if not b.rag_enabled]),
    ):
        if chosen:
            listed = "\n".join(f"- {b.name} (ID: {b.kb.pk}, {b.document_count} documents)" for b in chosen)
            parts.append(f"{label}\n{listed}")
    return "<knowledge_base>\n" + "\n\n".join(parts) + "\n</knowledge_base>"


def _selected_block(documents: list[tuple[Any, str]]) -> str:
    parts = [f"[Document: {doc.name} (ID: {doc.pk})]\n{text}" for doc, text in documents]
    return "<selected_documents>\n" + "\n\n".join(parts) + "\n</selected_documents>"


async def _inject_selected(
    knowledge: turn_search.TurnKnowledge, toolbox: Toolbox
) -> turn_search.TurnKnowledge:
    """The notebook's selected documents that fit in half the context window are given whole
    (a ``<selected_documents>`` block); the knowledge bases left are searched through the
    tools, narrowed to their selected documents (reference extras §1.9)."""
    room = SELECTED_SHARE * settings.KNOWLEDGE_CONTEXT_WINDOW
    given = [b for b in knowledge.bases if b.selected and b.estimated_tokens <= room]
    if not given:
        return knowledge
    documents = [doc for base in given for doc in await run_sync(turn_search.selected_text, base)]
    if documents:
        toolbox.instructions.append(
            "The user selected these documents for this message; answer from them.\n"
            + _selected_block(documents)
        )
    return replace(knowledge, bases=[b for b in knowledge.bases if b not in given])


async def knowledge_source(ctx: TurnContext, ghost: Any, toolbox: Toolbox) -> None:
    if not ctx.knowledge_base_ids and not ctx.bound_knowledge_base_ids:
        return  # most turns: no knowledge base, no query
    knowledge = await run_sync(
        turn_search.for_turn,
        ctx.user_id,
        ctx.knowledge_base_ids,
        ctx.bound_knowledge_base_ids,
        ctx.subtask_id,
        ctx.document_scopes,
    )
    if knowledge is None:
        return
    knowledge = await _inject_selected(knowledge, toolbox)
    if not knowledge.bases:
        return
    session = _Session(ctx, knowledge, toolbox)
    if any(b.rag_enabled for b in knowledge.bases):
        toolbox.add(KnowledgeSearch(session))
    toolbox.add(KbList(session))
    toolbox.add(KbHead(session))
    toolbox.instructions.append(_prompt(knowledge))


def register() -> None:
    if knowledge_source not in SOURCES:
        SOURCES.append(knowledge_source)
