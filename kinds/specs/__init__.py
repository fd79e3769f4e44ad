"""One typed schema per kind; ``SCHEMAS`` maps each Kind name to its document model."""

from __future__ import annotations

from kinds.specs.base import API_VERSION, Metadata, Ref, Resource
from kinds.specs.bot import Bot
from kinds.specs.device import Device
from kinds.specs.ghost import Ghost
from kinds.specs.knowledge_base import KnowledgeBase
from kinds.specs.model import Model
from kinds.specs.retriever import Retriever
from kinds.specs.shell import Shell
from kinds.specs.skill import Skill
from kinds.specs.team import Team

SCHEMAS: dict[str, type[Resource]] = {
    schema.KIND: schema
    for schema in (Ghost, Model, Shell, Bot, Team, Retriever, Device, Skill, KnowledgeBase)
}

__all__ = ["API_VERSION", "SCHEMAS", "Metadata", "Ref", "Resource"]
