"""Skills: ZIP archives with a ``SKILL.md``, stored as ``Skill`` Kind rows plus a ``SkillBinary``.

Archives are untrusted: every check runs on the ZIP directory and on bounded reads (size, member
count, expanded size, compression ratio, safe paths, no links), and the YAML front matter is
loaded safely and copied into plain JSON within a node budget (no alias bombs, no dates).

Writes keep the Kind invariants of ``kinds.services``: the document is validated through the
Skill schema, ``metadata.labels`` carries the row id and owner id, and ``references.sync`` runs
after each write. A soft-deleted skill is revived when a skill of the same name is stored again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import lzma
import math
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from pydantic import ValidationError

from accounts import selectors as account_selectors
from accounts.models import User
from kinds import access, references, registry, selectors, services
from kinds.exceptions import InvalidResource, NamespaceDenied
from kinds.models import DEFAULT_NAMESPACE, Kind, KindReference, SkillBinary
from kinds.services import Owner
from kinds.specs import API_VERSION, SCHEMAS
from wegent.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge

SKILL = "Skill"
SKILL_FILE = "SKILL.md"
DEFAULT_BIND_SHELLS = ["ClaudeCode"]

MAX_ARCHIVE_BYTES = 10 * 1024 * 1024
MAX_EXPANDED_BYTES = 50 * 1024 * 1024
MAX_MEMBERS = 2000
# A member may expand to at most this many times its compressed size (text compresses ~10x).
MAX_COMPRESSION_RATIO = 200
# Small members may compress better than the ratio allows without harm.
RATIO_EXEMPT_BYTES = 1024 * 1024
MAX_SKILL_MD_BYTES = 1024 * 1024
MAX_FRONT_MATTER_NODES = 5000
MAX_FRONT_MATTER_DEPTH = 32
# Ids beyond the database's 64-bit keys can never match (and must not reach the query).
MAX_ID = 2**63 - 1
# macOS Finder adds this folder next to the real one; it is not part of the skill.
IGNORED_TOP_LEVEL = {"__MACOSX"}


class InvalidSkillArchive(BadRequest):
    pass


class SkillArchiveTooLarge(PayloadTooLarge):
    default_detail = "File size exceeds the maximum of 10 MB"


class SkillNotFound(NotFound):
    default_detail = "Skill not found"


class SkillExists(BadRequest):
    pass


class SkillReferenced(BadRequest):
    """Detail is the reference's object: ``{code, message, skill_name, referenced_ghosts}``."""


class SkillForbidden(Forbidden):
    pass


# --- archive validation ---------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedSkill:
    """What a valid archive says about its skill."""

    folder: str
    front_matter: dict[str, Any]
    prompt: str
    skill_md: str
    file_size: int
    file_hash: str

    @property
    def preload(self) -> bool:
        value = self.front_matter.get("preload", False)
        if isinstance(value, str):
            return value.strip().lower() in {"true", "yes", "1", "on"}
        return value is True

    def spec(self) -> dict[str, Any]:
        """The Skill spec the front matter describes (validated later by the schema)."""
        meta = self.front_matter
        bind_shells = meta.get("bindShells")
        return {
            "description": _as_text(meta.get("description")),
            "displayName": _as_text(meta.get("displayName")),
            "prompt": self.prompt or None,
            "version": _as_text(meta.get("version")),
            "author": _as_text(meta.get("author")),
            "tags": _as_text_list(meta.get("tags")),
            "bindShells": list(DEFAULT_BIND_SHELLS) if bind_shells is None else _as_text_list(bind_shells),
            "config": meta.get("config"),
            "tools": meta.get("tools"),
            "provider": meta.get("provider"),
            "mcpServers": meta.get("mcpServers"),
            "source": {"type": "upload"},
            "preload": self.preload,
        }

    def status(self) -> dict[str, Any]:
        return {"state": "Available", "fileSize": self.file_size, "fileHash": self.file_hash}


def _as_text(value: Any) -> Any:
    """YAML turns ``version: 1.0`` into a float; scalar values are kept as their text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _as_text_list(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return value


def archive_stem(filename: str) -> str:
    """The file name without directories and ``.zip``; 400 unless it names a ZIP file."""
    base = PurePosixPath((filename or "").replace("\\", "/")).name
    if not base.lower().endswith(".zip") or len(base) <= 4:
        raise InvalidSkillArchive("File must be a ZIP package (.zip)")
    return base[:-4]


def _member_error(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return f"Unsafe path in ZIP archive: '{name}'"
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return f"Unsafe path in ZIP archive: '{name}'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"ZIP archive contains a symbolic link: '{name}'"
    if info.flag_bits & 0x1:
        return f"Encrypted ZIP entries are not supported: '{name}'"
    return None


def _check_members(infos: list[zipfile.ZipInfo]) -> None:
    if not infos:
        raise InvalidSkillArchive("ZIP archive is empty")
    if len(infos) > MAX_MEMBERS:
        raise InvalidSkillArchive(f"ZIP archive has more than {MAX_MEMBERS} entries")
    seen: set[str] = set()
    expanded = 0
    for info in infos:
        error = _member_error(info)
        if error:
            raise InvalidSkillArchive(error)
        if info.filename in seen:
            raise InvalidSkillArchive(f"Duplicate entry in ZIP archive: '{info.filename}'")
        seen.add(info.filename)
        expanded += info.file_size
        if expanded > MAX_EXPANDED_BYTES:
            raise InvalidSkillArchive(
                f"ZIP archive expands to more than {MAX_EXPANDED_BYTES // (1024 * 1024)} MB"
            )
        if info.file_size > RATIO_EXEMPT_BYTES and (
            info.compress_size == 0 or info.file_size / info.compress_size > MAX_COMPRESSION_RATIO
        ):
            raise InvalidSkillArchive(
                f"ZIP entry '{info.filename}' is compressed suspiciously well (possible ZIP bomb)"
            )


def _single_folder(infos: list[zipfile.ZipInfo]) -> str:
    tops: set[str] = set()
    for info in infos:
        parts = info.filename.rstrip("/").split("/")
        if parts[0] in IGNORED_TOP_LEVEL:
            continue
        if len(parts) == 1 and not info.is_dir():
            raise InvalidSkillArchive(
                "ZIP archive must contain exactly one top-level folder (found a file at the top level: "
                f"'{info.filename}')"
            )
        tops.add(parts[0])
    if len(tops) != 1:
        raise InvalidSkillArchive(
            f"ZIP archive must contain exactly one top-level folder (found {len(tops)})"
        )
    return tops.pop()


def _verify_contents(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Reads every member (bounded by the checked sizes) so damaged data is refused now."""
    for info in infos:
        if info.is_dir():
            continue
        with archive.open(info) as member:
            while member.read(1024 * 1024):
                pass


def _split_front_matter(text: str) -> tuple[str, str]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise InvalidSkillArchive("SKILL.md must start with YAML front matter between '---' lines")
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    raise InvalidSkillArchive("SKILL.md must start with YAML front matter between '---' lines")


def _plain(value: Any, budget: list[int], depth: int = 0) -> Any:
    """A JSON-safe copy of loaded YAML, refusing alias bombs, cycles and deep nesting."""
    budget[0] -= 1
    if budget[0] < 0:
        raise InvalidSkillArchive("SKILL.md front matter is too large")
    if depth > MAX_FRONT_MATTER_DEPTH:
        raise InvalidSkillArchive("SKILL.md front matter is nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(item, budget, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item, budget, depth + 1) for item in value]
    raise InvalidSkillArchive(f"Unsupported value in SKILL.md front matter: {type(value).__name__}")


def parse_skill_md(text: str) -> tuple[dict[str, Any], str]:
    """(front matter, markdown body) of a SKILL.md; 400 on missing or invalid front matter."""
    raw_yaml, body = _split_front_matter(text)
    try:
        loaded = yaml.safe_load(raw_yaml)
    except yaml.YAMLError as exc:
        raise InvalidSkillArchive(f"Invalid YAML front matter in SKILL.md: {str(exc)[:300]}") from exc
    except RecursionError as exc:
        raise InvalidSkillArchive("SKILL.md front matter is nested too deeply") from exc
    if not isinstance(loaded, dict):
        raise InvalidSkillArchive("SKILL.md front matter must be a YAML mapping")
    front_matter = _plain(loaded, [MAX_FRONT_MATTER_NODES])
    description = front_matter.get("description")
    if description is None or (isinstance(description, str) and not description.strip()):
        raise InvalidSkillArchive("SKILL.md front matter must contain a 'description'")
    return front_matter, body.strip()


def _read_skill_md(archive: zipfile.ZipFile, folder: str) -> str:
    try:
        info = archive.getinfo(f"{folder}/{SKILL_FILE}")
    except KeyError:
        raise InvalidSkillArchive(f"SKILL.md not found in skill folder '{folder}'") from None
    if info.is_dir():
        raise InvalidSkillArchive(f"SKILL.md not found in skill folder '{folder}'")
    if info.file_size > MAX_SKILL_MD_BYTES:
        raise InvalidSkillArchive(f"SKILL.md is larger than {MAX_SKILL_MD_BYTES // 1024} KB")
    with archive.open(info) as member:
        raw = member.read(MAX_SKILL_MD_BYTES + 1)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidSkillArchive("SKILL.md must be UTF-8 text") from exc


# Everything zipfile raises on damaged input (including a bad deflate stream or CRC).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    IndexError,
    KeyError,
)


def validate_archive(data: bytes, filename: str) -> ParsedSkill:
    """Checks an uploaded skill ZIP; raises 400 (or 413 when too big) with a precise reason."""
    stem = archive_stem(filename)
    if len(data) > MAX_ARCHIVE_BYTES:
        raise SkillArchiveTooLarge()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_members(infos)
            folder = _single_folder(infos)
            if folder != stem:
                raise InvalidSkillArchive(f"Folder name '{folder}' must match the ZIP file name '{stem}'")
            text = _read_skill_md(archive, folder)
            _verify_contents(archive, infos)
    except InvalidSkillArchive:
        raise
    except _ZIP_ERRORS as exc:
        raise InvalidSkillArchive("Invalid or corrupted ZIP file") from exc
    front_matter, prompt = parse_skill_md(text)
    return ParsedSkill(
        folder=folder,
        front_matter=front_matter,
        prompt=prompt,
        skill_md=text,
        file_size=len(data),
        file_hash=hashlib.sha256(data).hexdigest(),
    )


def archive_folder(path: Path) -> bytes:
    """Zips a skill folder with the folder itself as the single top-level directory."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(f"{path.name}/"), b"")
        for item in sorted(path.rglob("*")):
            if item.is_symlink() or "__pycache__" in item.parts:
                continue
            relative = item.relative_to(path.parent).as_posix()
            if item.is_dir():
                archive.writestr(zipfile.ZipInfo(f"{relative}/"), b"")
            elif item.is_file():
                archive.write(item, relative)
    return buffer.getvalue()


def skill_md_text(row: Kind) -> str:
    """The SKILL.md text inside a stored archive (404 without an archive, 400 if unreadable)."""
    data = binary_data(row)
    if data is None:
        raise SkillNotFound("Skill binary not found")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                parts = info.filename.split("/")
                if len(parts) == 2 and parts[1] == SKILL_FILE and not info.is_dir():
                    with archive.open(info) as member:
                        return member.read(MAX_SKILL_MD_BYTES).decode("utf-8-sig", errors="ignore")
    except _ZIP_ERRORS as exc:
        raise InvalidSkillArchive("Corrupted ZIP file") from exc
    raise SkillNotFound("SKILL.md not found in skill package")


def skill_instructions(row: Kind) -> str:
    """What a skill tells an agent: its SKILL.md without the front matter, read from the stored
    archive (at most ``MAX_SKILL_MD_BYTES``); a skill without a readable archive (a public skill
    made from a form) gives its ``spec.prompt``."""
    try:
        _, body = _split_front_matter(skill_md_text(row))
    except (SkillNotFound, InvalidSkillArchive):
        return str(row.spec.get("prompt") or "").strip()
    return body.strip()


# --- reads ----------------------------------------------------------------------------------


def _active_skills() -> QuerySet[Kind]:
    return Kind.objects.filter(kind=SKILL, is_active=True)


def public_skills() -> QuerySet[Kind]:
    return _active_skills().filter(owner__isnull=True, namespace=DEFAULT_NAMESPACE)


def _can(actor: User, row: Kind, action: str) -> bool:
    """The shared row rule (``selectors.can``); system admins also manage the public skills."""
    if row.owner_id is None and row.namespace == DEFAULT_NAMESPACE and actor.is_admin:
        return True
    return selectors.can(actor, row, action)


_VERBS = {access.UPDATE: "update", access.DELETE: "delete"}


def skill_for(actor: User, skill_id: int, action: str = access.READ, *, lock: bool = False) -> Kind:
    """The active skill ``skill_id`` if ``actor`` may see it (404) and perform ``action`` (403).

    Visible: the caller's own skills, skills of groups they can read, public skills.
    """
    row = None
    if 0 < skill_id <= MAX_ID:
        rows = _active_skills().filter(pk=skill_id)
        row = (rows.select_for_update() if lock else rows).first()
    if row is None or not _can(actor, row, access.READ):
        raise SkillNotFound()
    if action != access.READ and not _can(actor, row, action):
        raise SkillForbidden(f"You don't have permission to {_VERBS[action]} this skill")
    return row


def active_skill(skill_id: int) -> Kind | None:
    """The active skill ``skill_id`` with no visibility check: for a caller that resolved it
    for its user already (a chat turn reading the instructions of one of its skills)."""
    return _active_skills().filter(pk=skill_id).first() if 0 < skill_id <= MAX_ID else None


def public_skill(skill_id: int, *, lock: bool = False) -> Kind:
    row = None
    if 0 < skill_id <= MAX_ID:
        rows = public_skills().filter(pk=skill_id)
        row = (rows.select_for_update() if lock else rows).first()
    if row is None:
        raise SkillNotFound("Public skill not found")
    return row


def list_skills(actor: User, namespace: str) -> QuerySet[Kind]:
    """The caller's own skills in ``default``, or a readable group's skills."""
    if not access.can(actor, namespace, access.READ):
        return Kind.objects.none()
    return selectors.scoped_rows(actor, SKILL, namespace)


def find_skill(
    actor: User, name: str, namespace: str = DEFAULT_NAMESPACE, *, exact: bool = False
) -> Kind | None:
    """A skill by name: exactly in ``namespace``, or personal -> group namespace -> public."""
    if exact:
        return list_skills(actor, namespace).filter(name=name).first()
    row = selectors.find(actor, SKILL, DEFAULT_NAMESPACE, name)
    if row is None and not access.is_personal(namespace) and access.can(actor, namespace, access.READ):
        row = selectors.find(actor, SKILL, namespace, name)
    return row or selectors.public_row(SKILL, name)


def unified_skills(actor: User, *, scope: str, group_name: str | None = None) -> list[Kind]:
    """The caller's (personal and/or group) skills, newest first, then public ones not shadowed."""
    namespaces: list[str] = []
    include_personal = scope in ("personal", "all")
    if scope == "group" and group_name:
        namespaces = [group_name] if access.can(actor, group_name, access.READ) else []
    elif scope in ("group", "all"):
        namespaces = account_selectors.readable_group_names(actor)
    mine = Kind.objects.none()
    if include_personal:
        mine = selectors.scoped_rows(actor, SKILL, DEFAULT_NAMESPACE)
    if namespaces:
        mine = mine | _active_skills().filter(namespace__in=namespaces)
    result: list[Kind] = []
    seen: set[str] = set()
    for row in _newest_first(mine):
        if row.name not in seen:
            seen.add(row.name)
            result.append(row)
    result.extend(row for row in _newest_first(public_skills()) if row.name not in seen)
    return result


def _newest_first(rows: QuerySet[Kind]) -> Iterable[Kind]:
    return rows.order_by("-created_at", "-id")


def binary_data(row: Kind) -> bytes | None:
    data = SkillBinary.objects.filter(kind=row).values_list("binary_data", flat=True).first()
    return bytes(data) if data is not None else None


def referencing_ghosts(row: Kind) -> list[Kind]:
    """Active Ghosts whose ``spec.skills`` name this skill and resolve to it.

    A personal skill: its owner's Ghosts; a group skill: the group's Ghosts; a public skill:
    every Ghost naming it that has no personal (or group) skill of that name in between.
    """
    if row.owner_id is not None or not access.is_personal(row.namespace):
        return [ghost for ghost in selectors.referrers(row) if ghost.kind == "Ghost"]
    edges = KindReference.objects.filter(
        target_kind=SKILL, target_name=row.name, source__kind="Ghost", source__is_active=True
    ).select_related("source")
    shadowing = set(
        _active_skills().filter(name=row.name).exclude(pk=row.pk).values_list("namespace", "owner_id")
    )
    ghosts: dict[int, Kind] = {}
    for edge in edges:
        ghost = edge.source
        if edge.target_namespace != ghost.namespace:
            continue
        if access.is_personal(ghost.namespace):
            shadowed = (DEFAULT_NAMESPACE, ghost.owner_id) in shadowing
        else:
            shadowed = any(namespace == ghost.namespace for namespace, _ in shadowing)
        if not shadowed:
            ghosts.setdefault(ghost.pk, ghost)
    return sorted(ghosts.values(), key=lambda ghost: ghost.pk)


def render_skill(row: Kind) -> dict[str, Any]:
    """The Skill CRD as clients see it; labels ``id``/``user_id`` always reflect the row."""
    document = selectors.render(row)
    metadata = dict(document["metadata"])
    metadata["labels"] = {**(metadata.get("labels") or {}), **_labels(row)}
    document["metadata"] = metadata
    return document


def _labels(row: Kind) -> dict[str, str]:
    return {"id": str(row.pk or 0), "user_id": str(row.user_id_or_zero)}


# --- writes ---------------------------------------------------------------------------------


def _document(
    *, name: str, namespace: str, spec: dict[str, Any], status: dict[str, Any], row: Kind | None = None
) -> dict[str, Any]:
    """A normalised Skill document (400 "Invalid Skill resource: ..." when the schema refuses)."""
    labels = _labels(row) if row is not None else {"id": "0", "user_id": "0"}
    body = {
        "apiVersion": API_VERSION,
        "kind": SKILL,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
        "status": status,
    }
    try:
        document = SCHEMAS[SKILL].model_validate(body).normalised()
    except ValidationError as exc:
        raise InvalidResource(f"Invalid Skill resource: {services.validation_text(exc)}") from exc
    services.require_storable_text(document, "Skill")
    if "preload" in spec:
        # Not part of the schema, but the runtime reads it (as the reference stores it).
        document["spec"]["preload"] = bool(spec["preload"])
    return document


def _save_binary(row: Kind, archive: bytes | None) -> None:
    if archive is None:
        SkillBinary.objects.filter(kind=row).delete()
        return
    SkillBinary.objects.update_or_create(
        kind=row,
        defaults={
            "binary_data": archive,
            "file_size": len(archive),
            "file_hash": hashlib.sha256(archive).hexdigest(),
        },
    )


def _finish(row: Kind) -> Kind:
    """Writes the row's own id/owner into the labels, then records its references."""
    metadata = dict(row.document.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **_labels(row)}
    row.document = {**row.document, "metadata": metadata}
    row.save(update_fields=["document"])
    references.sync(row)
    return row


def _exists_message(name: str, namespace: str) -> str:
    return f"Skill name '{name}' already exists in namespace '{namespace}'"


def _revivable(owner: Owner, namespace: str, name: str) -> Kind | None:
    rows = Kind.objects.filter(kind=SKILL, namespace=namespace, name=name, is_active=False)
    if access.is_personal(namespace):
        rows = rows.filter(owner=owner.user) if owner.user is not None else rows.filter(owner__isnull=True)
    return rows.select_for_update().order_by("-id").first()


def _require_create(actor: User, owner: Owner, namespace: str) -> None:
    services.require_write(
        actor,
        owner,
        namespace,
        access.CREATE,
        NamespaceDenied(f"Namespace '{namespace}' not found or permission denied"),
    )


def _create_skill(
    *,
    actor: User,
    owner: Owner,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    archive: bytes | None,
) -> Kind:
    document = _document(name=name, namespace=namespace, spec=spec, status=status)
    if selectors.find(owner.user, SKILL, namespace, name) is not None:
        raise SkillExists(_exists_message(name, namespace))
    row = _revivable(owner, namespace, name)
    try:
        with transaction.atomic():
            if row is None:
                row = Kind.objects.create(
                    owner=owner.user, kind=SKILL, namespace=namespace, name=name, document=document
                )
            else:
                row.owner = owner.user
                row.is_active = True
                row.document = document
                row.resource_version += 1
                row.save()
    except IntegrityError as exc:
        # A concurrent upload of the same name won the race for the unique key.
        raise SkillExists(_exists_message(name, namespace)) from exc
    _save_binary(row, archive)
    return _finish(row)


@transaction.atomic
def store_skill(
    *, actor: User, owner: Owner, namespace: str, name: str, archive: bytes, filename: str
) -> Kind:
    """Creates a skill from a ZIP (or revives a deleted one of the same name).

    ``owner=Owner(None)`` stores a public skill (admin actors only, namespace ``default``).
    """
    _require_create(actor, owner, namespace)
    parsed = validate_archive(archive, filename)
    return _create_skill(
        actor=actor,
        owner=owner,
        namespace=namespace,
        name=name.strip(),
        spec=parsed.spec(),
        status=parsed.status(),
        archive=archive,
    )


def _update(row: Kind, *, spec: dict[str, Any], status: dict[str, Any]) -> None:
    row.document = _document(name=row.name, namespace=row.namespace, spec=spec, status=status, row=row)
    row.resource_version += 1
    row.save(update_fields=["document", "resource_version", "updated_at"])


@transaction.atomic
def replace_archive(
    *, actor: User, skill_id: int, archive: bytes, filename: str, public: bool = False
) -> Kind:
    """Replaces a skill's archive and everything read from it; name and namespace stay.

    ``public=True`` addresses only public skills (the admin routes; 404 "Public skill not found").
    """
    if public:
        services.require_write(actor, Owner(None), DEFAULT_NAMESPACE, access.UPDATE, SkillNotFound())
        row = public_skill(skill_id, lock=True)
    else:
        row = skill_for(actor, skill_id, access.UPDATE, lock=True)
    parsed = validate_archive(archive, filename)
    _update(row, spec=parsed.spec(), status=parsed.status())
    _save_binary(row, archive)
    return _finish(row)


def _referenced_detail(row: Kind, ghosts: list[Kind]) -> dict[str, Any]:
    return {
        "code": "SKILL_REFERENCED",
        "message": (
            f"Skill '{row.name}' is referenced by {len(ghosts)} Ghost(s); "
            "remove the references before deleting it"
        ),
        "skill_name": row.name,
        "referenced_ghosts": [{"id": g.pk, "name": g.name, "namespace": g.namespace} for g in ghosts],
    }


def _skill_to_delete(actor: User, skill_id: int) -> Kind:
    """The locked skill ``actor`` may delete through ``DELETE /skills/{id}``.

    A system admin may delete any user's or group's skill (the reference's rule: owner, admin,
    or Maintainer+ of the skill's group). This is the one exception to ``selectors.can``, kept
    here and to delete only: admins still cannot read other users' skills.
    """
    if not actor.is_admin:
        return skill_for(actor, skill_id, access.DELETE, lock=True)
    row = None
    if 0 < skill_id <= MAX_ID:
        row = _active_skills().filter(pk=skill_id).select_for_update().first()
    if row is None:
        raise SkillNotFound()
    return row


@transaction.atomic
def delete_skill(*, actor: User, skill_id: int, public: bool = False) -> None:
    """Soft-deletes the row and hard-deletes its archive; refused while Ghosts use the skill.

    The referrers block an admin's delete as they block the owner's: deleting would break
    those Ghosts.
    """
    if public:
        services.require_write(actor, Owner(None), DEFAULT_NAMESPACE, access.DELETE, SkillNotFound())
        row = public_skill(skill_id, lock=True)
    else:
        row = _skill_to_delete(actor, skill_id)
    ghosts = referencing_ghosts(row)
    if ghosts:
        raise SkillReferenced(_referenced_detail(row, ghosts))
    SkillBinary.objects.filter(kind=row).delete()
    KindReference.objects.filter(source=row).delete()
    row.is_active = False
    row.save(update_fields=["is_active", "updated_at"])


@transaction.atomic
def create_public_skill(
    *,
    actor: User,
    name: str,
    description: str,
    prompt: str | None = None,
    version: str | None = None,
    author: str | None = None,
    tags: list[str] | None = None,
) -> Kind:
    """A public skill defined by its fields alone (it has no archive to download)."""
    spec = {
        "description": description,
        "prompt": prompt,
        "version": version,
        "author": author,
        "tags": tags,
        "bindShells": list(DEFAULT_BIND_SHELLS),
        "source": {"type": "upload"},
    }
    _require_create(actor, Owner(None), DEFAULT_NAMESPACE)
    return _create_skill(
        actor=actor,
        owner=Owner(None),
        namespace=DEFAULT_NAMESPACE,
        name=name.strip(),
        spec=spec,
        status={"state": "Available"},
        archive=None,
    )


PUBLIC_EDITABLE = ("description", "prompt", "version", "author", "tags")


@transaction.atomic
def update_public_skill(*, actor: User, skill_id: int, changes: dict[str, Any]) -> Kind:
    """Sets the given fields of a public skill's spec (None means unchanged)."""
    services.require_write(actor, Owner(None), DEFAULT_NAMESPACE, access.UPDATE, SkillNotFound())
    row = public_skill(skill_id, lock=True)
    spec = dict(row.spec)
    for field in PUBLIC_EDITABLE:
        if changes.get(field) is not None:
            spec[field] = changes[field]
    status = row.document.get("status") or {"state": "Available"}
    _update(row, spec=spec, status=status)
    return _finish(row)


def _without_skill(ghost: Kind, skill_name: str) -> dict[str, Any]:
    spec = dict(ghost.spec)
    for key in ("skills", "preload_skills"):
        if isinstance(spec.get(key), list):
            spec[key] = [item for item in spec[key] if item != skill_name]
    return {**ghost.document, "spec": spec}


def _drop_reference(actor: User, ghost: Kind, skill_name: str) -> None:
    owner = Owner(ghost.owner) if access.is_personal(ghost.namespace) else Owner(actor)
    services.update_resource(
        actor=actor,
        kind_type=registry.by_kind("Ghost"),
        namespace=ghost.namespace,
        name=ghost.name,
        body=_without_skill(ghost, skill_name),
        owner=owner,
    )


@transaction.atomic
def remove_references(*, actor: User, skill_id: int) -> dict[str, Any]:
    """Removes the skill from every Ghost using it, so it can be deleted."""
    row = skill_for(actor, skill_id, access.UPDATE, lock=True)
    ghosts = referencing_ghosts(row)
    for ghost in ghosts:
        _drop_reference(actor, ghost, row.name)
    return {"removed_count": len(ghosts), "affected_ghosts": [ghost.name for ghost in ghosts]}


@transaction.atomic
def remove_reference(*, actor: User, skill_id: int, ghost_id: int) -> dict[str, Any]:
    """Removes the skill from one Ghost that uses it."""
    row = skill_for(actor, skill_id, access.UPDATE, lock=True)
    ghost = next((g for g in referencing_ghosts(row) if g.pk == ghost_id), None)
    if ghost is None:
        raise NotFound(f"Ghost {ghost_id} does not reference Skill '{row.name}'")
    _drop_reference(actor, ghost, row.name)
    return {"success": True, "ghost_name": ghost.name}
