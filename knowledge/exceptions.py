"""The knowledge app's domain errors (rendered by ``wegent.api.exceptions``)."""

from __future__ import annotations

from wegent.errors import BadRequest, Forbidden, NotFound


class KnowledgeBaseNotFound(NotFound):
    default_detail = "Knowledge base not found"


class DocumentNotFound(NotFound):
    default_detail = "Document not found"


class ChunkNotFound(NotFound):
    default_detail = "Chunk not found"


class KnowledgeDenied(Forbidden):
    default_detail = "You do not have permission to modify this knowledge base"


class KnowledgeBadRequest(BadRequest):
    pass


class RetrievalUnavailable(BadRequest):
    """A retrieval mode this deployment's store cannot answer (e.g. vectors without an embedding
    model)."""
