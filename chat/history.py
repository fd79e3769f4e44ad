"""The conversation as the model reads it: the message list the runner sends with an answer."""

from __future__ import annotations

from typing import Any

from tasks import selectors, statuses
from tasks.attachments import model_content
from tasks.models import Subtask, SubtaskContext, TaskResource
from tasks.services import messages as task_messages


def _user_content(contexts: list[SubtaskContext], text: str) -> str | list[dict[str, Any]]:
    """A user message as the model reads it: attached documents first, then the question; with
    images, a list of parts carrying each image as a data URL."""
    files = [c for c in contexts if c.context_type == SubtaskContext.ATTACHMENT and c.status == "ready"]
    knowledge = [_knowledge_block(c) for c in contexts if c.context_type == SubtaskContext.KNOWLEDGE_BASE]
    knowledge = [block for block in knowledge if block]
    if not files and not knowledge:
        return text
    blocks = [model_content.attachment_text_for_model(c) for c in files] + knowledge
    combined = "\n\n".join([*blocks, f"[User Question]:\n{text}"])
    images = [url for url in (model_content.image_data_url(c) for c in files) if url]
    if not images:
        return combined
    parts: list[dict[str, Any]] = [{"type": "text", "text": combined}]
    return parts + [{"type": "image_url", "image_url": {"url": url}} for url in images]


def _knowledge_block(context: SubtaskContext) -> str:
    """What a past message retrieved from a knowledge base (reference extras §1.9): kept by the
    knowledge tools on the message's ``knowledge_base`` context; nothing when it retrieved none."""
    if not context.extracted_text:
        return ""
    data = context.type_data if isinstance(context.type_data, dict) else {}
    header = f"[Knowledge Base: {context.name} (ID: {data.get('knowledge_id')})]"
    return f"<knowledge_base>\n{header}\n{context.extracted_text}\n</knowledge_base>"


def history(task: TaskResource, *, before_message_id: int | None = None) -> list[dict[str, Any]]:
    """The conversation so far as model messages: user prompts (with their attachments) and
    completed answers, in order. Group-chat user messages carry their sender's name so the model
    can tell people apart."""
    rows = selectors.conversation(task, before_message_id=before_message_id)
    questions = [row for row in rows if row.role == Subtask.USER]
    contexts = selectors.contexts_by_message([row.pk for row in questions])
    hidden = task_messages.model_texts(task, questions)
    messages: list[dict[str, Any]] = []
    for row in rows:
        if row.role == Subtask.USER:
            text = hidden.get(row.pk, row.prompt or "")
            if task.is_group_chat and row.sender_user is not None:
                text = f"User[{row.sender_user.user_name}]: {text}"
            messages.append({"role": "user", "content": _user_content(contexts.get(row.pk, []), text)})
        elif row.status == statuses.COMPLETED:
            value = row.result.get("value") if isinstance(row.result, dict) else None
            if isinstance(value, str) and value:
                messages.append({"role": "assistant", "content": value})
    return messages
