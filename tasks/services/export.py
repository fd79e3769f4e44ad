"""A task's conversation as a Word document (``GET /api/tasks/{id}/export/docx``).

User messages are their prompts, answers their text (``result.value``). Markdown is rendered
simply: headings, bullet and numbered lists and fenced code blocks get Word styles, everything
else is a plain paragraph.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from django.utils import timezone

from accounts.models import User
from tasks import selectors, statuses
from tasks.models import Subtask, TaskResource

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument

MIME_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CODE_FONT = "Courier New"
MAX_FILENAME_CHARS = 100

# XML 1.0 refuses these characters; python-docx would raise on them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_UNSAFE_IN_FILENAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Export:
    content: bytes
    filename: str


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


def safe_filename(title: str, fallback: str) -> str:
    """A file name without path separators or characters file systems refuse."""
    name = _UNSAFE_IN_FILENAME.sub("_", xml_safe(title))
    name = re.sub(r"\s+", "_", name)
    name = re.sub(r"_+", "_", name).strip("._")[:MAX_FILENAME_CHARS]
    return name or fallback


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 name (RFC 6266)."""
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _answer_text(row: Subtask) -> str:
    value = row.result.get("value") if isinstance(row.result, dict) else None
    return value if isinstance(value, str) else ""


def _speaker(row: Subtask) -> str:
    if row.role == Subtask.USER:
        return row.sender_user.user_name if row.sender_user is not None else "User"
    return "Assistant"


def _add_code_line(document: DocxDocument, line: str) -> None:
    from docx.shared import Pt

    paragraph = document.add_paragraph()
    run = paragraph.add_run(line)
    run.font.name = CODE_FONT
    run.font.size = Pt(9)


def add_markdown(document: DocxDocument, text: str, *, heading_offset: int = 2) -> None:
    """Appends ``text`` as paragraphs; headings start at ``heading_offset + 1``."""
    in_code = False
    for line in xml_safe(text).splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            _add_code_line(document, line)
            continue
        if not line.strip():
            continue
        if heading := _HEADING.match(line):
            document.add_heading(
                heading.group(2).strip(), level=min(len(heading.group(1)) + heading_offset, 9)
            )
        elif bullet := _BULLET.match(line):
            document.add_paragraph(bullet.group(1), style="List Bullet")
        elif numbered := _NUMBERED.match(line):
            document.add_paragraph(numbered.group(1), style="List Number")
        else:
            document.add_paragraph(line)


def messages_to_export(task: TaskResource, viewer: User, message_ids: list[int] | None) -> list[Subtask]:
    """The messages ``viewer`` may see, oldest first; only those named when ids are given
    (ids the task does not have are ignored)."""
    rows = selectors.visible_subtasks(task, viewer).exclude(status=statuses.DELETE)
    if message_ids is not None:
        rows = rows.filter(message_id__in=message_ids)
    return list(rows.order_by("message_id", "id"))


def build_document(task: TaskResource, messages: list[Subtask], now: dt.datetime) -> bytes:
    # Imported here: python-docx and lxml cost ~7 MiB of server memory, for a rare export.
    from docx import Document

    document = Document()
    title = task.spec.get("title") or task.name
    document.add_heading(xml_safe(str(title)), level=0)
    document.add_paragraph(f"Exported at {now.strftime('%Y-%m-%d %H:%M')} UTC")
    for row in messages:
        text = row.prompt if row.role == Subtask.USER else _answer_text(row)
        if not text.strip():
            continue
        document.add_heading(xml_safe(_speaker(row)), level=2)
        add_markdown(document, text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def export_docx(*, actor: User, task_id: int, message_ids: list[int] | None = None) -> Export:
    """The task (owner or approved member) as a DOCX file and the file name to offer."""
    task = selectors.accessible_task(actor, task_id)
    now = timezone.now().astimezone(dt.UTC)
    content = build_document(task, messages_to_export(task, actor, message_ids), now)
    stem = safe_filename(str(task.spec.get("title") or ""), fallback=task.name)
    return Export(content=content, filename=f"{stem}_{now.strftime('%Y-%m-%d')}.docx")
