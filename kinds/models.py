"""Kind rows (every CRD-like resource except Task/Workspace), their references, skill archives."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

DEFAULT_NAMESPACE = "default"
PUBLIC_SCOPE = "public"
GROUP_SCOPE = "group"


def scope_for(*, namespace: str, owner_id: int | None) -> str:
    """The uniqueness scope of a row: its owner in ``default``, "public", or the group itself."""
    if namespace != DEFAULT_NAMESPACE:
        return GROUP_SCOPE
    return PUBLIC_SCOPE if owner_id is None else f"user:{owner_id}"


class ResourceRow(models.Model):
    """The schema a resource document's row shares (``Kind`` here, ``tasks.TaskResource``).

    A row is one ``kind``/``namespace``/``name`` document with a version and a soft delete.
    ``scope`` and ``live`` are derived on every save (``derive_keys``) and together with kind,
    namespace and name form the row's unique key (``live_name_unique``). Each model declares
    ``owner``, ``kind`` and ``document`` itself: their nullability, length and default differ.
    """

    namespace = models.CharField(max_length=100, default=DEFAULT_NAMESPACE)
    name = models.CharField(max_length=100)
    # Derived from namespace and owner (see scope_for); part of the unique key.
    scope = models.CharField(max_length=40, editable=False)
    resource_version = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    # TRUE while active and NULL once soft-deleted: unique keys ignore NULLs on SQLite,
    # PostgreSQL and MySQL alike, so deleted rows never block a new one with the same name.
    live = models.BooleanField(null=True, default=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Declared by each subclass (owner is nullable on Kind, required on TaskResource).
    kind: str
    owner_id: int | None
    document: Any

    class Meta:
        abstract = True
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def derive_keys(self) -> None:
        """Sets the derived parts of the unique key from namespace, owner and is_active."""
        self.scope = scope_for(namespace=self.namespace, owner_id=self.owner_id)
        self.live = True if self.is_active else None

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.document.get("spec") if isinstance(self.document, dict) else None
        return spec if isinstance(spec, dict) else {}


def live_name_unique(name: str) -> models.UniqueConstraint:
    """One live row per kind, namespace, scope and name (see ``ResourceRow``)."""
    return models.UniqueConstraint(fields=["kind", "namespace", "scope", "name", "live"], name=name)


def scope_index(name: str) -> models.Index:
    """The index behind listing a namespace's rows of one kind in one scope."""
    return models.Index(fields=["kind", "namespace", "scope"], name=name)


class Kind(ResourceRow):
    """One resource document. ``owner`` is NULL for public (system) resources.

    In ``default`` rows belong to their owner; in a group namespace they belong to the group
    and ``owner`` records who created them.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="kinds"
    )
    kind = models.CharField(max_length=50, db_index=True)
    document = models.JSONField()
    # Set by an admin on a public row (``is_active: false`` on /api/admin/public-*): the row is
    # not deleted (``is_active`` is the soft delete) and keeps its name, but users no longer see
    # it in their lists or may newly choose it; what already refers to it keeps working.
    deactivated = models.BooleanField(default=False)

    class Meta(ResourceRow.Meta):
        constraints = [live_name_unique("uniq_live_kind_name")]
        indexes = [
            scope_index("kind_ns_scope_idx"),
            models.Index(fields=["owner", "kind"], name="kind_owner_idx"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.derive_keys()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "scope", "live"}
        super().save(*args, **kwargs)

    @property
    def is_public(self) -> bool:
        return self.owner_id is None

    @property
    def user_id_or_zero(self) -> int:
        """The reference's ``user_id`` (0 for public rows)."""
        return self.owner_id or 0

    @property
    def display_name(self) -> str | None:
        metadata = self.document.get("metadata") if isinstance(self.document, dict) else None
        return metadata.get("displayName") if isinstance(metadata, dict) else None


class KindReference(models.Model):
    """An edge "source refers to target by kind/namespace/name", kept in step with each write."""

    source = models.ForeignKey(Kind, on_delete=models.CASCADE, related_name="outgoing_refs")
    target_kind = models.CharField(max_length=50)
    target_namespace = models.CharField(max_length=100)
    target_name = models.CharField(max_length=100)

    class Meta:
        indexes = [
            models.Index(fields=["target_kind", "target_namespace", "target_name"], name="kindref_target_idx")
        ]

    def __str__(self) -> str:
        return f"{self.source_id} -> {self.target_kind} {self.target_namespace}/{self.target_name}"


class SkillBinary(models.Model):
    """The ZIP archive of a Skill (one per Skill row)."""

    kind = models.OneToOneField(Kind, on_delete=models.CASCADE, related_name="binary")
    binary_data = models.BinaryField()
    file_size = models.PositiveIntegerField()
    file_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "skill archive"
        verbose_name_plural = "skill archives"

    def __str__(self) -> str:
        return f"skill archive {self.kind_id} ({self.file_size} bytes)"


class ResourceMember(models.Model):
    """A user's membership of a shared resource (a Team, a Task or a KnowledgeBase).

    ``resource_id`` is a Kind id or, for a Task, a task id; the row is not a foreign key
    because it points into two tables.
    """

    TEAM, TASK, KNOWLEDGE_BASE = "Team", "Task", "KnowledgeBase"
    PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
    VIEW, EDIT, MANAGE = "view", "edit", "manage"

    resource_type = models.CharField(max_length=50)
    resource_id = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    permission_level = models.CharField(max_length=16, default=VIEW)
    status = models.CharField(max_length=16, default=PENDING)
    invited_by_user_id = models.BigIntegerField(default=0)
    share_link_id = models.BigIntegerField(default=0)
    reviewed_by_user_id = models.BigIntegerField(default=0)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    copied_resource_id = models.BigIntegerField(default=0)
    requested_at = models.DateTimeField(auto_now_add=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "resource_id", "user"], name="uniq_resource_member"
            )
        ]
        indexes = [
            models.Index(
                fields=["resource_type", "resource_id", "status"], name="member_resource_status_idx"
            ),
            models.Index(fields=["user", "resource_type", "status"], name="member_user_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.resource_type} {self.resource_id} ({self.status})"


class ShareLink(models.Model):
    """A link that lets others view or join a resource; ``token`` is what the URL carries."""

    resource_type = models.CharField(max_length=50)
    resource_id = models.BigIntegerField()
    purpose = models.CharField(max_length=16, default="share")
    token = models.CharField(max_length=128, unique=True)
    require_approval = models.BooleanField(default=True)
    default_permission_level = models.CharField(max_length=16, default=ResourceMember.VIEW)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["resource_type", "resource_id"], name="sharelink_resource_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} link to {self.resource_type} {self.resource_id}"
