"""Task and Workspace through the Kind API (``/api/v1/namespaces/{ns}/tasks|workspaces``).

The rows live in ``TaskResource``; the kinds app dispatches these two kinds here (reference
§3.6). Rules on top of the generic ones (normalised documents, group roles, 404 texts, 409 on a
duplicate name or a stale ``metadata.resourceVersion``):

* A Task's ``teamRef`` must be a Team the caller can read, its ``workspaceRef`` a Workspace of
  the caller (a group's, in a group namespace). Creating or updating a Task starts a turn: a
  USER + ASSISTANT message pair with ``spec.prompt``.
* ``status`` belongs to the server: the body's status is ignored (a new Task starts PENDING,
  an updated one keeps its status object and goes back to PENDING for the new turn).
* An update whose spec and metadata equal the stored ones changes nothing ("unchanged", no new
  turn), so applying the same file twice is harmless. Otherwise only a COMPLETED Task may be
  updated.
* Deleting a Task soft-deletes it as ``DELETE /api/tasks/{id}`` does; its name is free again at
  once. Deleting a Workspace removes the row, refused (409, with the referrers) while an active
  Task still refers to it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from kinds import access, registry
from kinds import selectors as kind_selectors
from kinds import services as kind_services
from kinds.exceptions import (
    AlreadyExists,
    KindNotFound,
    NamespaceDenied,
    StaleResourceVersion,
    StillReferenced,
)
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.registry import KindType
from tasks import documents, specs, statuses
from tasks.models import TASK, WORKSPACE, Subtask, TaskResource
from tasks.services import events, lifecycle, turns

CREATED, UPDATED, UNCHANGED = kind_services.CREATED, kind_services.UPDATED, kind_services.UNCHANGED
# Message columns shown in a Task's ``status.subTasks`` (reference §3.6).
_MESSAGE_COLUMNS = (
    "task_id",
    "title",
    "role",
    "bot_ids",
    "executor_namespace",
    "executor_name",
    "status",
    "progress",
    "result",
    "error_message",
    "message_id",
    "parent_id",
    "created_at",
    "updated_at",
    "completed_at",
)
_MAX_REFERRERS_SHOWN = 10


# --- reading ------------------------------------------------------------------------------------


def scoped_rows(actor: User, kind: str, namespace: str) -> QuerySet[TaskResource]:
    """Active rows of ``kind`` in ``namespace`` as the Kind API sees them: the caller's own in
    ``default``, every row of the group otherwise (the caller's role is checked separately)."""
    rows = TaskResource.objects.filter(kind=kind, namespace=namespace, is_active=True)
    if access.is_personal(namespace):
        rows = rows.filter(owner=actor)
    return rows


def sub_task(row: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``status.subTasks`` (a message as the Kind API shows it)."""
    return {
        "title": row["title"],
        "role": row["role"],
        "bot_ids": row["bot_ids"] if isinstance(row["bot_ids"], list) else [],
        "executor_namespace": row["executor_namespace"],
        "executor_name": row["executor_name"],
        "status": row["status"],
        "progress": row["progress"],
        "result": row["result"],
        "errorMessage": row["error_message"],
        "messageId": row["message_id"],
        "parentId": row["parent_id"],
        "createdAt": documents.iso(row["created_at"]),
        "updatedAt": documents.iso(row["updated_at"]),
        "completedAt": documents.iso(row["completed_at"]),
    }


def _messages_by_task(tasks: QuerySet[TaskResource] | list[TaskResource]) -> dict[int, list[dict[str, Any]]]:
    """Every message of the given tasks, in one query, ordered by message id."""
    ids = tasks.values("pk") if isinstance(tasks, QuerySet) else [task.pk for task in tasks]
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = Subtask.objects.filter(task_id__in=ids).order_by("task_id", "message_id", "id")
    for row in rows.values(*_MESSAGE_COLUMNS):
        found[row["task_id"]].append(sub_task(row))
    return found


def render(row: TaskResource, messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The document as clients see it; a Task's status also lists its messages."""
    document = kind_selectors._render_document(
        row.kind, row.name, row.namespace, row.resource_version, row.document
    )
    if row.kind == TASK:
        status = document.get("status")
        document["status"] = {**(status if isinstance(status, dict) else {}), "subTasks": messages or []}
    return document


def render_rows(rows: QuerySet[TaskResource], kind: str) -> list[dict[str, Any]]:
    listed = list(rows.order_by("id"))
    messages = _messages_by_task(rows) if kind == TASK and listed else {}
    return [render(row, messages.get(row.pk, [])) for row in listed]


def render_one(row: TaskResource) -> dict[str, Any]:
    messages = _messages_by_task([row]).get(row.pk, []) if row.kind == TASK else None
    return render(row, messages)


# --- shared write steps -------------------------------------------------------------------------


def _kind_type(kind: str) -> KindType:
    kind_type = registry.by_kind(kind)
    assert kind_type is not None, f"{kind} is registered in TasksConfig.ready()"
    return kind_type


def _require(actor: User, namespace: str, action: str, denied: Exception) -> None:
    if not access.can(actor, namespace, action):
        raise denied


def _locked(actor: User, kind: str, namespace: str, name: str, action: str) -> TaskResource:
    """The row to update or delete, locked; the reference's 404 texts (never 403)."""
    _require(actor, namespace, action, KindNotFound(f"{kind} '{name}' not found or permission denied"))
    row = scoped_rows(actor, kind, namespace).select_for_update().filter(name=name).first()
    if row is None:
        raise KindNotFound(f"{kind} '{name}' not found")
    return row


def _check_version(kind: str, name: str, row: TaskResource, version: Any) -> None:
    if version not in (None, "") and str(version) != str(row.resource_version):
        raise StaleResourceVersion(
            f"{kind} '{name}' has been modified: resourceVersion {version} is stale "
            f"(current {row.resource_version}); read it again and retry"
        )


def _same_content(row: TaskResource, document: dict[str, Any]) -> bool:
    """Whether ``document`` says what the row says (status is the server's, so not compared)."""
    stored = row.document if isinstance(row.document, dict) else {}
    return all(stored.get(key) == document.get(key) for key in ("metadata", "spec"))


def _insert(actor: User, kind: str, namespace: str, name: str, document: dict[str, Any]) -> TaskResource:
    try:
        with transaction.atomic():
            return TaskResource.objects.create(
                owner=actor, kind=kind, namespace=namespace, name=name, document=document
            )
    except IntegrityError as exc:
        # A concurrent create of the same name won the race for the unique key.
        raise AlreadyExists(f"{kind} '{name}' already exists") from exc


def _name_of(body: Any) -> str | None:
    metadata = body.get("metadata") if isinstance(body, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) and name else None


# --- Workspace ----------------------------------------------------------------------------------


def _workspace_referrers(row: TaskResource) -> list[TaskResource]:
    """Active Tasks whose ``workspaceRef`` names this Workspace (as their owner resolves it)."""
    candidates = TaskResource.objects.filter(
        kind=TASK, is_active=True, document__spec__workspaceRef__name=row.name
    )
    if access.is_personal(row.namespace):
        candidates = candidates.filter(owner_id=row.owner_id)
    found = []
    for task in candidates.order_by("id"):
        ref = task.spec.get("workspaceRef")
        namespace = ref.get("namespace") if isinstance(ref, dict) else None
        if (namespace or DEFAULT_NAMESPACE) == row.namespace and ref.get("name") == row.name:
            found.append(task)
    return found


class WorkspaceBackend:
    kind = WORKSPACE

    def list(self, *, actor: User, namespace: str) -> list[dict[str, Any]]:
        if not access.can(actor, namespace, access.READ):
            return []
        return render_rows(scoped_rows(actor, self.kind, namespace), self.kind)

    def get(self, *, actor: User, namespace: str, name: str) -> dict[str, Any]:
        return render_one(self._readable(actor, namespace, name))

    def row(self, *, actor: User, namespace: str, name: str) -> TaskResource | None:
        return scoped_rows(actor, self.kind, namespace).filter(name=name).first()

    def _readable(self, actor: User, namespace: str, name: str) -> TaskResource:
        row = (
            scoped_rows(actor, self.kind, namespace).filter(name=name).first()
            if access.can(actor, namespace, access.READ)
            else None
        )
        if row is None:
            raise KindNotFound(f"{self.kind} '{name}' not found in namespace '{namespace}'")
        return row

    @transaction.atomic
    def create(self, *, actor: User, namespace: str, body: Any) -> dict[str, Any]:
        return render_one(self._create(actor, namespace, body))

    @transaction.atomic
    def update(self, *, actor: User, namespace: str, name: str, body: Any) -> dict[str, Any]:
        row, _ = self._update(actor, namespace, name, body)
        return render_one(row)

    @transaction.atomic
    def apply(self, *, actor: User, namespace: str, body: Any) -> str:
        name = _name_of(body)
        if name and scoped_rows(actor, self.kind, namespace).filter(name=name).exists():
            return self._update(actor, namespace, name, body)[1]
        self._create(actor, namespace, body)
        return CREATED

    @transaction.atomic
    def delete(self, *, actor: User, namespace: str, name: str) -> None:
        row = _locked(actor, self.kind, namespace, name, access.DELETE)
        referrers = _workspace_referrers(row)
        if referrers:
            shown = ", ".join(f"Task {t.namespace}/{t.name}" for t in referrers[:_MAX_REFERRERS_SHOWN])
            more = (
                f" and {len(referrers) - _MAX_REFERRERS_SHOWN} more"
                if len(referrers) > _MAX_REFERRERS_SHOWN
                else ""
            )
            raise StillReferenced(
                f"Workspace '{name}' is still referenced by {shown}{more}; delete or change those first",
                extra={
                    "referrers": [{"kind": TASK, "namespace": t.namespace, "name": t.name} for t in referrers]
                },
            )
        row.delete()

    def _parse(self, actor: User, namespace: str, body: Any, name: str | None = None) -> tuple[dict, Any]:
        return kind_services.parse(_kind_type(self.kind), body, namespace=namespace, name=name, actor=actor)

    def _new_document(self, actor: User, namespace: str, body: Any) -> tuple[dict, str]:
        """The checked document of a new row and its name; refuses a name already taken."""
        _require(
            actor,
            namespace,
            access.CREATE,
            NamespaceDenied(f"Namespace '{namespace}' not found or permission denied"),
        )
        document, _ = self._parse(actor, namespace, body)
        name = document["metadata"]["name"]
        if scoped_rows(actor, self.kind, namespace).filter(name=name).exists():
            raise AlreadyExists(f"{self.kind} '{name}' already exists")
        return document, name

    def _create(self, actor: User, namespace: str, body: Any) -> TaskResource:
        document, name = self._new_document(actor, namespace, body)
        return _insert(actor, self.kind, namespace, name, document)

    def _update(self, actor: User, namespace: str, name: str, body: Any) -> tuple[TaskResource, str]:
        row = _locked(actor, self.kind, namespace, name, access.UPDATE)
        document, version = self._parse(actor, namespace, body, name)
        _check_version(self.kind, name, row, version)
        if document == row.document:
            return row, UNCHANGED
        row.document = document
        row.resource_version += 1
        row.save(update_fields=["document", "resource_version", "updated_at"])
        return row, UPDATED


# --- Task ---------------------------------------------------------------------------------------


class TaskBackend(WorkspaceBackend):
    kind = TASK

    @transaction.atomic
    def delete(self, *, actor: User, namespace: str, name: str) -> None:
        row = _locked(actor, self.kind, namespace, name, access.DELETE)
        # The same soft delete as DELETE /api/tasks/{id}, done as the task's owner: in a group
        # namespace a Maintainer may delete a task another member created.
        lifecycle.delete_task(actor=row.owner, task_id=row.pk)

    def _create(self, actor: User, namespace: str, body: Any) -> TaskResource:
        document, name = self._new_document(actor, namespace, body)
        team = self._references(actor, document)
        bots = turns.team_bots(team)
        turns.check_prompt(document["spec"]["prompt"])
        document = _with_team_owner(document, team)
        document["status"] = _fresh_status()
        turns.answer_gates.call_all(actor.pk)  # its answer is the creator's (429 over a quota)
        task = _insert(actor, self.kind, namespace, name, document)
        self._start_turn(actor, task, team, bots)
        return task

    def _update(self, actor: User, namespace: str, name: str, body: Any) -> tuple[TaskResource, str]:
        row = _locked(actor, self.kind, namespace, name, access.UPDATE)
        document, version = self._parse(actor, namespace, body, name)
        _check_version(self.kind, name, row, version)
        team = self._references(actor, document)
        document = _with_team_owner(document, team)
        if _same_content(row, document):
            return row, UNCHANGED
        if row.status != statuses.COMPLETED:
            raise KindNotFound(
                f"Task '{name}' in namespace '{namespace}' cannot be modified when status is "
                f"'{row.status}'. Only COMPLETED tasks can be updated."
            )
        bots = turns.team_bots(team)
        turns.check_prompt(document["spec"]["prompt"])
        turns.answer_gates.call_all(row.owner_id)  # a new answer for the task's owner
        stamp = documents.iso(timezone.now())
        document["status"] = {
            **_fresh_status(),
            **row.state,
            "status": statuses.PENDING,
            "progress": 0,
            "errorMessage": None,
            "updatedAt": stamp,
            "completedAt": None,
        }
        row.document = document
        row.resource_version += 1
        row.save(update_fields=["document", "resource_version", "updated_at"])
        self._start_turn(actor, row, team, bots)
        return row, UPDATED

    def _references(self, actor: User, document: dict[str, Any]) -> Kind:
        """The Team the Task names (404 unless the caller can read it); its Workspace must exist."""
        spec = document["spec"]
        team_ref, workspace_ref = spec["teamRef"], spec["workspaceRef"]
        team = kind_selectors.resolve(actor, "Team", team_ref["name"], team_ref["namespace"])
        if team is None:
            raise KindNotFound(f"Team '{team_ref['name']}' not found in namespace '{team_ref['namespace']}'")
        ws_name, ws_namespace = workspace_ref["name"], workspace_ref["namespace"]
        visible = access.can(actor, ws_namespace, access.READ)
        if not visible or not scoped_rows(actor, WORKSPACE, ws_namespace).filter(name=ws_name).exists():
            raise KindNotFound(f"Workspace '{ws_name}' not found in namespace '{ws_namespace}'")
        return team

    @staticmethod
    def _start_turn(actor: User, task: TaskResource, team: Kind, bots: list[Kind]) -> None:
        prompt = task.spec.get("prompt") or ""
        _, answer = turns.add_messages(
            actor, task, team, bots, turns.TurnOptions(prompt=prompt, path=turns.EXECUTOR)
        )
        events.task_changed(task)
        if answer is not None:  # a Chat-shell team's answer streams at once
            lifecycle.start_answer_after_commit(task, answer)


def _fresh_status() -> dict[str, Any]:
    stamp = documents.iso(timezone.now())
    return {
        **specs.TaskStatus().model_dump(mode="json"),
        "status": statuses.PENDING,
        "createdAt": stamp,
        "updatedAt": stamp,
    }


def _with_team_owner(document: dict[str, Any], team: Kind) -> dict[str, Any]:
    """``teamRef.user_id`` is the team's owner (0 for a public team), whatever the body said."""
    spec = document["spec"]
    return {**document, "spec": {**spec, "teamRef": {**spec["teamRef"], "user_id": team.user_id_or_zero}}}


def register() -> None:
    """Registers the Task and Workspace backends with the kinds registry (idempotent)."""
    registry.register(
        KindType(kind=WORKSPACE, plural="workspaces", schema=specs.Workspace, backend=WorkspaceBackend())
    )
    registry.register(KindType(kind=TASK, plural="tasks", schema=specs.Task, backend=TaskBackend()))
