"""Request bodies and response shapes of the knowledge routes (reference extras §1.3)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from knowledge import specs, splitters
from knowledge.models import KnowledgeDocument

MAX_NAME = 100
MAX_DESCRIPTION = 500
MAX_QUERY = 2000


class Text(serializers.CharField):
    """A string only: a number or a list is an error, not text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ModelRef(serializers.Serializer):
    model_name = Text(max_length=100)
    model_namespace = Text(max_length=100, default="default")


class SummaryModelRef(serializers.Serializer):
    name = Text(max_length=100)
    namespace = Text(max_length=100, default="default")
    type = Text(max_length=10, default="user")

    def validate_type(self, value: str) -> str:
        if value not in ("public", "user", "group"):
            raise serializers.ValidationError('type must be "public", "user" or "group"')
        return value


class HybridWeights(serializers.Serializer):
    vector_weight = serializers.FloatField(min_value=0, max_value=1, default=0.7)
    keyword_weight = serializers.FloatField(min_value=0, max_value=1, default=0.3)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if abs(attrs["vector_weight"] + attrs["keyword_weight"] - 1) > 0.01:
            raise serializers.ValidationError("vector_weight and keyword_weight must sum to 1")
        return attrs


class RetrievalConfig(serializers.Serializer):
    retriever_name = Text(max_length=100, required=False, allow_null=True, default=None)
    retriever_namespace = Text(max_length=100, default="default")
    embedding_config = ModelRef(required=False, allow_null=True, default=None)
    # This server's addition: a Model of type ``rerank`` reorders the candidates.
    rerank_config = ModelRef(required=False, allow_null=True, default=None)
    retrieval_mode = serializers.ChoiceField(specs.MODES, default=specs.VECTOR)
    top_k = serializers.IntegerField(min_value=1, max_value=10, default=specs.DEFAULT_TOP_K)
    score_threshold = serializers.FloatField(min_value=0, max_value=1, default=specs.DEFAULT_THRESHOLD)
    hybrid_weights = HybridWeights(required=False, allow_null=True, default=None)


class RetrievalUpdate(serializers.Serializer):
    retrieval_mode = serializers.ChoiceField(specs.MODES, required=False)
    top_k = serializers.IntegerField(min_value=1, max_value=10, required=False)
    score_threshold = serializers.FloatField(min_value=0, max_value=1, required=False)
    hybrid_weights = HybridWeights(required=False, allow_null=True)


class KnowledgeBaseCreate(serializers.Serializer):
    name = Text(min_length=1, max_length=MAX_NAME)
    description = Text(
        max_length=MAX_DESCRIPTION, required=False, allow_blank=True, allow_null=True, default=""
    )
    namespace = Text(max_length=100, default="default")
    kb_type = serializers.ChoiceField(specs.KB_TYPES, default=specs.NOTEBOOK)
    retrieval_config = RetrievalConfig(required=False, allow_null=True, default=None)
    summary_enabled = serializers.BooleanField(default=False)
    summary_model_ref = SummaryModelRef(required=False, allow_null=True, default=None)


class KnowledgeBaseUpdate(serializers.Serializer):
    name = Text(min_length=1, max_length=MAX_NAME, required=False)
    description = Text(max_length=MAX_DESCRIPTION, required=False, allow_blank=True)
    retrieval_config = RetrievalUpdate(required=False)
    summary_enabled = serializers.BooleanField(required=False)
    summary_model_ref = SummaryModelRef(required=False, allow_null=True)
    max_calls_per_conversation = serializers.IntegerField(min_value=2, max_value=50, required=False)
    exempt_calls_before_check = serializers.IntegerField(min_value=1, max_value=49, required=False)


class TypeChange(serializers.Serializer):
    kb_type = serializers.ChoiceField(specs.KB_TYPES)


class ListQuery(serializers.Serializer):
    scope = serializers.ChoiceField(["all", "personal", "group", "organization"], default="all")
    group_name = Text(max_length=100, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["scope"] == "group" and not attrs.get("group_name"):
            raise serializers.ValidationError({"group_name": "group_name is required for scope=group"})
        return attrs


class SplitterConfig(serializers.Serializer):
    type = serializers.ChoiceField(splitters.TYPES, default=splitters.SMART)
    chunk_size = serializers.IntegerField(min_value=128, max_value=8192, required=False)
    chunk_overlap = serializers.IntegerField(min_value=0, max_value=2048, required=False)
    separator = Text(max_length=20, required=False, trim_whitespace=False)
    file_extension = Text(max_length=20, required=False, allow_null=True)
    subtype = serializers.ChoiceField(
        ["markdown_sentence", "sentence", "recursive_character"], required=False
    )
    buffer_size = serializers.IntegerField(min_value=1, max_value=10, required=False)
    breakpoint_percentile_threshold = serializers.IntegerField(min_value=50, max_value=100, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        size = attrs.get("chunk_size", 1024)
        if attrs.get("chunk_overlap", 0) >= size:
            raise serializers.ValidationError({"chunk_overlap": "chunk_overlap must be less than chunk_size"})
        return attrs


class DocumentCreate(serializers.Serializer):
    attachment_id = serializers.IntegerField(min_value=0, default=0)
    name = Text(min_length=1, max_length=255)
    file_extension = Text(max_length=50, allow_blank=True, default="")
    file_size = serializers.IntegerField(min_value=0, default=0)
    splitter_config = SplitterConfig(required=False, allow_null=True, default=None)
    source_type = serializers.ChoiceField([s for s, _ in KnowledgeDocument.SOURCE_TYPES], default="file")
    source_config = serializers.DictField(required=False, default=dict)


class DocumentUpdate(serializers.Serializer):
    name = Text(min_length=1, max_length=255, required=False)
    status = serializers.ChoiceField([s for s, _ in KnowledgeDocument.STATUSES], required=False)
    splitter_config = SplitterConfig(required=False)


class ContentUpdate(serializers.Serializer):
    content = Text(allow_blank=False, trim_whitespace=False, max_length=5_000_000)


class BatchIds(serializers.Serializer):
    document_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=500)


class DetailQuery(serializers.Serializer):
    include_content = serializers.BooleanField(default=True)
    include_summary = serializers.BooleanField(default=True)


class ChunksQuery(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=20)
    search = Text(max_length=MAX_QUERY, required=False, allow_blank=True)


# --- responses ---------------------------------------------------------------------------------------


class KnowledgeBaseOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    user_id = serializers.IntegerField()
    namespace = serializers.CharField()
    kb_type = serializers.CharField()
    document_count = serializers.IntegerField()
    is_active = serializers.BooleanField()
    retrieval_config = serializers.DictField(allow_null=True)
    summary_enabled = serializers.BooleanField()
    summary_model_ref = serializers.DictField(allow_null=True)
    summary = serializers.DictField(allow_null=True)
    max_calls_per_conversation = serializers.IntegerField()
    exempt_calls_before_check = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class KnowledgeBaseListOut(serializers.Serializer):
    total = serializers.IntegerField()
    items = KnowledgeBaseOut(many=True)


class AccessibleItem(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    document_count = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class AccessibleGroup(serializers.Serializer):
    group_name = serializers.CharField()
    group_display_name = serializers.CharField()
    knowledge_bases = AccessibleItem(many=True)


class AccessibleOut(serializers.Serializer):
    personal = AccessibleItem(many=True)
    team = AccessibleGroup(many=True)


class ConfigOut(serializers.Serializer):
    chunk_storage_enabled = serializers.BooleanField()


class NamespaceOut(serializers.Serializer):
    namespace = serializers.CharField(allow_null=True)


class DocumentOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind_id = serializers.IntegerField()
    attachment_id = serializers.IntegerField()
    name = serializers.CharField()
    file_extension = serializers.CharField()
    file_size = serializers.IntegerField()
    status = serializers.CharField()
    user_id = serializers.IntegerField()
    is_active = serializers.BooleanField()
    splitter_config = serializers.DictField(allow_null=True)
    source_type = serializers.CharField()
    source_config = serializers.DictField()
    doc_ref = serializers.CharField()
    index_status = serializers.CharField()
    index_progress = serializers.IntegerField()
    index_error = serializers.CharField(allow_null=True)
    chunk_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DocumentListOut(serializers.Serializer):
    total = serializers.IntegerField()
    items = DocumentOut(many=True)


class DetailOut(serializers.Serializer):
    document_id = serializers.IntegerField()
    content = serializers.CharField(allow_null=True)
    content_length = serializers.IntegerField(allow_null=True)
    truncated = serializers.BooleanField()
    summary = serializers.DictField(allow_null=True)


class SummaryOut(serializers.Serializer):
    kb_id = serializers.IntegerField()
    summary = serializers.DictField(allow_null=True)


class ReindexOut(serializers.Serializer):
    success = serializers.BooleanField()
    document_id = serializers.IntegerField()
    message = serializers.CharField()


class BatchOut(serializers.Serializer):
    success_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    failed_ids = serializers.ListField(child=serializers.IntegerField())
    message = serializers.CharField()


class ChunkItemOut(serializers.Serializer):
    index = serializers.IntegerField()
    content = serializers.CharField()
    token_count = serializers.IntegerField()
    start_position = serializers.IntegerField()
    end_position = serializers.IntegerField()


class ChunkListOut(serializers.Serializer):
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    items = ChunkItemOut(many=True)
    splitter_type = serializers.CharField(allow_null=True)
    splitter_subtype = serializers.CharField(allow_null=True)


class ChunkOut(serializers.Serializer):
    index = serializers.IntegerField()
    content = serializers.CharField()
    token_count = serializers.IntegerField()
    document_name = serializers.CharField()
    document_id = serializers.IntegerField()
    kb_id = serializers.IntegerField()


class RefreshOut(serializers.Serializer):
    message = serializers.CharField()
    status = serializers.CharField()


class DocumentSummaryOut(serializers.Serializer):
    document_id = serializers.IntegerField()
    summary = serializers.DictField(allow_null=True)
