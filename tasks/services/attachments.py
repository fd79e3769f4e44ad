"""Attachments: upload (and overwrite), deletion, and the reads behind the attachment routes.

Who may read one is ``tasks.selectors.can_read_attachment``; what a model gets is
``tasks.attachments.model_content``.

An attachment is a ``SubtaskContext`` of type "attachment": ``user`` uploaded it, ``subtask`` is
NULL until a message links it, the bytes live in the attachments storage under ``storage_key``.

Readers: the uploader, the owner of the linked message's task, an approved member of that task,
or (read only) a holder of a share token for that task. Anyone else gets 404 "Attachment not
found", as if it did not exist. Only the uploader may delete an attachment (never a linked one),
overwrite it, or fetch it through the executor route.

An upload is checked and parsed completely before anything is written; a refused upload leaves
no row and no stored file.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import post_delete

from accounts.models import User
from tasks import selectors
from tasks.attachments import parser, storage
from tasks.attachments.model_content import is_image
from tasks.exceptions import SubtaskNotFound
from tasks.models import Subtask, SubtaskContext, TaskResource
from wegent.errors import BadRequest, DomainError, Forbidden, NotFound

logger = logging.getLogger("wegent.attachments")

READY = "ready"
PREVIEW_TEXT_LIMIT = 4000
MAX_FILENAME_LENGTH = 255


class AttachmentNotFound(NotFound):
    default_detail = "Attachment not found"


class AttachmentLinked(BadRequest):
    default_detail = "Cannot delete attachment that is linked to a message"


class AttachmentOverwriteLinked(BadRequest):
    default_detail = "Cannot overwrite attachment that is linked to a message"


class FileTooLarge(BadRequest):
    default_detail = "File size exceeds maximum limit"


class FilenameRequired(BadRequest):
    default_detail = "Filename is required"


class UnsafeFilename(BadRequest):
    default_detail = "Invalid filename: path separators and control characters are not allowed"


class ShareTokenDenied(Forbidden):
    default_detail = "Share token access denied"


class AttachmentDataMissing(NotFound):
    default_detail = "Failed to retrieve attachment data"


# --- input rules ----------------------------------------------------------------------------------

# Unicode categories refused in a filename: controls, format characters (e.g. the right-to-left
# override that disguises an extension), surrogates, private use, unassigned, line/paragraph
# separators.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def max_upload_bytes() -> int:
    return settings.MAX_UPLOAD_FILE_SIZE_MB * 1024 * 1024


def clean_filename(raw: str | None) -> str:
    """The display name to keep, or a 400.

    A name carrying a path (``/`` or ``\\``) or control characters is refused rather than
    repaired: browsers send bare names, so such a name is a broken or hostile client, and a
    silently changed name would surprise its sender. Over-long names are shortened, keeping
    the extension.
    """
    name = (raw or "").strip()
    if not name:
        raise FilenameRequired()
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise UnsafeFilename()
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in name):
        raise UnsafeFilename()
    if len(name) > MAX_FILENAME_LENGTH:
        stem, extension = os.path.splitext(name)
        if len(extension) > 16:
            stem, extension = name, ""
        name = stem[: MAX_FILENAME_LENGTH - len(extension)] + extension
    return name


def check_size(size: int) -> None:
    if size > max_upload_bytes():
        raise FileTooLarge()


def _parse(name: str, file: IO[bytes]) -> parser.Parsed:
    try:
        return parser.parse_upload(name, file, max_text_length=settings.MAX_EXTRACTED_TEXT_LENGTH)
    except parser.ParseFailure as exc:
        raise BadRequest({"message": exc.message, "error_code": exc.code}) from exc


def _type_data(name: str, size: int, parsed: parser.Parsed, key: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "original_filename": name,
        "file_extension": parsed.extension,
        "file_size": size,
        "mime_type": parsed.mime_type,
        "storage_backend": storage.backend_name(),
        "storage_key": key,
        "is_encrypted": False,
        "encryption_version": 0,
        "truncation_info": parsed.truncation.as_info() if parsed.truncation else None,
        "is_image": parsed.is_image,
    }
    if parsed.image:
        data["image"] = parsed.image
    return data


# --- upload ---------------------------------------------------------------------------------------


def upload_attachment(
    *, actor: User, filename: str | None, file: IO[bytes], size: int, overwrite_id: int | None = None
) -> SubtaskContext:
    """Stores a new attachment (or replaces the bytes of ``overwrite_id``) and returns its row."""
    name = clean_filename(filename)
    check_size(size)
    if overwrite_id is not None:
        _overwritable(actor, overwrite_id)
    parsed = _parse(name, file)
    key = storage.save(file)
    try:
        with transaction.atomic():
            if overwrite_id is None:
                context = SubtaskContext(user=actor, context_type=SubtaskContext.ATTACHMENT)
                old_key = ""
            else:
                context = _overwritable(actor, overwrite_id, lock=True)
                old_key = context.storage_key
            context.name = name
            context.status = READY
            context.error_message = ""
            context.storage_key = key
            context.extracted_text = parsed.text
            context.text_length = len(parsed.text)
            context.type_data = _type_data(name, size, parsed, key)
            context.save()
            if old_key and old_key != key:
                transaction.on_commit(lambda: _forget(old_key), robust=True)
    except BaseException:
        storage.delete(key)
        raise
    return context


def _overwritable(actor: User, attachment_id: int, *, lock: bool = False) -> SubtaskContext:
    if attachment_id <= 0:
        raise BadRequest("overwrite_attachment_id must be positive")
    rows = _attachments().filter(user=actor)
    if lock:
        rows = rows.select_for_update()
    context = rows.filter(pk=attachment_id).first() if attachment_id <= selectors.MAX_ID else None
    if context is None:
        raise AttachmentNotFound()
    if context.subtask_id is not None:
        raise AttachmentOverwriteLinked()
    return context


# --- reading --------------------------------------------------------------------------------------


def _attachments() -> QuerySet[SubtaskContext]:
    return SubtaskContext.objects.filter(context_type=SubtaskContext.ATTACHMENT)


def _row(attachment_id: int) -> SubtaskContext | None:
    if not 0 < attachment_id <= selectors.MAX_ID:
        return None
    return _attachments().select_related("subtask__task").filter(pk=attachment_id).first()


def _task_of(context: SubtaskContext) -> TaskResource | None:
    subtask = context.subtask
    return subtask.task if subtask is not None else None


def _shared_task(share_token: str) -> TaskResource | None:
    try:
        from tasks.services.sharing import task_for_share_token
    except ImportError:  # sharing is not installed: no token is valid
        return None
    try:
        return task_for_share_token(share_token)
    except DomainError:
        return None


def readable_attachment(actor: User, attachment_id: int, *, share_token: str | None = None) -> SubtaskContext:
    """The attachment if ``actor`` may read it, or a share token grants it.

    A share token reaches only attachments linked to messages of its task. A token that grants
    nothing is a 403 "Share token access denied" whether the attachment exists or not.
    """
    context = _row(attachment_id)
    if context is not None and selectors.can_read_attachment(actor, context):
        return context
    if share_token:
        task = _shared_task(share_token)
        linked_task = _task_of(context) if context is not None else None
        if task is not None and linked_task is not None and linked_task.pk == task.pk:
            return context  # type: ignore[return-value]
        raise ShareTokenDenied()
    raise AttachmentNotFound()


def own_attachment(actor: User, attachment_id: int) -> SubtaskContext:
    """The attachment if ``actor`` uploaded it (executor download, delete)."""
    context = _row(attachment_id)
    if context is None or context.user_id != actor.pk:
        raise AttachmentNotFound()
    return context


def delete_attachment(*, actor: User, attachment_id: int) -> None:
    """The uploader deletes an unlinked attachment; its file goes once the delete commits."""
    if not 0 < attachment_id <= selectors.MAX_ID:
        raise AttachmentNotFound()
    with transaction.atomic():
        # Locked so a message cannot link it between the check and the delete.
        context = _attachments().select_for_update().filter(pk=attachment_id, user=actor).first()
        if context is None:
            raise AttachmentNotFound()
        if context.subtask_id is not None:
            raise AttachmentLinked()
        context.delete()


def subtask_attachment(actor: User, subtask_id: int) -> SubtaskContext | None:
    """The first attachment of a message the actor can see (None when it has none)."""
    subtask = (
        Subtask.objects.select_related("task").filter(pk=subtask_id).first()
        if 0 < subtask_id <= selectors.MAX_ID
        else None
    )
    if subtask is None:
        raise SubtaskNotFound()
    first = _attachments().filter(subtask=subtask).order_by("id").first()
    task = subtask.task
    visible = task.is_active and selectors.can_access(actor, task)
    if not visible and (first is None or first.user_id != actor.pk):
        raise SubtaskNotFound()
    return first


def task_attachments(actor: User, task_id: int) -> list[SubtaskContext]:
    """Every attachment linked to the task's messages (owner or approved member)."""
    task = selectors.accessible_task(actor, task_id)
    return list(_attachments().filter(subtask__task=task).order_by("id"))


def open_file(context: SubtaskContext) -> Any:
    """The stored bytes as an open file; 404 when the file is gone."""
    try:
        return storage.open_file(context.storage_key)
    except (OSError, ValueError) as exc:
        logger.error("Attachment %s has no stored file (%s)", context.pk, context.storage_key)
        raise AttachmentDataMissing() from exc


def preview_text(context: SubtaskContext) -> tuple[str, str | None]:
    """``(preview_type, preview_text)`` of the preview route."""
    if is_image(context):
        return "image", None
    if context.extracted_text:
        return "text", context.extracted_text[:PREVIEW_TEXT_LIMIT]
    return "none", None


# --- file clean-up --------------------------------------------------------------------------------


def _forget(key: str) -> None:
    """Deletes a stored file no row refers to any more (copies of a task may share keys)."""
    if key and not SubtaskContext.objects.filter(storage_key=key).exists():
        storage.delete(key)


def _on_context_deleted(sender: Any, instance: SubtaskContext, using: str, **kwargs: Any) -> None:
    key = instance.storage_key
    if key:
        transaction.on_commit(lambda: _forget(key), using=using, robust=True)


def connect_signals() -> None:
    """Deleting a context (directly, or through a message, task or user cascade) deletes its file
    once the transaction commits. Safe to call more than once.
    """
    post_delete.connect(
        _on_context_deleted, sender=SubtaskContext, dispatch_uid="tasks.attachments.delete_file"
    )
