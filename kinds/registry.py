"""Which kinds the Kind API serves, under which URL plural, and who stores them.

Kinds stored in the ``Kind`` table are served by this app. Other apps register a backend for
the kinds they own (``tasks`` registers Task and Workspace in its ``AppConfig.ready()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from kinds.specs import SCHEMAS, Resource


class KindBackend(Protocol):
    """What another app provides to serve its kind through ``/api/v1/namespaces``."""

    def list(self, *, actor: Any, namespace: str) -> list[dict[str, Any]]: ...
    def get(self, *, actor: Any, namespace: str, name: str) -> dict[str, Any]: ...
    def create(self, *, actor: Any, namespace: str, body: Any) -> dict[str, Any]: ...
    def update(self, *, actor: Any, namespace: str, name: str, body: Any) -> dict[str, Any]: ...
    def apply(self, *, actor: Any, namespace: str, body: Any) -> str: ...
    def delete(self, *, actor: Any, namespace: str, name: str) -> None: ...
    def row(self, *, actor: Any, namespace: str, name: str) -> Any:
        """The live row of that name as ``actor`` sees it (None if none): what admin logs."""
        ...


@dataclass(frozen=True)
class KindType:
    kind: str
    plural: str
    schema: type[Resource] | None = None
    # Writes through the generic routes; Skills are written by uploading an archive instead.
    writable: bool = True
    backend: KindBackend | None = field(default=None, compare=False)


_TYPES: dict[str, KindType] = {}
# The order the reference lists its kinds in ("Valid options: ..."); others follow, as registered.
_REFERENCE_ORDER = (
    "ghosts",
    "models",
    "shells",
    "bots",
    "teams",
    "workspaces",
    "tasks",
    "retrievers",
    "devices",
)


def _position(plural: str) -> int:
    return _REFERENCE_ORDER.index(plural) if plural in _REFERENCE_ORDER else len(_REFERENCE_ORDER)


def register(kind_type: KindType) -> None:
    _TYPES[kind_type.plural] = kind_type


for _kind, _plural, _writable in (
    ("Ghost", "ghosts", True),
    ("Model", "models", True),
    ("Shell", "shells", True),
    ("Bot", "bots", True),
    ("Team", "teams", True),
    ("Retriever", "retrievers", True),
    ("Device", "devices", True),
    ("Skill", "skills", False),
):
    register(KindType(kind=_kind, plural=_plural, schema=SCHEMAS[_kind], writable=_writable))


def by_plural(plural: str) -> KindType | None:
    return _TYPES.get(plural)


def by_kind(kind: str) -> KindType | None:
    return next((t for t in _TYPES.values() if t.kind == kind), None)


def plurals() -> list[str]:
    return sorted(_TYPES, key=_position)


def all_types() -> list[KindType]:
    return [_TYPES[plural] for plural in plurals()]
