"""The "Apply YAML" page of the Kinds console: paste a multi-document YAML, preview, confirm.

The page runs the CRD batch routes' services (``kinds.services.apply_resources`` /
``delete_resources``): a preview is their dry run (every document tried in order, then rolled
back), so it says per document what would be created, updated, unchanged or deleted and why a
document fails. Confirming runs the same call for real, only for the exact text, action,
namespace and owner that were previewed (a digest of them travels with the preview).

Documents are written as the user named in "Write as", with that user's rules (their namespace
roles, their references), as if they had applied the file through the API; left empty, they
are public (system) resources written by the operator. Every successful write is recorded in
the admin history (LogEntry).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import yaml
from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views import View

from accounts.models import User
from kinds import registry, selectors, services
from kinds.init_data import yaml_problem
from kinds.models import DEFAULT_NAMESPACE

APPLY, DELETE = "apply", "delete"
# A pasted file is for a handful of resources; the CRD batch route has the same order of size.
MAX_DOCUMENTS = 200
MAX_TEXT = 1024 * 1024


class ApplyForm(forms.Form):
    documents = forms.CharField(
        label="Documents (YAML)",
        strip=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(
            attrs={"rows": 28, "cols": 110, "spellcheck": "false", "style": "font-family: monospace"}
        ),
        help_text="One or more resources separated by '---' (kind, metadata.name, spec).",
    )
    action = forms.ChoiceField(
        choices=[(APPLY, "Apply: create or update"), (DELETE, "Delete")], initial=APPLY
    )
    namespace = forms.CharField(max_length=100, initial=DEFAULT_NAMESPACE)
    write_as = forms.CharField(
        label="Write as",
        max_length=150,
        required=False,
        help_text="The user whose resources these are (their roles and references apply). "
        "Leave empty for public (system) resources.",
    )
    # The digest of what was previewed; a confirmation must match it.
    previewed = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean_documents(self) -> list[Any]:
        text = self.cleaned_data["documents"]
        try:
            items = [doc for doc in yaml.safe_load_all(text) if doc is not None]
        except yaml.YAMLError as exc:
            raise forms.ValidationError(f"Invalid YAML: {yaml_problem(exc)}") from exc
        if not items:
            raise forms.ValidationError("No documents found.")
        if len(items) > MAX_DOCUMENTS:
            raise forms.ValidationError(f"At most {MAX_DOCUMENTS} documents at once.")
        return items

    def clean_write_as(self) -> User | None:
        name = self.cleaned_data["write_as"].strip()
        if not name:
            return None
        user = User.objects.filter(user_name=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user named '{name}'.")
        return user

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        items, namespace = cleaned.get("documents"), cleaned.get("namespace")
        if items is None or namespace is None:
            return cleaned
        # The batch writes into the namespace chosen here; a document naming another one would
        # otherwise land somewhere its author did not mean.
        elsewhere = [
            f"{item.get('kind')} {item['metadata'].get('name')}"
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("metadata"), dict)
            and item["metadata"].get("namespace") not in (None, "", namespace)
        ]
        if elsewhere:
            self.add_error(
                "namespace",
                f"These documents name another namespace than '{namespace}': {', '.join(elsewhere[:10])}. "
                "Apply each namespace separately.",
            )
        return cleaned

    def digest(self) -> str:
        data = self.cleaned_data
        writer = data["write_as"].user_name if data["write_as"] is not None else ""
        parts = (data["action"], data["namespace"], writer, self.data.get("documents", ""))
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Writer:
    actor: User
    owner: services.Owner | None


def writer_for(operator: User, write_as: User | None) -> Writer:
    if write_as is None:
        return Writer(actor=operator, owner=services.Owner(None))
    return Writer(actor=write_as, owner=None)


def _row(writer: Writer, item: dict[str, Any], namespace: str) -> Any:
    """The stored row an item names, as the writer sees it (what the history records)."""
    kind_type = registry.by_kind(str(item.get("kind") or ""))
    metadata = item.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if kind_type is None or not isinstance(name, str):
        return None
    if kind_type.backend is not None:
        return kind_type.backend.row(actor=writer.actor, namespace=namespace, name=name)
    owner = writer.owner.user if writer.owner is not None else writer.actor
    return selectors.find(owner, kind_type.kind, namespace, name)


def _rows_by_identity(writer: Writer, items: list[Any], namespace: str) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("metadata"), dict):
            row = _row(writer, item, namespace)
            if row is not None:
                found[(row.kind, row.name)] = row
    return found


def may_apply(user: User, action: str | None = None) -> bool:
    """The page needs the model permissions Django admin uses: changing one row needs
    change_kind; a batch may also add rows; deleting needs delete_kind."""
    needed = ["kinds.view_kind", "kinds.add_kind", "kinds.change_kind"]
    if action == DELETE:
        needed.append("kinds.delete_kind")
    return user.has_perms(needed)


class ApplyView(View):
    model_admin: admin.ModelAdmin | None = None
    template_name = "admin/kinds/kind/apply.html"

    def _require(self, request: HttpRequest, action: str | None = None) -> None:
        if not may_apply(request.user, action):
            raise PermissionDenied

    def get(self, request: HttpRequest) -> HttpResponse:
        self._require(request)
        return self._render(request, ApplyForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        self._require(request)
        form = ApplyForm(request.POST)
        if not form.is_valid():
            return self._render(request, form)
        data = form.cleaned_data
        self._require(request, data["action"])
        writer = writer_for(request.user, data["write_as"])
        digest = form.digest()
        confirmed = "confirm" in request.POST and data["previewed"] == digest
        run = services.apply_resources if data["action"] == APPLY else services.delete_resources
        before = (
            _rows_by_identity(writer, data["documents"], data["namespace"])
            if confirmed and data["action"] == DELETE
            else {}
        )
        outcome = run(
            actor=writer.actor,
            namespace=data["namespace"],
            items=data["documents"],
            dry_run=not confirmed,
            owner=writer.owner,
        )
        if confirmed:
            self._log(request, writer, data, outcome["results"], before)
            # Written: the text (which may hold secrets in clear) is not sent back.
            kept = {"namespace": data["namespace"], "write_as": request.POST.get("write_as")}
            form = ApplyForm(initial=kept)
        else:
            form = ApplyForm(initial={**request.POST.dict(), "previewed": digest})
        return self._render(request, form, outcome=outcome, confirmed=confirmed)

    def _log(
        self,
        request: HttpRequest,
        writer: Writer,
        data: dict[str, Any],
        results: list[dict[str, Any]],
        deleted_rows: dict[tuple[str, str], Any],
    ) -> None:
        """Records each successful write in the admin history (read by the audit trail)."""
        assert self.model_admin is not None
        namespace = data["namespace"]
        for result in results:
            operation = result.get("operation")
            if not result.get("success") or operation == services.UNCHANGED:
                continue
            identity = {"kind": result["kind"], "metadata": {"name": result["name"]}}
            if operation == services.DELETED:
                row = deleted_rows.get((result["kind"], result["name"]))
                if row is not None:
                    self.model_admin.log_deletions(request, [row])
                continue
            row = _row(writer, identity, namespace)
            if row is None:
                continue
            if operation == services.CREATED:
                self.model_admin.log_addition(request, row, [{"added": {}}])
            else:
                self.model_admin.log_change(request, row, "Applied from pasted YAML in the console")

    def _render(
        self,
        request: HttpRequest,
        form: ApplyForm,
        *,
        outcome: dict[str, Any] | None = None,
        confirmed: bool = False,
    ) -> TemplateResponse:
        assert self.model_admin is not None
        context = {
            **self.model_admin.admin_site.each_context(request),
            "opts": self.model_admin.model._meta,
            "title": "Apply or delete Kinds from YAML",
            "form": form,
            "outcome": outcome,
            "confirmed": confirmed,
            "can_confirm": outcome is not None and not confirmed,
        }
        return TemplateResponse(request, self.template_name, context)
