from __future__ import annotations

from typing import Any, ClassVar, Literal

from kinds.specs.base import Resource, SpecModel


class IndexStrategy(SpecModel):
    mode: Literal["fixed", "rolling", "per_dataset", "per_user"]
    fixedName: str | None = None
    rollingStep: int | None = None
    prefix: str | None = None


class StorageConfig(SpecModel):
    type: Literal["elasticsearch", "qdrant"]
    url: str
    username: str | None = None
    password: str | None = None
    apiKey: str | None = None
    indexStrategy: IndexStrategy
    ext: dict[str, Any] | None = None


class RetrievalMethod(SpecModel):
    enabled: bool = True
    defaultWeight: float | None = None


def _default_methods() -> dict[str, RetrievalMethod]:
    return {
        "vector": RetrievalMethod(enabled=True, defaultWeight=0.7),
        "keyword": RetrievalMethod(enabled=True, defaultWeight=0.3),
        "hybrid": RetrievalMethod(enabled=True),
    }


class RetrieverSpec(SpecModel):
    storageConfig: StorageConfig
    retrievalMethods: dict[str, RetrievalMethod] | None = None
    description: str | None = None

    def model_post_init(self, context: Any) -> None:
        if self.retrievalMethods is None:
            self.retrievalMethods = _default_methods()


class Retriever(Resource):
    KIND: ClassVar[str] = "Retriever"
    HAS_STATUS: ClassVar[bool] = False
    spec: RetrieverSpec
