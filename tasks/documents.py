"""Building and changing Task and Workspace documents (the CRD JSON stored on each row)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from kinds.models import DEFAULT_NAMESPACE
from kinds.specs import API_VERSION
from tasks import statuses


def iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def parse_iso(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def workspace_document(
    name: str,
    *,
    git_url: str = "",
    git_repo: str = "",
    git_repo_id: int = 0,
    git_domain: str = "",
    branch_name: str = "",
    namespace: str = DEFAULT_NAMESPACE,
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace, "displayName": None, "labels": None},
        "spec": {
            "repository": {
                "gitUrl": git_url,
                "gitRepo": git_repo,
                "gitRepoId": git_repo_id,
                "branchName": branch_name,
                "gitDomain": git_domain,
            }
        },
        "status": {"state": "Available", "message": None},
    }


def task_document(
    name: str,
    *,
    title: str,
    prompt: str,
    team_ref: dict[str, Any],
    workspace_name: str,
    labels: dict[str, str],
    is_group_chat: bool,
    now: dt.datetime,
    device_id: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> dict[str, Any]:
    stamp = iso(now)
    return {
        "apiVersion": API_VERSION,
        "kind": "Task",
        "metadata": {"name": name, "namespace": namespace, "displayName": None, "labels": labels},
        "spec": {
            "title": title,
            "prompt": prompt,
            "teamRef": team_ref,
            "workspaceRef": {"name": workspace_name, "namespace": namespace},
            "is_group_chat": is_group_chat,
            "knowledgeBaseRefs": None,
            "device_id": device_id,
        },
        "status": {
            "state": "Available",
            "status": statuses.PENDING,
            "progress": 0,
            "result": None,
            "errorMessage": None,
            "createdAt": stamp,
            "updatedAt": stamp,
            "completedAt": None,
            "app": None,
        },
    }


def changed(document: dict[str, Any], *, spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    """A copy of ``document`` with ``spec`` keys and ``status`` keys replaced."""
    new = copy.deepcopy(document) if isinstance(document, dict) else {}
    if spec:
        new["spec"] = {**(new.get("spec") or {}), **spec}
    if status:
        new["status"] = {**(new.get("status") or {}), **status}
    return new


def with_labels(document: dict[str, Any], labels: dict[str, str | None]) -> dict[str, Any]:
    """A copy with ``labels`` merged in (a None value removes the label)."""
    new = copy.deepcopy(document) if isinstance(document, dict) else {}
    metadata = dict(new.get("metadata") or {})
    merged = dict(metadata.get("labels") or {})
    for key, value in labels.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    metadata["labels"] = merged
    new["metadata"] = metadata
    return new
