"""The caller's own profile (``/api/users``): updates, git credentials, and the boot-time reads.

Git tokens are stored encrypted (``wegent.crypto``) and only ever leave the server masked, so a
client that edits an entry sends the mask back; that means "keep the stored token". Tokens are
not checked against the git provider here (no outbound network from this service).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts import hooks
from accounts.models import User
from accounts.roles import SystemRole
from accounts.services import system_config, users
from wegent import crypto
from wegent.errors import BadRequest, NotFound

GIT_TYPES = ("github", "gitlab", "gitee", "gitea", "gerrit")
GIT_AUTH_TYPES = ("digest", "basic")
GIT_FIELDS = ("git_domain", "type", "user_name", "git_id", "git_login", "git_email", "auth_type")
PREFERENCE_CHOICES: dict[str, tuple[str, ...]] = {
    "send_key": ("enter", "cmd_enter"),
    "search_key": ("cmd_k", "cmd_f", "disabled"),
}
PREFERENCE_FLAGS = ("memory_enabled",)
TEAM_MODES = ("chat", "code", "both")
DEFAULT_TEAM_MODES = ("chat", "code", "knowledge", "task")

GERRIT_NEEDS_USER = "username is required for Gerrit"
MASK_WITHOUT_MATCH = "A masked git token can only be sent back for an entry that is already stored"
MASK_AMBIGUOUS = "Several stored git tokens match this mask; send the entry id"
GIT_TOKEN_NOT_FOUND = "Git token not found"


# --- updating the profile -------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileChanges:
    """What ``PUT /users/me`` asks for; ``None`` means "leave as it is"."""

    user_name: str | None = None
    email: str | None = None
    password: str | None = None
    git_info: list[dict[str, Any]] | None = None
    preferences: dict[str, Any] | None = None


@transaction.atomic
def update_profile(*, actor: User, changes: ProfileChanges) -> User:
    # Locked so two concurrent edits of git_info/preferences cannot lose each other's entries.
    user = User.objects.select_for_update().get(pk=actor.pk)
    fields: set[str] = set()
    if changes.user_name is not None and changes.user_name != user.user_name:
        if User.objects.filter(user_name=changes.user_name).exclude(pk=user.pk).exists():
            raise BadRequest(users.USER_EXISTS)
        user.user_name = changes.user_name
        fields.add("user_name")
    if changes.email:
        user.email = changes.email
        fields.add("email")
    if changes.git_info is not None:
        user.git_info = merge_git_info(_stored_git_info(user), changes.git_info)
        fields.add("git_info")
        first_email = changes.git_info[0].get("git_email") if changes.git_info else None
        if not user.email and first_email:
            user.email = first_email
            fields.add("email")
    if changes.password:
        user.set_password(changes.password)
        fields.add("password")
    if changes.preferences is not None:
        user.preferences = merge_preferences(user.preferences, changes.preferences)
        fields.add("preferences")
    if not fields:
        return user
    try:
        # A nested savepoint: a unique clash the check above missed (a race, or a database
        # whose collation ignores case) must answer 400, not break the outer transaction.
        with transaction.atomic():
            user.save(update_fields=[*sorted(fields), "updated_at"])
    except IntegrityError as exc:
        raise BadRequest(users.USER_EXISTS) from exc
    return user


def merge_preferences(stored: Any, incoming: dict[str, Any]) -> dict[str, Any]:
    """Key-by-key merge that keeps only known keys with allowed values; other stored keys stay."""
    merged = dict(stored) if isinstance(stored, dict) else {}
    for key, allowed in PREFERENCE_CHOICES.items():
        if incoming.get(key) in allowed:
            merged[key] = incoming[key]
    for key in PREFERENCE_FLAGS:
        if isinstance(incoming.get(key), bool):
            merged[key] = incoming[key]
    return merged


def _stored_git_info(user: User) -> list[dict[str, Any]]:
    entries = user.git_info if isinstance(user.git_info, list) else []
    return [dict(entry) for entry in entries if isinstance(entry, dict)]


def merge_git_info(stored: list[dict[str, Any]], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merges ``incoming`` into ``stored``: by ``id``, else by (domain, plaintext token).

    Stored entries the client did not mention stay. Every result entry has an ``id`` and an
    encrypted token.
    """
    result = [dict(entry) for entry in stored]
    for item in incoming:
        if item.get("type") == "gerrit" and not item.get("user_name"):
            raise BadRequest(GERRIT_NEEDS_USER)
        index = _find_git_entry(result, item)
        token = item["git_token"]
        if crypto.is_mask(token):
            if index is None:
                raise BadRequest(MASK_WITHOUT_MATCH)
            token = result[index].get("git_token") or ""
        entry = dict(result[index]) if index is not None else {}
        for field in GIT_FIELDS:
            if field in item:
                entry[field] = item[field]
            else:
                entry.setdefault(field, None)
        entry["id"] = item.get("id") or entry.get("id") or str(uuid.uuid4())
        entry["git_token"] = crypto.encrypt(token)
        if index is None:
            result.append(entry)
        else:
            result[index] = entry
    return result


def _find_git_entry(entries: list[dict[str, Any]], item: dict[str, Any]) -> int | None:
    item_id = item.get("id")
    if item_id:
        for index, entry in enumerate(entries):
            if entry.get("id") == item_id:
                return index
    domain, token = item.get("git_domain"), item["git_token"]
    same_domain = [i for i, entry in enumerate(entries) if entry.get("git_domain") == domain]
    if crypto.is_mask(token):
        # The mask hides the token, so it only identifies an entry when exactly one fits.
        fits = [i for i in same_domain if crypto.mask(entries[i].get("git_token") or "") == token]
        if len(fits) > 1:
            raise BadRequest(MASK_AMBIGUOUS)
        return fits[0] if fits else None
    for index in same_domain:
        if crypto.decrypt(entries[index].get("git_token") or "") == token:
            return index
    return None


@transaction.atomic
def delete_git_token(*, actor: User, git_domain: str, git_info_id: str | None) -> User:
    """Deletes the entry with ``git_info_id``, else every entry of ``git_domain``; 404 if none."""
    user = User.objects.select_for_update().get(pk=actor.pk)
    stored = _stored_git_info(user)
    if git_info_id:
        kept = [entry for entry in stored if entry.get("id") != git_info_id]
    else:
        kept = [entry for entry in stored if entry.get("git_domain") != git_domain]
    if len(kept) == len(stored):
        raise NotFound(GIT_TOKEN_NOT_FOUND)
    user.git_info = kept
    user.save(update_fields=["git_info", "updated_at"])
    return user


def create_user_as_admin(
    *, actor: User, user_name: str, password: str | None, email: str | None, role: str | None
) -> User:
    """``POST /users``: like the reference, an omitted password becomes the user name."""
    return users.create_user(
        user_name=user_name,
        password=password or user_name,
        email=email or None,
        role=role or SystemRole.USER,
    )


# --- reads for the web frontend's boot --------------------------------------------------------


def features() -> dict[str, Any]:
    return {"memory_enabled": bool(settings.MEMORY_ENABLED)}


def _int_ids(value: Any) -> list[int]:
    ids: list[int] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, int) and not isinstance(item, bool) and item not in ids:
            ids.append(item)
    return ids


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def quick_access(*, actor: User) -> dict[str, Any]:
    """System recommendations (admin config) merged with the user's own quick-access list.

    System teams come first, and the client shows them as recommended, until the user has saved
    a list at least as new as the current system version.
    """
    row = system_config.get_config(system_config.QUICK_ACCESS_RECOMMENDED)
    system_version = row.version if row is not None else 0
    system_ids = _int_ids(row.config_value.get("teams")) if row and isinstance(row.config_value, dict) else []
    prefs = actor.preferences if isinstance(actor.preferences, dict) else {}
    mine = prefs.get("quick_access") if isinstance(prefs.get("quick_access"), dict) else {}
    user_version = _optional_int(mine.get("version"))
    user_ids = _int_ids(mine.get("teams"))
    show_system = user_version is None or user_version < system_version

    wanted = [(team_id, True) for team_id in system_ids] if show_system else []
    shown = {team_id for team_id, _ in wanted}
    wanted += [(team_id, False) for team_id in user_ids if team_id not in shown]
    summaries = team_summaries([team_id for team_id, _ in wanted], actor)
    teams = [
        _quick_access_team(team_id, is_system, summaries[team_id])
        for team_id, is_system in wanted
        if team_id in summaries
    ]
    return {
        "system_version": system_version,
        "user_version": user_version,
        "show_system_recommended": show_system,
        "teams": teams,
    }


def team_summaries(ids: list[int], actor: User) -> dict[int, dict[str, Any]]:
    """Asks every registered provider (the kinds app) about ``ids``; the first answer wins."""
    found: dict[int, dict[str, Any]] = {}
    if not ids:
        return found
    for provider in hooks.team_summaries:
        missing = [team_id for team_id in ids if team_id not in found]
        if not missing:
            break
        for team_id, summary in provider(missing, actor).items():
            if team_id in missing and isinstance(summary, dict):
                found.setdefault(team_id, summary)
    return found


def _quick_access_team(team_id: int, is_system: bool, summary: dict[str, Any]) -> dict[str, Any]:
    mode = summary.get("recommended_mode")
    return {
        "id": team_id,
        "name": str(summary.get("name") or f"Team {team_id}"),
        "is_system": is_system,
        "recommended_mode": mode if mode in TEAM_MODES else "both",
        "agent_type": summary.get("agent_type"),
    }


# Our own defaults, shown until an admin stores ``chat_slogan_tips``.
DEFAULT_SLOGANS: list[dict[str, Any]] = [
    {
        "id": 1,
        "zh": "有什么想法？交给你的智能体团队吧。",  # noqa: RUF001
        "en": "Got something in mind? Hand it to your agent team.",
        "mode": "chat",
    },
    {
        "id": 2,
        "zh": "描述你想要的改动，剩下的交给代码智能体。",  # noqa: RUF001
        "en": "Describe the change you want; the coding agents do the rest.",
        "mode": "code",
    },
]
DEFAULT_TIPS: list[dict[str, Any]] = [
    {
        "id": 1,
        "zh": "附上一个文件，让智能体帮你概括要点或翻译。",  # noqa: RUF001
        "en": "Attach a file and ask for its key points or a translation.",
        "mode": "chat",
    },
    {
        "id": 2,
        "zh": "把最常用的团队放进快捷入口，一键切换。",  # noqa: RUF001
        "en": "Put the teams you use most in quick access to switch with one click.",
        "mode": "both",
    },
    {
        "id": 3,
        "zh": "开始编码任务前，先选好仓库和分支。",  # noqa: RUF001
        "en": "Pick the repository and branch before starting a coding task.",
        "mode": "code",
    },
    {
        "id": 4,
        "zh": "在同一个会话里继续追问，之前的上下文都会保留。",  # noqa: RUF001
        "en": "Keep asking in the same conversation: earlier context is kept.",
        "mode": "both",
    },
]


def _welcome_items(value: Any, default: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return [dict(item) for item in default]
    items = []
    for item in value:
        if not isinstance(item, dict) or _optional_int(item.get("id")) is None:
            continue  # an admin's malformed entry is skipped rather than failing every page load
        mode = item.get("mode")
        items.append(
            {
                "id": item["id"],
                "zh": str(item.get("zh") or ""),
                "en": str(item.get("en") or ""),
                "mode": mode if mode in TEAM_MODES else "both",
            }
        )
    return items


def welcome_config(*, actor: User) -> dict[str, Any]:
    stored = system_config.get_value(system_config.CHAT_SLOGAN_TIPS)
    stored = stored if isinstance(stored, dict) else {}
    return {
        "slogans": _welcome_items(stored.get("slogans"), DEFAULT_SLOGANS),
        "tips": _welcome_items(stored.get("tips"), DEFAULT_TIPS),
        "admin_setup_completed": system_config.is_admin_setup_completed() if actor.is_admin else None,
    }


def parse_team_ref(value: str | None) -> dict[str, str] | None:
    """``name#namespace`` (namespace defaults to ``default``); empty means no default team."""
    name, _, namespace = (value or "").strip().partition("#")
    if not name.strip():
        return None
    return {"name": name.strip(), "namespace": namespace.strip() or "default"}


def default_teams() -> dict[str, dict[str, str] | None]:
    return {
        mode: parse_team_ref(getattr(settings, f"DEFAULT_TEAM_{mode.upper()}", ""))
        for mode in DEFAULT_TEAM_MODES
    }


def search_users(*, actor: User, query: str, limit: int) -> list[User]:
    """Active users other than the caller whose name or email contains ``query`` (any case)."""
    matches = (
        User.objects.filter(is_active=True)
        .exclude(pk=actor.pk)
        .filter(Q(user_name__icontains=query) | Q(email__icontains=query))
        .order_by("user_name", "id")
    )
    return list(matches[:limit])


# Gamification is not built yet: a fixed newborn pet, hidden, that never gains experience.
PET_NEXT_STAGE_EXPERIENCE = 100


def pet(*, actor: User) -> dict[str, Any]:
    seed = hashlib.sha256(f"wegent-pet:{actor.pk}".encode()).hexdigest()[:16]
    return {
        "pet_name": "Wegi",
        "is_visible": False,
        "id": actor.pk,
        "user_id": actor.pk,
        "stage": 1,
        "experience": 0,
        "total_chats": 0,
        "current_streak": 0,
        "longest_streak": 0,
        "last_active_date": None,
        "appearance_traits": {
            "primary_domain": "general",
            "secondary_domain": None,
            "color_tone": "gray",
            "accessories": [],
        },
        "svg_seed": seed,
        "experience_to_next_stage": PET_NEXT_STAGE_EXPERIENCE,
        "streak_multiplier": 1.0,
        "created_at": actor.created_at,
        "updated_at": actor.created_at,
    }
