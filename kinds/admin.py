"""Operator console for Kinds: browse every resource, edit its document as YAML, delete it.

Edits go through ``kinds.services.update_resource`` (validation, references, secrets, version
bump); errors are shown on the form. Secrets appear masked and a mask left in place keeps the
stored value. A Skill's document is read from its archive, so a Skill's page takes a new
archive instead (``kinds.skills.replace_archive``, as the skills API). Each page lists who
refers to the row. Deleting is refused while other resources refer to the row. New rows come
from the "Apply YAML" page (``kinds/admin_batch.py``, the CRD batch apply), the API, the
``kinds`` command or init data.
"""

from __future__ import annotations

import logging
from typing import Any

import yaml
from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from accounts.models import User
from kinds import access, admin_batch, admin_editors, events, registry, selectors, services, skills
from kinds.init_data import dump_yaml, yaml_problem
from kinds.models import DEFAULT_NAMESPACE, Kind, ResourceMember, ShareLink, SkillBinary
from wegent.errors import DomainError

logger = logging.getLogger(__name__)


def editable_here(kind: str) -> bool:
    """Kinds whose documents are edited here: those the Kind API writes, and those whose owning
    app registered an editor (``kinds.admin_editors``). Skills take a new archive instead."""
    kind_type = registry.by_kind(kind)
    if kind_type is not None and kind_type.writable and kind_type.backend is None:
        return True
    return admin_editors.editor_for(kind) is not None


def takes_archive(kind: str) -> bool:
    """Kinds whose rows change by uploading a new archive (their document is read from it)."""
    return kind == skills.SKILL


def _one_line(detail: Any) -> str:
    return " ".join(part.strip() for part in str(detail).splitlines() if part.strip())


def document_yaml_text(row: Kind) -> str:
    """The document as an operator sees it: identity from the row, secrets masked."""
    return dump_yaml(selectors.render(row))


def writer_for(operator: User, row: Kind) -> tuple[User, services.Owner]:
    """Who performs an operator's edit of ``row``, and whose row it is.

    Public and personal rows are written by the operator (a system admin) on behalf of their
    owner. In a group namespace writing needs a group role: the operator's own if they have
    one, else that of the member who created the row.
    """
    if row.owner_id is None:
        return operator, services.Owner(None)
    owner = services.Owner(row.owner)
    if access.is_personal(row.namespace) or access.can(operator, row.namespace, access.UPDATE):
        return operator, owner
    creator = row.owner
    if creator is not None and creator.is_active and access.can(creator, row.namespace, access.UPDATE):
        return creator, owner
    raise forms.ValidationError(
        f"Editing resources of group '{row.namespace}' needs the Developer role or higher in it; "
        "neither you nor the member who created this resource has it. Add yourself to the group first."
    )


class KindAdminForm(forms.ModelForm):
    document_yaml = forms.CharField(
        label="Document (YAML)",
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 32, "cols": 110, "spellcheck": "false", "style": "font-family: monospace"}
        ),
        help_text="The whole resource. Name, namespace and kind cannot be changed here. Secrets are "
        "shown masked; leave a mask in place to keep the stored value. Keep metadata.resourceVersion: "
        "a stale version is refused.",
    )
    # Set by KindAdmin.get_form: the operator making the change.
    operator: User | None = None

    class Meta:
        model = Kind
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial.setdefault("document_yaml", document_yaml_text(self.instance))
        # Set in clean() once the edit has been written.
        self.operation: str | None = None

    def clean_document_yaml(self) -> dict[str, Any]:
        text = self.cleaned_data["document_yaml"]
        try:
            documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
        except yaml.YAMLError as exc:
            raise forms.ValidationError(f"Invalid YAML: {yaml_problem(exc)}") from exc
        if len(documents) != 1 or not isinstance(documents[0], dict):
            raise forms.ValidationError("The document must be one YAML mapping (kind, metadata, spec).")
        document = documents[0]
        metadata = document.get("metadata")
        if isinstance(metadata, dict):
            row = self.instance
            for key, stored in (("name", row.name), ("namespace", row.namespace)):
                if metadata.get(key) not in (None, stored):
                    raise forms.ValidationError(
                        f"metadata.{key} cannot be changed here (it is '{stored}'); "
                        "create a new resource through the API or the kinds command instead."
                    )
        return document

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        document = cleaned.get("document_yaml")
        row = self.instance
        if document is None or row.pk is None or self.operator is None:
            return cleaned
        if not editable_here(row.kind):
            raise forms.ValidationError(f"{row.kind} resources cannot be edited here.")
        editor = admin_editors.editor_for(row.kind)
        if editor is not None:  # a kind another app owns: written through its services
            try:
                with transaction.atomic():
                    self.operation = editor(self.operator, row, document)
            except DomainError as exc:
                self.add_error("document_yaml", _one_line(exc.detail))
            return cleaned
        kind_type = registry.by_kind(row.kind)
        assert kind_type is not None
        actor, owner = writer_for(self.operator, row)
        # The edit is written here, through the service, so that everything the service refuses
        # (schema, references, stale version, permissions) is shown on the form. The admin view
        # runs in one transaction and KindAdmin.save_model does not save the row again.
        try:
            with transaction.atomic():
                _, self.operation = services.update_resource(
                    actor=actor,
                    kind_type=kind_type,
                    namespace=row.namespace,
                    name=row.name,
                    body=document,
                    owner=owner,
                )
        except DomainError as exc:
            self.add_error("document_yaml", _one_line(exc.detail))
        return cleaned


def archive_writer(operator: User, row: Kind) -> tuple[User, bool]:
    """Who uploads an operator's new archive for ``row``, and whether it is a public skill.

    The skills service checks the actor as the API does: public skills by a system admin, a
    personal skill by its owner (an operator writes on their behalf), a group's skill by a
    member with a writing role (see ``writer_for``).
    """
    if row.owner_id is None:
        return operator, True
    if access.is_personal(row.namespace):
        return row.owner, False
    return writer_for(operator, row)[0], False


class SkillArchiveForm(forms.ModelForm):
    archive = forms.FileField(
        label="New archive (ZIP)",
        help_text=f"A new version of this skill: a ZIP with one folder holding SKILL.md (at most "
        f"{skills.MAX_ARCHIVE_BYTES // (1024 * 1024)} MB). Name and namespace stay; the "
        "document below is read from the archive.",
    )
    operator: User | None = None

    class Meta:
        model = Kind
        fields: list[str] = []

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload = cleaned.get("archive")
        row = self.instance
        if upload is None or row.pk is None or self.operator is None:
            return cleaned
        if upload.size > skills.MAX_ARCHIVE_BYTES:
            self.add_error("archive", f"The archive is larger than {skills.MAX_ARCHIVE_BYTES} bytes.")
            return cleaned
        actor, public = archive_writer(self.operator, row)
        try:
            with transaction.atomic():
                skills.replace_archive(
                    actor=actor, skill_id=row.pk, archive=upload.read(), filename=upload.name, public=public
                )
        except DomainError as exc:
            self.add_error("archive", _one_line(exc.detail))
        return cleaned


def admin_link(obj: Any) -> str:
    """A link to ``obj``'s admin page (plain text where it has none)."""
    meta = obj._meta
    try:
        target = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return format_html("{}", str(obj))
    return format_html('<a href="{}">{}</a>', target, str(obj))


def who_refers(row: Kind) -> list[Any]:
    """Kind rows that refer to ``row``, then what other apps report (a team's tasks, ...)."""
    found: list[Any] = list(selectors.referrers(row))
    for finder in events.referrer_finders:
        try:
            found.extend(finder(row))
        except Exception:  # one app's failure must not hide the page
            logger.exception("referrer finder %r failed for %s", finder, row)
    return found


class ScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("public", "Public (system)"), ("personal", "Personal"), ("group", "Group")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Kind]) -> QuerySet[Kind]:
        if self.value() == "public":
            return queryset.filter(owner__isnull=True)
        if self.value() == "personal":
            return queryset.filter(owner__isnull=False, namespace=DEFAULT_NAMESPACE)
        if self.value() == "group":
            return queryset.exclude(namespace=DEFAULT_NAMESPACE)
        return queryset


@admin.register(Kind)
class KindAdmin(admin.ModelAdmin):
    form = KindAdminForm
    list_display = [
        "id",
        "kind",
        "namespace",
        "name",
        "owner_label",
        "resource_version",
        "is_active",
        "deactivated",
        "updated_at",
    ]
    # ``deactivated``: a public row switched off through /api/admin/public-* (not deleted).
    list_filter = ["kind", "namespace", "is_active", "deactivated", ScopeFilter]
    search_fields = ["name", "owner__user_name"]
    list_select_related = ["owner"]
    ordering = ["id"]
    fields = [
        "kind",
        "namespace",
        "name",
        "owner_label",
        "resource_version",
        "is_active",
        "deactivated",
        "created_at",
        "updated_at",
        "referred_by",
        "document_yaml",
    ]
    readonly_fields = [
        "kind",
        "namespace",
        "name",
        "owner_label",
        "resource_version",
        "is_active",
        "deactivated",
        "created_at",
        "updated_at",
        "referred_by",
    ]
    change_list_template = "admin/kinds/kind/change_list.html"

    @admin.display(description="owner", ordering="owner__user_name")
    def owner_label(self, obj: Kind) -> str:
        return obj.owner.user_name if obj.owner is not None else "public"

    @admin.display(description="Document (YAML)")
    def document_yaml(self, obj: Kind) -> str:
        # Used where the document is shown read-only (Skills and kinds other apps manage).
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', document_yaml_text(obj))

    @admin.display(description="Who refers to this")
    def referred_by(self, obj: Kind) -> str:
        found = who_refers(obj)
        if not found:
            return "Nothing refers to it."
        return format_html(
            '<ul style="margin: 0; padding-left: 1em">{}</ul>',
            format_html_join("", "<li>{}</li>", ((admin_link(item),) for item in found)),
        )

    def get_fields(self, request: HttpRequest, obj: Kind | None = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if obj is not None and takes_archive(obj.kind):
            fields.insert(fields.index("document_yaml"), "archive")
        return fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is not None and takes_archive(obj.kind):
            kwargs["form"] = SkillArchiveForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.operator = request.user
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: Kind | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and takes_archive(obj.kind):
            fields.append("document_yaml")
        return fields

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {**(extra_context or {}), "can_apply": admin_batch.may_apply(request.user)}
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        apply_view = self.admin_site.admin_view(admin_batch.ApplyView.as_view(model_admin=self))
        return [path("apply/", apply_view, name="kinds_kind_apply"), *super().get_urls()]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Kind | None = None) -> bool:
        if obj is not None and not (editable_here(obj.kind) or takes_archive(obj.kind)):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Kind | None = None) -> bool:
        # Kinds that other apps manage (knowledge bases, subscriptions, ...) keep related data
        # of their own; they are deleted through those apps.
        if obj is not None and registry.by_kind(obj.kind) is None:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Kind, form: Any, change: bool) -> None:
        # The form's clean() already wrote the edit through the service (update_resource, or
        # replace_archive for a Skill); Django's change view logs it in the admin history.
        obj.refresh_from_db()

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Rows are deleted one at a time, each checked for referrers.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, Any, Any]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        blocking = [
            f"{referrer.kind} {referrer.namespace}/{referrer.name} refers to {row.kind} '{row.name}'"
            for row in objs
            for referrer in selectors.referrers(row)
        ]
        # A skill's archive goes with its row (it cannot be deleted on its own page).
        perms_needed = {name for name in perms_needed if name != SkillBinary._meta.verbose_name}
        # Django refuses the deletion and lists these on the confirmation page.
        return deleted, counts, perms_needed, [*protected, *blocking]

    def delete_model(self, request: HttpRequest, obj: Kind) -> None:
        with transaction.atomic():
            services.delete_row(obj)


@admin.register(SkillBinary)
class SkillBinaryAdmin(admin.ModelAdmin):
    """Archive metadata only; the bytes are never shown and archives change through the skills API."""

    list_display = ["id", "skill_name", "file_size", "file_hash", "created_at"]
    search_fields = ["kind__name"]
    list_select_related = ["kind"]
    fields = ["kind", "file_size", "file_hash", "created_at"]
    readonly_fields = fields
    ordering = ["id"]

    @admin.display(description="skill", ordering="kind__name")
    def skill_name(self, obj: SkillBinary) -> str:
        return obj.kind.name

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SkillBinary | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SkillBinary | None = None) -> bool:
        return False


@admin.register(ResourceMember)
class ResourceMemberAdmin(admin.ModelAdmin):
    """Who joined which shared team, task or knowledge base; operators may change the status."""

    list_display = ("id", "resource_type", "resource_id", "user", "status", "permission_level", "updated_at")
    list_filter = ("resource_type", "status", "permission_level")
    search_fields = ("user__user_name",)
    list_select_related = ("user",)
    fields = ("resource_type", "resource_id", "user", "status", "permission_level")
    readonly_fields = ("resource_type", "resource_id", "user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """Share and invite links; the token itself is never shown (it grants access)."""

    list_display = ("id", "purpose", "resource_type", "resource_id", "created_by", "expires_at", "is_active")
    list_filter = ("purpose", "resource_type", "is_active")
    list_select_related = ("created_by",)
    fields = ("purpose", "resource_type", "resource_id", "created_by", "expires_at", "is_active")
    readonly_fields = ("purpose", "resource_type", "resource_id", "created_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
