"""An attachment as a model reads it: a text block per document, a data URL per image.

Pure reads of a ``SubtaskContext`` and its stored bytes; the model-history builder (next to the
chat runner) and the attachment routes use them.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from tasks.attachments import storage
from tasks.models import SubtaskContext

logger = logging.getLogger("wegent.attachments")


def type_data(context: SubtaskContext) -> dict[str, Any]:
    return context.type_data if isinstance(context.type_data, dict) else {}


def is_image(context: SubtaskContext) -> bool:
    return bool(type_data(context).get("is_image"))


def download_url(context: SubtaskContext) -> str:
    return f"/api/attachments/{context.pk}/download"


def image_data_url(context: SubtaskContext, *, max_bytes: int | None = None) -> str | None:
    """A ``data:`` URL of an image attachment for a vision model; None for other files, a file
    larger than ``max_bytes`` or a missing file. Built on demand: the database keeps no base64.
    """
    if not is_image(context) or not context.storage_key:
        return None
    size = type_data(context).get("file_size")
    if max_bytes is not None and isinstance(size, int) and size > max_bytes:
        return None
    try:
        data = storage.read_bytes(context.storage_key)
    except (OSError, ValueError):
        logger.error("Attachment %s has no stored file (%s)", context.pk, context.storage_key)
        return None
    mime = type_data(context).get("mime_type") or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def attachment_text_for_model(context: SubtaskContext) -> str:
    """The block a model reads for a document attachment: a header line, a note when the text
    was cut, then the extracted text. Images get only the header (their pixels go as a data URL).
    """
    data = type_data(context)
    header = (
        f"[Attachment: {context.name} | ID: {context.pk} | Type: {data.get('mime_type') or ''}"
        f" | Size: {data.get('file_size') or 0} bytes | URL: {download_url(context)}]"
    )
    if is_image(context):
        return header
    parts = [header]
    truncation = data.get("truncation_info")
    if isinstance(truncation, dict) and truncation.get("is_truncated"):
        parts.append(
            f"(Note: the content was truncated from {truncation.get('original_length')} to "
            f"{truncation.get('truncated_length')} characters.)"
        )
    parts.append(context.extracted_text or "")
    return "<attachment>\n" + "\n".join(parts) + "\n</attachment>"
