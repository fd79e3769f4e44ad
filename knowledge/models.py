"""Knowledge documents and their chunks (reference extras §1.1, rest §5.10).

A knowledge base itself is a ``kinds.Kind`` row of kind ``KnowledgeBase``; its documents and
their chunks live here. ``kind_id`` is the knowledge base's Kind id (no foreign key, as in the
reference, so a knowledge base's soft delete leaves nothing dangling to cascade).

Chunks are always stored (the reference's optional chunk storage, always on): their text feeds
keyword search (SQLite FTS5, PostgreSQL full-text search, MySQL FULLTEXT, indexes made in this
app's migrations) and their ``embedding`` (float32, little endian) feeds vector search.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

DOCUMENT_STATUSES = [("enabled", "enabled"), ("disabled", "disabled")]


class KnowledgeDocument(models.Model):
    ENABLED, DISABLED = "enabled", "disabled"
    STATUSES = DOCUMENT_STATUSES
    FILE, TEXT, TABLE, WEB = "file", "text", "table", "web"
    SOURCE_TYPES = [(s, s) for s in (FILE, TEXT, TABLE, WEB)]
    # Where indexing is (this server's addition, readable over REST and pushed over /chat):
    # ``not_indexed`` for a knowledge base without retrieval config and for table documents.
    PENDING, INDEXING, READY, FAILED, NOT_INDEXED = "pending", "indexing", "ready", "failed", "not_indexed"
    INDEX_STATES = [(s, s) for s in (PENDING, INDEXING, READY, FAILED, NOT_INDEXED)]

    kind_id = models.BigIntegerField(db_index=True)
    attachment_id = models.BigIntegerField(default=0)
    name = models.CharField(max_length=255)
    file_extension = models.CharField(max_length=50, blank=True, default="")
    file_size = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=STATUSES, default=DISABLED)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="knowledge_documents"
    )
    is_active = models.BooleanField(default=False)
    splitter_config = models.JSONField(default=dict, blank=True)
    source_type = models.CharField(max_length=50, choices=SOURCE_TYPES, default=FILE)
    source_config = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(null=True, blank=True)
    index_status = models.CharField(max_length=16, choices=INDEX_STATES, default=PENDING)
    index_progress = models.PositiveSmallIntegerField(default=0)
    index_error = models.TextField(blank=True, default="")
    # Bumped by every (re)index request: a run that finds a newer generation stops writing, so
    # two runs for one document never interleave their chunks.
    index_generation = models.PositiveIntegerField(default=0)
    # The generation whose run wrote the current chunks: a Retriever store's points carry their
    # generation, and only points of this one answer (knowledge.external).
    indexed_generation = models.PositiveIntegerField(default=0)
    splitter_type = models.CharField(max_length=32, blank=True, default="")
    splitter_subtype = models.CharField(max_length=32, blank=True, default="")
    chunk_count = models.PositiveIntegerField(default=0)
    text_length = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["kind_id", "is_active", "created_at"], name="kdoc_kb_active_idx"),
            models.Index(fields=["attachment_id"], name="kdoc_attachment_idx"),
        ]

    def __str__(self) -> str:
        return f"document {self.pk} {self.name}"

    @property
    def doc_ref(self) -> str:
        return str(self.pk)


class KnowledgeChunk(models.Model):
    document = models.ForeignKey(KnowledgeDocument, on_delete=models.CASCADE, related_name="chunk_rows")
    kb_id = models.BigIntegerField()
    position = models.PositiveIntegerField()  # the wire's chunk ``index``
    content = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    start_position = models.PositiveIntegerField(default=0)
    end_position = models.PositiveIntegerField(default=0)
    embedding = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["document_id", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="kchunk_doc_pos_uniq")]
        indexes = [models.Index(fields=["kb_id", "document"], name="kchunk_kb_doc_idx")]

    def __str__(self) -> str:
        return f"chunk {self.document_id}:{self.position}"


class KnowledgeBaseState(models.Model):
    """Per knowledge base: ``generation`` (a random token) changes with every chunk write, so a
    process's cached vector matrix of that knowledge base knows when it is stale."""

    kb_id = models.BigIntegerField(primary_key=True)
    generation = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"knowledge base {self.kb_id} generation {self.generation}"
