"""The extension points kinds offers the apps above it (listed with all others in wegent/hooks.py).

Declared here, outside the legacy adapters that call them, so an app above registers without
importing ``kinds.adapters``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kinds.models import Kind
from wegent.hooks import Hook

running_task_finders: Hook[Callable[[list[Kind]], list[dict[str, Any]]]] = Hook(
    "kinds.running_task_finders",
    "finder(teams) -> the PENDING/RUNNING tasks of those teams, each "
    "{task_id, task_name, task_title, status, team_name}",
)
team_renamed: Hook[Callable[[Kind, str], None]] = Hook(
    "kinds.team_renamed",
    "hook(team, old_name) after a team is renamed, inside the rename's transaction",
)
live_status: Hook[Callable[[int, str, list[dict[str, Any]]], list[dict[str, Any]] | None]] = Hook(
    "kinds.live_status",
    "overlay(reader_id, kind, documents) -> the documents with status fields that live outside "
    "the row (a Device's online state), or None when it has none for that kind",
)
