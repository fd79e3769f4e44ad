"""The model's view of a conversation (``chat.history``): prompts with their senders and
attachments, completed answers, in order."""

from __future__ import annotations

import base64
import io

import pytest

from chat.history import history
from chat.tests.test_providers import TINY_PNG
from tasks.services import attachments
from tasks.tests.factories import group_chat_with, quiet_message

pytestmark = pytest.mark.django_db


def test_group_chat_messages_carry_their_senders(user, other_user, team, make_task):
    first = make_task(user, team, prompt="hi", answer="hello!", path="chat", source="chat_shell")
    task = group_chat_with(first.task, other_user)
    quiet = quiet_message(other_user, task, "just chatting")
    task.refresh_from_db()

    assert history(task) == [
        {"role": "user", "content": f"User[{user.user_name}]: hi"},
        {"role": "assistant", "content": "hello!"},
        {"role": "user", "content": f"User[{other_user.user_name}]: just chatting"},
    ]
    assert history(task, before_message_id=quiet.user_subtask.message_id) == history(task)[:2]


def _upload(actor, name: str, data: bytes):  # type: ignore[no-untyped-def]
    return attachments.upload_attachment(actor=actor, filename=name, file=io.BytesIO(data), size=len(data))


def test_attachments_come_before_the_question_and_images_as_data_urls(user, team, make_task):
    note = _upload(user, "notes.txt", b"The secret number is 4242.")
    image = _upload(user, "dot.png", base64.b64decode(TINY_PNG))
    turn = make_task(user, team, prompt="What is it?", answer=None, attachment_ids=[note.pk, image.pk])

    [message] = history(turn.task, before_message_id=turn.assistant_subtask.message_id)

    text, picture = message["content"]
    assert text["type"] == "text" and "The secret number is 4242." in text["text"]
    assert text["text"].index("[Attachment: dot.png") < text["text"].index("[User Question]:\nWhat is it?")
    assert picture == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{TINY_PNG}"}}
