from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from kinds.specs.base import Resource, SpecModel


class TTSConfig(SpecModel):
    voice: str | None = None
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    output_format: str = "mp3"


class STTConfig(SpecModel):
    language: str | None = None
    transcription_format: str = "text"


class EmbeddingConfig(SpecModel):
    dimensions: int | None = None
    encoding_format: str = "float"


class RerankConfig(SpecModel):
    top_n: int | None = None
    return_documents: bool = True


class ModelSpec(SpecModel):
    modelConfig: dict[str, Any]
    isCustomConfig: bool | None = None
    protocol: str | None = None
    apiFormat: Literal["chat/completions", "responses"] | None = None
    contextWindow: int | None = None
    maxOutputTokens: int | None = None
    modelType: Literal["llm", "tts", "stt", "embedding", "rerank"] | None = "llm"
    ttsConfig: TTSConfig | None = None
    sttConfig: STTConfig | None = None
    embeddingConfig: EmbeddingConfig | None = None
    rerankConfig: RerankConfig | None = None


class Model(Resource):
    KIND: ClassVar[str] = "Model"
    spec: ModelSpec
