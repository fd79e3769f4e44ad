"""GET /api/tasks/{id}/export/docx: a Word file of the conversation that python-docx can open."""

from __future__ import annotations

import io
from urllib.parse import unquote

import pytest
from docx import Document

from kinds.models import ResourceMember
from tasks.services import lifecycle, turns
from tasks.services.export import MIME_TYPE, content_disposition, safe_filename
from tasks.tests.factories import complete
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

ANSWER = """# Plan

Some intro text.

- first point
- second point

1. step one

```python
print("hello")
```
"""


def texts(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == MIME_TYPE
    document = Document(io.BytesIO(response.content))
    return [paragraph.text for paragraph in document.paragraphs]


def paragraph_styles(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    document = Document(io.BytesIO(response.content))
    return {paragraph.text: paragraph.style.name for paragraph in document.paragraphs}


@pytest.fixture
def chat(user, team, make_task):  # type: ignore[no-untyped-def]
    """A task "Release notes" with two turns: messages 1-2 and 3-4."""
    first = make_task(user, team, prompt="Write the plan", answer=ANSWER, title="Release notes")
    second = turns.start_turn(
        actor=user, task_id=first.task.pk, options=turns.TurnOptions(prompt="Shorter", path=turns.CHAT)
    )
    complete(second.assistant_subtask, "Short plan.")
    return first.task


def test_export_contains_the_title_and_the_messages(api, chat):
    response = api.get(f"/api/tasks/{chat.pk}/export/docx")
    lines = texts(response)
    assert lines[0] == "Release notes"
    for expected in (
        "Write the plan",
        "Some intro text.",
        "first point",
        'print("hello")',
        "Shorter",
        "Short plan.",
    ):
        assert expected in lines
    assert lines.count("Assistant") == 2 and "alice" in lines
    styles = paragraph_styles(response)
    assert styles["Plan"].startswith("Heading")
    assert styles["first point"] == "List Bullet"
    assert styles["step one"] == "List Number"
    assert "```python" not in lines


def test_export_selected_messages(api, chat):
    lines = texts(api.get(f"/api/tasks/{chat.pk}/export/docx?message_ids=3, 4,99"))
    assert "Shorter" in lines and "Short plan." in lines
    assert "Write the plan" not in lines and "Some intro text." not in lines
    # Ids the task does not have are ignored: only the title is left.
    assert texts(api.get(f"/api/tasks/{chat.pk}/export/docx?message_ids=99"))[0] == "Release notes"
    assert "Write the plan" in texts(api.get(f"/api/tasks/{chat.pk}/export/docx?message_ids="))


def test_file_name_is_safe(api, user, team, make_task):
    task = make_task(user, team, prompt="hi", title='Plan: "ship"/v2 \u62a5\u544a').task
    response = api.get(f"/api/tasks/{task.pk}/export/docx")
    header = response["Content-Disposition"]
    assert header.startswith('attachment; filename="Plan_ship_v2_')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    name = unquote(encoded)
    assert name.startswith("Plan_ship_v2_\u62a5\u544a_") and name.endswith(".docx")
    assert "/" not in name and '"' not in name
    assert "\n" not in header


def test_helpers():
    assert safe_filename("../../etc/passwd", "task-1") == "etc_passwd"
    assert safe_filename("   ", "task-1") == "task-1"
    assert content_disposition("a b.docx") == "attachment; filename=\"a b.docx\"; filename*=UTF-8''a%20b.docx"


def test_text_xml_cannot_hold_is_dropped_not_a_500(api, user, team, make_task):
    task = make_task(user, team, prompt="bell \x07 and nul-free", answer="form\x0cfeed").task
    lines = texts(api.get(f"/api/tasks/{task.pk}/export/docx"))
    assert "bell  and nul-free" in lines and "formfeed" in lines


@pytest.mark.parametrize("value", ["1,x", "abc", "1.5", "-1", "0", "99999999999999999999999"])
def test_bad_message_ids_are_422(api, chat, value):
    assert_validation_error(api.get(f"/api/tasks/{chat.pk}/export/docx?message_ids={value}"), "message_ids")


def test_access(api, client_for, other_user, make_user, anon_client, user, chat):
    path = f"/api/tasks/{chat.pk}/export/docx"
    ResourceMember.objects.create(
        resource_type=ResourceMember.TASK,
        resource_id=chat.pk,
        user=other_user,
        status=ResourceMember.APPROVED,
    )
    assert "Write the plan" in texts(client_for(other_user).get(path))
    stranger = client_for(make_user("carol")).get(path)
    assert stranger.status_code == 404 and stranger.json() == {"detail": "Task not found"}
    assert anon_client.get(path).status_code == 401
    assert api.get("/api/tasks/999999/export/docx").status_code == 404
    lifecycle.delete_task(actor=user, task_id=chat.pk)
    assert api.get(path).status_code == 404


def test_any_accept_header_gets_the_file(api, chat):
    response = api.get(f"/api/tasks/{chat.pk}/export/docx", HTTP_ACCEPT=MIME_TYPE)
    assert "Release notes" in texts(response)
