from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from kinds.specs import read
from kinds.specs.base import Ref, Resource, SpecModel


class BotSpec(SpecModel):
    ghostRef: Ref
    shellRef: Ref
    modelRef: Ref | None = None


class Bot(Resource):
    KIND: ClassVar[str] = "Bot"
    spec: BotSpec


@dataclass(frozen=True)
class BotView:
    """A Bot's spec as readers see it: its references, each as stored (None when absent)."""

    ghost_ref: dict[str, Any] | None = None
    shell_ref: dict[str, Any] | None = None
    model_ref: dict[str, Any] | None = None

    @classmethod
    def of(cls, spec: Any) -> BotView:
        spec = read.mapping(spec)
        return cls(
            ghost_ref=read.ref(spec.get("ghostRef")),
            shell_ref=read.ref(spec.get("shellRef")),
            model_ref=read.ref(spec.get("modelRef")),
        )
