"""Tasks (conversations/runs) and Workspaces, their messages (Subtasks) and message contexts.

A ``TaskResource`` row holds a Task or a Workspace document (the reference keeps both in its
``tasks`` table, sharing one id sequence), or a placeholder that reserves a task id. The
document is the truth; a few columns are derived from it on every save so lists can filter
and sort in SQL.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from kinds.models import ResourceRow, live_name_unique, scope_index
from tasks import statuses

TASK, WORKSPACE, PLACEHOLDER = "Task", "Workspace", "Placeholder"
PLACEHOLDER_NAME = "temp-placeholder"
MAX_TITLE_COLUMN = 256


def _labels(document: Any) -> dict[str, Any]:
    metadata = document.get("metadata") if isinstance(document, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return labels if isinstance(labels, dict) else {}


def _part(document: Any, key: str) -> dict[str, Any]:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, dict) else {}


def is_listed(*, kind: str, namespace: str, document: Any) -> bool:
    """Whether a task shows in user task lists (the reference hides these categories)."""
    if kind != TASK or namespace == "system":
        return False
    if _part(document, "status").get("status") == statuses.DELETE:
        return False
    labels = _labels(document)
    if labels.get("taskType") == "summary" or labels.get("source") == "background_executor":
        return False
    if labels.get("type") == "background":
        return False
    return not (labels.get("type") == "subscription" and labels.get("userInteracted") != "true")


class TaskResource(ResourceRow):
    """A Task or Workspace document, or an inactive placeholder reserving a task id."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_resources"
    )
    kind = models.CharField(max_length=20)
    document = models.JSONField(default=dict)
    # The folder (``Project``) this task is filed in; 0 = none. Only the task's owner files it.
    project_id = models.BigIntegerField(default=0, db_index=True)
    # Derived from the document in save(); never written directly.
    status = models.CharField(max_length=24, default=statuses.PENDING, editable=False)
    title = models.CharField(max_length=MAX_TITLE_COLUMN, blank=True, default="", editable=False)
    task_type = models.CharField(max_length=20, blank=True, default="", editable=False)
    task_mode = models.CharField(max_length=20, blank=True, default="", editable=False)
    is_group_chat = models.BooleanField(default=False, editable=False)
    listed = models.BooleanField(default=False, editable=False)

    class Meta(ResourceRow.Meta):
        constraints = [live_name_unique("uniq_live_task_name")]
        indexes = [
            models.Index(fields=["owner", "kind", "listed"], name="task_owner_listed_idx"),
            scope_index("task_ns_scope_idx"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.sync_derived()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, *DERIVED_FIELDS}
        super().save(*args, **kwargs)

    def sync_derived(self) -> None:
        document = self.document if isinstance(self.document, dict) else {}
        spec, status, labels = _part(document, "spec"), _part(document, "status"), _labels(document)
        self.derive_keys()
        self.status = str(status.get("status") or statuses.PENDING)[:24]
        self.title = str(spec.get("title") or "")[:MAX_TITLE_COLUMN]
        self.task_type = str(labels.get("taskType") or "")[:20]
        self.task_mode = str(labels.get("type") or "")[:20]
        self.is_group_chat = bool(spec.get("is_group_chat"))
        self.listed = self.is_active and is_listed(
            kind=self.kind, namespace=self.namespace, document=document
        )

    @property
    def state(self) -> dict[str, Any]:
        """The document's ``status`` object."""
        return _part(self.document, "status")

    @property
    def labels(self) -> dict[str, Any]:
        return _labels(self.document)


DERIVED_FIELDS = ("scope", "live", "status", "title", "task_type", "task_mode", "is_group_chat", "listed")

NO_PROJECT = 0
MAX_PROJECT_NAME, MAX_PROJECT_COLOR = 100, 20


class Project(models.Model):
    """A user's folder of tasks in the sidebar (reference extras §4 "Projects").

    A task is in at most one folder: the folder's id is the task's ``project_id`` column
    (``NO_PROJECT`` = none), as in the reference, so a task row alone says where it is filed.
    Deleting a folder is soft and files its tasks back under ``NO_PROJECT``.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=MAX_PROJECT_NAME)
    description = models.TextField(blank=True, default="")
    color = models.CharField(max_length=MAX_PROJECT_COLOR, blank=True, default="")
    sort_order = models.IntegerField(default=0)
    is_expanded = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "id"]
        indexes = [models.Index(fields=["user", "is_active", "sort_order"], name="project_user_order_idx")]

    def __str__(self) -> str:
        return self.name


class Subtask(models.Model):
    """One message of a task: a USER turn or an ASSISTANT answer."""

    USER, ASSISTANT = "USER", "ASSISTANT"
    ROLES = [(USER, USER), (ASSISTANT, ASSISTANT)]

    task = models.ForeignKey(TaskResource, on_delete=models.CASCADE, related_name="subtasks")
    # The conversation's owner (the task owner, also for group-chat members' messages).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subtasks")
    team_id = models.BigIntegerField(default=0)
    title = models.CharField(max_length=256, blank=True, default="")
    bot_ids = models.JSONField(default=list)
    role = models.CharField(max_length=16, choices=ROLES, default=ASSISTANT)
    executor_namespace = models.CharField(max_length=100, blank=True, default="")
    executor_name = models.CharField(max_length=100, blank=True, default="")
    executor_deleted_at = models.BooleanField(default=False)
    prompt = models.TextField(blank=True, default="")
    message_id = models.PositiveIntegerField(default=1)
    parent_id = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=24, choices=statuses.SUBTASK_CHOICES, default=statuses.PENDING)
    progress = models.SmallIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    sender_type = models.CharField(max_length=20, blank=True, default="")
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reply_to_subtask_id = models.BigIntegerField(default=0)
    # Who is producing this answer and when it last showed life; a stale lease marks a dead worker.
    worker_id = models.CharField(max_length=64, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Tokens the answer's model calls used, from the providers' usage reports (summed over tool
    # rounds and retries); what quotas count. 0 when the provider reported none.
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["message_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "message_id"], name="uniq_task_message_id"),
        ]
        indexes = [
            models.Index(fields=["task", "role", "status"], name="subtask_task_role_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="subtask_lease_idx"),
            # Quotas: one user's answers since a day or month began, and their tokens, read from
            # the index alone (tasks.selectors.answer_usage).
            models.Index(
                fields=["user", "role", "created_at", "input_tokens", "output_tokens"],
                name="subtask_usage_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.message_id} of task {self.task_id}"


class SubtaskContext(models.Model):
    """Something attached to a message: an uploaded file, a knowledge base, a table, documents.

    ``subtask`` is NULL until the context is linked to a message (the reference's 0). The file
    of an attachment lives in Django's default storage under ``storage_key``.
    """

    ATTACHMENT, KNOWLEDGE_BASE, TABLE, SELECTED_DOCUMENTS = (
        "attachment",
        "knowledge_base",
        "table",
        "selected_documents",
    )
    TYPES = [(t, t) for t in (ATTACHMENT, KNOWLEDGE_BASE, TABLE, SELECTED_DOCUMENTS)]
    STATUSES = [(s, s) for s in ("pending", "uploading", "parsing", "ready", "failed", "empty")]

    subtask = models.ForeignKey(
        Subtask, null=True, blank=True, on_delete=models.CASCADE, related_name="contexts"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contexts")
    context_type = models.CharField(max_length=32, choices=TYPES, default=ATTACHMENT)
    name = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=STATUSES, default="pending")
    error_message = models.TextField(blank=True, default="")
    storage_key = models.CharField(max_length=512, blank=True, default="")
    extracted_text = models.TextField(blank=True, default="")
    text_length = models.PositiveIntegerField(default=0)
    type_data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["user", "context_type"], name="context_user_type_idx")]

    def __str__(self) -> str:
        return f"{self.context_type} {self.name}"
