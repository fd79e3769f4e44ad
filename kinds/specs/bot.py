from __future__ import annotations

from typing import ClassVar

from kinds.specs.base import Ref, Resource, SpecModel


class BotSpec(SpecModel):
    ghostRef: Ref
    shellRef: Ref
    modelRef: Ref | None = None


class Bot(Resource):
    KIND: ClassVar[str] = "Bot"
    spec: BotSpec
