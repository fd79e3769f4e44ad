from __future__ import annotations

from dataclasses import dataclass, field
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
class BotView(read.SpecView):
    """A Bot's spec as readers see it: its references, each as stored (None when absent)."""

    ghost_ref: dict[str, Any] | None = field(default=None, metadata=read.reads("ghostRef", read.ref))
    shell_ref: dict[str, Any] | None = field(default=None, metadata=read.reads("shellRef", read.ref))
    model_ref: dict[str, Any] | None = field(default=None, metadata=read.reads("modelRef", read.ref))
