"""Init data: the public Skills, Shells, Ghosts, Bots and Teams a fresh installation starts with.

``apply_init_data`` is a ``manage.py bootstrap`` step. It is create-only: a public row that
already exists (same kind and name) is left exactly as it is, so an administrator's edits are
never overwritten and running it again changes nothing. The documents live next to this module
in ``init_data/`` (``*.yaml`` files and ``skills/<name>/SKILL.md`` folders).

This module also holds the small readers and writers of YAML/JSON resource documents shared by
the ``kinds`` management command and the admin.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from accounts.models import User
from accounts.roles import SystemRole
from kinds import registry, selectors, services, skills
from kinds.exceptions import AlreadyExists
from kinds.models import DEFAULT_NAMESPACE
from wegent.errors import DomainError

logger = logging.getLogger(__name__)

INIT_DATA_DIR = Path(__file__).resolve().parent / "init_data"
ADMIN_USER_NAME = "admin"
# Applied in this order, after the skills, so every reference resolves when it is checked.
SEEDED_KINDS = ("Shell", "Ghost", "Bot", "Team")
DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")


class DocumentError(ValueError):
    """Input that is not a readable list of resource documents (message is user-facing)."""


# --- reading and writing documents ---------------------------------------------------------------


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where, in one line."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def _expand(document: Any, source: str, index: int) -> list[dict[str, Any]]:
    """A document is a resource, a ``<Kind>List`` with ``items``, or a list of resources."""
    if isinstance(document, list):
        found: list[dict[str, Any]] = []
        for item in document:
            found.extend(_expand(item, source, index))
        return found
    if not isinstance(document, dict):
        raise DocumentError(
            f"{source}: document {index} is not a resource (expected a mapping with kind, metadata, spec)"
        )
    kind = document.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(document.get("items"), list):
        return _expand(document["items"], source, index)
    return [document]


def parse_documents(text: str, *, source: str, json_only: bool = False) -> list[dict[str, Any]]:
    """Resource documents in ``text``: multi-document YAML, or JSON (an object or an array)."""
    stripped = text.lstrip()
    if json_only or stripped[:1] in ("{", "["):
        try:
            return _expand(json.loads(text), source, 1)
        except json.JSONDecodeError as exc:
            if json_only:
                raise DocumentError(
                    f"{source}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                ) from exc
            # Not JSON after all (YAML flow style); read it as YAML below.
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise DocumentError(f"{source}: invalid YAML: {yaml_problem(exc)}") from exc
    documents: list[dict[str, Any]] = []
    for index, document in enumerate(loaded, start=1):
        if document is not None:
            documents.extend(_expand(document, source, index))
    return documents


def read_file(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path}: not a UTF-8 text file") from exc
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    return parse_documents(text, source=str(path), json_only=path.suffix.lower() == ".json")


def document_files(directory: Path) -> list[Path]:
    """Every ``*.yaml``, ``*.yml`` and ``*.json`` file directly in ``directory``, sorted by name."""
    return sorted(
        path for path in directory.iterdir() if path.is_file() and path.suffix.lower() in DOCUMENT_SUFFIXES
    )


def read_path(path: Path) -> list[dict[str, Any]]:
    """The documents of a file, or of every document file in a directory (in name order)."""
    if path.is_dir():
        try:
            files = document_files(path)
        except OSError as exc:
            raise DocumentError(f"{path}: cannot read directory: {exc.strerror or exc}") from exc
        if not files:
            raise DocumentError(f"{path}: no .yaml, .yml or .json files in this directory")
        return [document for file in files for document in read_file(file)]
    if not path.exists():
        raise DocumentError(f"{path}: no such file or directory")
    return read_file(path)


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (system prompts, skill bodies) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_BlockDumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)


def document_name(document: dict[str, Any]) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


# --- init data ------------------------------------------------------------------------------------


def _admin_actor() -> User | None:
    """The user ``admin`` if it is an active system admin, else the oldest active system admin."""
    admins = User.objects.filter(role=SystemRole.ADMIN, is_active=True)
    return admins.filter(user_name=ADMIN_USER_NAME).first() or admins.order_by("id").first()


def _skill_folders(directory: Path) -> list[Path]:
    skills_dir = directory / "skills"
    if not skills_dir.is_dir():
        return []
    return sorted(path for path in skills_dir.iterdir() if (path / "SKILL.md").is_file())


def _error_text(exc: DomainError) -> str:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return " ".join(line.strip() for line in detail.splitlines() if line.strip())


def _plural(count: int, kind: str) -> str:
    return f"{count} {kind.lower()}{'' if count == 1 else 's'}"


def apply_init_data(directory: Path | None = None) -> str:
    """Creates the missing public resources of ``directory`` (default: the shipped init data).

    Skills first, then Shells, Ghosts, Bots and Teams, each through the kinds services as public
    rows written by a system admin. Returns the summary line printed by ``manage.py bootstrap``.
    """
    directory = directory or INIT_DATA_DIR
    actor = _admin_actor()
    if actor is None:
        return "Init data: skipped (no active system admin to write public resources)"
    public = services.Owner(None)
    created: Counter[str] = Counter()
    present = 0
    failures: list[str] = []

    for folder in _skill_folders(directory):
        name = folder.name
        if selectors.public_row("Skill", name) is not None:
            present += 1
            continue
        try:
            skills.store_skill(
                actor=actor,
                owner=public,
                namespace=DEFAULT_NAMESPACE,
                name=name,
                archive=skills.archive_folder(folder),
                filename=f"{name}.zip",
            )
            created["Skill"] += 1
        except skills.SkillExists:
            present += 1  # created meanwhile by a concurrent bootstrap
        except DomainError as exc:
            failures.append(f"skill/{name}: {_error_text(exc)}")

    try:
        documents = [
            document
            for path in (document_files(directory) if directory.is_dir() else [])
            for document in read_file(path)
        ]
    except DocumentError as exc:
        failures.append(str(exc))
        documents = []
    for kind in SEEDED_KINDS:
        kind_type = registry.by_kind(kind)
        assert kind_type is not None
        for document in documents:
            if document.get("kind") != kind:
                continue
            name = document_name(document)
            if name and selectors.public_row(kind, name) is not None:
                present += 1
                continue
            try:
                services.create_resource(
                    actor=actor,
                    kind_type=kind_type,
                    namespace=DEFAULT_NAMESPACE,
                    body=document,
                    owner=public,
                )
                created[kind] += 1
            except AlreadyExists:
                present += 1  # created meanwhile by a concurrent bootstrap
            except DomainError as exc:
                failures.append(f"{kind.lower()}/{name or '?'}: {_error_text(exc)}")

    made = ", ".join(_plural(created[k], k) for k in ("Skill", *SEEDED_KINDS) if created[k]) or "nothing"
    lines = [f"Init data: {made} created; 0 changed; {present} already present (left as they are)"]
    if failures:
        lines[0] += f"; {len(failures)} failed"
        lines.extend(f"  failed: {failure}" for failure in failures)
        for failure in failures:
            logger.warning("init data item failed: %s", failure)
    return "\n".join(lines)
