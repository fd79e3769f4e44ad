"""Built-in tools that need nothing external: ``read_attachment``, the file reader of the turn's
attachments (the reference's direct-chat file reader, realtime §3.9).

Offered only when the message has attachments the sender may read; it reads the text extracted
at upload, a window at a time (``offset``/``limit``), so a long document never floods the model.
The texts are read (and the sender's right to them checked) once, when the turn opens: a call
then costs no database round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accounts.models import User
from chat.tools.base import Toolbox, ToolError, ToolSpec, TurnContext
from chat.tools.sources import SOURCES
from tasks.services import attachments
from wegent.errors import DomainError
from wegent.realtime.db import run_sync

READ_ATTACHMENT = "read_attachment"
DEFAULT_LIMIT = 20_000
MAX_LIMIT = 50_000


def _readable(user_id: int, ids: tuple[int, ...]) -> dict[int, tuple[str, str]]:
    """The attachments among ``ids`` the user may read: id -> (file name, extracted text)."""
    actor = User.objects.filter(pk=user_id).first()
    if actor is None:
        return {}
    found = {}
    for attachment_id in ids:
        try:
            context = attachments.readable_attachment(actor, attachment_id)
        except DomainError:
            continue
        found[attachment_id] = (context.name, context.extracted_text or "")
    return found


def _int(arguments: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int:
    value = arguments.get(name, default)
    if value is None:
        raise ToolError(f"{name} is required")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ToolError(f"{name} must be an integer from {low} to {high}")
    return value


@dataclass
class AttachmentReader:
    files: dict[int, tuple[str, str]]  # id -> (name, text)
    spec: ToolSpec = field(init=False)

    def __post_init__(self) -> None:
        listed = "; ".join(f"id {pk}: {name}" for pk, (name, _) in self.files.items())
        self.spec = ToolSpec(
            name=READ_ATTACHMENT,
            description=(
                "Read the text of a file attached to the user's message, a window of characters "
                f"at a time. Attached files: {listed}."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "attachment_id": {"type": "integer", "description": "The file's id."},
                    "offset": {"type": "integer", "description": "First character to read (default 0)."},
                    "limit": {
                        "type": "integer",
                        "description": f"Characters to read (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}).",
                    },
                },
                "required": ["attachment_id"],
            },
        )

    async def run(self, arguments: dict[str, Any]) -> str:
        attachment_id = _int(arguments, "attachment_id", None, 1, 2**63 - 1)
        if attachment_id not in self.files:
            known = ", ".join(str(pk) for pk in self.files)
            raise ToolError(f"Attachment {attachment_id} is not attached to this message (attached: {known})")
        offset = _int(arguments, "offset", 0, 0, 2**31)
        limit = _int(arguments, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        name, text = self.files[attachment_id]
        window = text[offset : offset + limit]
        end = offset + len(window)
        header = f"[{name}: characters {offset}-{end} of {len(text)}]"
        more = (
            f"\n[{len(text) - end} more characters: call again with offset={end}]" if end < len(text) else ""
        )
        return f"{header}\n{window}{more}"


async def attachment_source(ctx: TurnContext, ghost: Any, toolbox: Toolbox) -> None:
    if not ctx.attachment_ids:
        return  # no query: a turn without attachments has no file reader
    files = await run_sync(_readable, ctx.user_id, ctx.attachment_ids)
    if files:
        toolbox.add(AttachmentReader(files))


def register() -> None:
    if attachment_source not in SOURCES:
        SOURCES.append(attachment_source)
