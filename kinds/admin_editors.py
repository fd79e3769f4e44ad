"""Kinds whose rows another app owns, edited as YAML in the Kinds console through that app's
services (a lookup table by kind, like ``kinds/registry.py``).

The owning app registers, from its ``AppConfig.ready()``, ``editor(operator, row, document)``:
it applies the edited document through its own services (same rules and events as its API) and
returns "updated" or "unchanged"; what it refuses it raises as a ``DomainError``, which the
console shows on the form. Filled by: ``knowledge`` (KnowledgeBase, ``knowledge/console.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.models import User
from kinds.models import Kind

Editor = Callable[[User, Kind, dict[str, Any]], str]
_EDITORS: dict[str, Editor] = {}


def register(kind: str, editor: Editor) -> None:
    _EDITORS[kind] = editor


def editor_for(kind: str) -> Editor | None:
    return _EDITORS.get(kind)
