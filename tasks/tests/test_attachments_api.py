"""``/api/attachments``: every route's success, 401, someone else's attachment, members, bad input.

Files are stored in a per-test temporary directory (``STORAGES["attachments"]`` overridden);
"nothing written" is checked by counting rows and files.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile

from accounts.services import api_keys
from kinds.models import ResourceMember
from tasks.attachments import model_content
from tasks.models import SubtaskContext
from tasks.services import attachments as service
from tasks.tests.test_attachments_parser import (
    EXE,
    make_docx,
    make_encrypted_pdf,
    make_pdf,
    make_png,
    make_pptx,
    make_xlsx,
)

pytestmark = pytest.mark.django_db

UPLOAD = "/api/attachments/upload"


@pytest.fixture(autouse=True)
def store(settings, tmp_path) -> Path:
    root = tmp_path / "attachments"
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    service.connect_signals()
    return root


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def drain(response) -> bytes:  # type: ignore[no-untyped-def]
    """The body; reading a streamed one to its end closes its file (the test client's wrapper)."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def rows() -> int:
    return SubtaskContext.objects.count()


def upload(client, name: str, data: bytes, query: str = ""):  # type: ignore[no-untyped-def]
    return client.post(f"{UPLOAD}{query}", {"file": SimpleUploadedFile(name, data)}, format="multipart")


def raw_upload(client, filename: bytes, data: bytes = b"hello"):  # type: ignore[no-untyped-def]
    """A multipart body written by hand: the test client would strip a path from the name."""
    boundary = b"xyzBOUNDARYxyz"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n"
    )
    return client.post(UPLOAD, body, content_type=f"multipart/form-data; boundary={boundary.decode()}")


@pytest.fixture
def uploaded(api):  # type: ignore[no-untyped-def]
    """An attachment alice uploaded: (response body, row)."""

    def _make(name: str = "notes.txt", data: bytes = b"alpha\nbeta\n"):  # type: ignore[no-untyped-def]
        response = upload(api, name, data)
        assert response.status_code == 200, response.content
        body = response.json()
        return body, SubtaskContext.objects.get(pk=body["id"])

    return _make


@pytest.fixture
def linked(uploaded, user, team, make_task):  # type: ignore[no-untyped-def]
    """An attachment linked to the user message of alice's task: (row, turn)."""
    _, context = uploaded()
    turn = make_task(user, team)
    context.subtask = turn.user_subtask
    context.save()
    return context, turn


def member(task, who, status=ResourceMember.APPROVED):  # type: ignore[no-untyped-def]
    return ResourceMember.objects.create(
        resource_type=ResourceMember.TASK, resource_id=task.pk, user=who, status=status
    )


# --- upload ---------------------------------------------------------------------------------------


def test_upload_text_returns_the_reference_shape(api, user, store):
    response = upload(api, "notes.md", b"# Hi\n\nbody\n")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "filename",
        "file_size",
        "mime_type",
        "status",
        "file_extension",
        "text_length",
        "error_message",
        "error_code",
        "truncation_info",
        "created_at",
    }
    assert body["filename"] == "notes.md" and body["file_size"] == 11
    assert (body["mime_type"], body["file_extension"], body["status"]) == ("text/markdown", ".md", "ready")
    assert body["text_length"] == 11 and body["truncation_info"] is None
    assert body["error_message"] is None and body["error_code"] is None
    context = SubtaskContext.objects.get(pk=body["id"])
    assert context.user == user and context.subtask is None and context.context_type == "attachment"
    assert context.extracted_text == "# Hi\n\nbody\n"
    assert context.storage_key.startswith("attachments/") and "notes" not in context.storage_key
    data = context.type_data
    assert data["original_filename"] == "notes.md" and data["storage_key"] == context.storage_key
    assert data["is_encrypted"] is False and data["storage_backend"].endswith("FileSystemStorage")
    assert (store / context.storage_key).read_bytes() == b"# Hi\n\nbody\n"


@pytest.mark.parametrize(
    ("name", "data", "mime", "needle"),
    [
        ("doc.pdf", make_pdf(["Quarterly report"]), "application/pdf", "Quarterly report"),
        ("doc.docx", make_docx(["Meeting minutes"]), "application/vnd.openxmlformats", "Meeting minutes"),
        ("book.xlsx", make_xlsx([["total", 42]]), "application/vnd.openxmlformats", "total\t42"),
        ("deck.pptx", make_pptx(["Roadmap"]), "application/vnd.openxmlformats", "Roadmap"),
        ("data.csv", b"a,b\n1,2\n", "text/csv", "1,2"),
        ("conf.json", b'{"k": "v"}', "application/json", '"k"'),
        ("script.py", b"import os\n", "text/", "import os"),
    ],
)
def test_upload_extracts_text(api, name, data, mime, needle):
    response = upload(api, name, data)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["mime_type"].startswith(mime)
    assert needle in SubtaskContext.objects.get(pk=body["id"]).extracted_text


def test_upload_image_keeps_the_file_for_vision_without_base64(api, store):
    png = make_png(6, 2)
    body = upload(api, "pic.png", png).json()
    context = SubtaskContext.objects.get(pk=body["id"])
    assert body["mime_type"] == "image/png" and context.type_data["is_image"] is True
    assert context.type_data["image"]["width"] == 6
    assert "base64" not in str(context.type_data) and len(context.extracted_text) < 200
    url = model_content.image_data_url(context)
    assert url is not None and url.startswith("data:image/png;base64,")
    import base64

    assert base64.b64decode(url.split(",", 1)[1]) == png
    assert model_content.image_data_url(context, max_bytes=10) is None
    assert model_content.attachment_text_for_model(context).startswith("[Attachment: pic.png")


def test_text_for_model_wraps_the_extracted_text(uploaded):
    _, context = uploaded("a.txt", b"payload")
    block = model_content.attachment_text_for_model(context)
    assert block.startswith("<attachment>\n[Attachment: a.txt | ID: ")
    assert "URL: /api/attachments/" in block and block.endswith("payload\n</attachment>")
    text_only = SubtaskContext.objects.get(pk=context.pk)
    assert model_content.image_data_url(text_only) is None


def test_upload_truncates_long_text(api, settings):
    settings.MAX_EXTRACTED_TEXT_LENGTH = 2000
    data = "".join(f"row {n}\n" for n in range(5000)).encode()
    body = upload(api, "big.txt", data).json()
    info = body["truncation_info"]
    assert info["is_truncated"] is True and info["original_length"] == len(data)
    assert info["truncated_length"] == body["text_length"] <= 2000
    assert info["truncation_message_key"] == "content_truncated"
    context = SubtaskContext.objects.get(pk=body["id"])
    assert context.extracted_text.startswith("row 0\n") and context.extracted_text.endswith("row 4999\n")
    detail = upload(api, "small.txt", b"x").json()
    assert detail["truncation_info"] is None
    assert "truncated from" in model_content.attachment_text_for_model(context)


def test_large_upload_streams_to_a_temporary_file(api, settings, monkeypatch):
    # Over FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) the upload is on disk, and the 20 MB general body
    # limit does not apply to the upload route.
    settings.MAX_REQUEST_BODY_BYTES = 1000
    seen = []
    real = service.upload_attachment

    def spy(**kwargs):  # type: ignore[no-untyped-def]
        seen.append(type(kwargs["file"]))
        return real(**kwargs)

    monkeypatch.setattr(service, "upload_attachment", spy)
    response = upload(api, "big.txt", b"0123456789\n" * 300_000)
    assert response.status_code == 200, response.content
    assert seen == [TemporaryUploadedFile]
    assert response.json()["file_size"] == 3_300_000


def test_overwrite_replaces_bytes_in_place(api, uploaded, store, django_capture_on_commit_callbacks):
    body, context = uploaded("v1.txt", b"first")
    old_key = context.storage_key
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api, "v2.txt", b"second version", f"?overwrite_attachment_id={body['id']}")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == body["id"] and response.json()["filename"] == "v2.txt"
    context.refresh_from_db()
    assert context.extracted_text == "second version" and context.storage_key != old_key
    assert rows() == 1
    assert [p.read_bytes() for p in stored_files(store)] == [b"second version"]


def test_overwrite_refusals(api, client_for, other_user, linked, uploaded, store):
    context, _ = linked
    assert upload(api, "x.txt", b"x", f"?overwrite_attachment_id={context.pk}").json() == {
        "detail": "Cannot overwrite attachment that is linked to a message"
    }
    _, own = uploaded()
    response = upload(client_for(other_user), "x.txt", b"x", f"?overwrite_attachment_id={own.pk}")
    assert response.status_code == 404 and response.json() == {"detail": "Attachment not found"}
    response = upload(api, "x.txt", b"x", "?overwrite_attachment_id=0")
    assert response.status_code == 400 and response.json() == {
        "detail": "overwrite_attachment_id must be positive"
    }
    assert upload(api, "x.txt", b"x", "?overwrite_attachment_id=abc").status_code == 422
    assert rows() == 2 and len(stored_files(store)) == 2


def test_upload_needs_credentials(anon_client, store):
    assert upload(anon_client, "a.txt", b"x").status_code == 401
    assert rows() == 0 and stored_files(store) == []


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("report.pdf", EXE, "unsupported_type"),
        ("photo.txt", make_png(), "unsupported_type"),
        ("archive.docx", make_xlsx([["x"]]), "unsupported_type"),
        ("tool.exe", EXE, "unrecognized_type"),
        ("broken.pdf", b"%PDF-1.7\n" + b"\x00\xff" * 300, "parse_failed"),
        ("broken.docx", make_docx(["x"])[:500], "parse_failed"),
        ("broken.xlsx", make_xlsx([["x"]])[:-100], "parse_failed"),
        ("broken.pptx", make_pptx(["x"])[:2000], "parse_failed"),
        ("locked.pdf", make_encrypted_pdf(), "encrypted_pdf"),
        ("old.doc", b"\xd0\xcf\x11\xe0" + b"\x00" * 64, "legacy_doc"),
    ],
)
def test_refused_files_leave_nothing_behind(api, store, name, data, code):
    response = upload(api, name, data)
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert detail["error_code"] == code and isinstance(detail["message"], str) and detail["message"]
    assert rows() == 0 and stored_files(store) == []


def test_oversized_upload_is_refused_while_streaming(api, settings, store, monkeypatch, tmp_path):
    settings.MAX_UPLOAD_FILE_SIZE_MB = 1
    # On disk from the first byte, so the partial temp file can be seen to go.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "spool")
    (tmp_path / "spool").mkdir()
    real = service.upload_attachment

    def never(**kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the upload handler should stop the oversized file first")

    monkeypatch.setattr(service, "upload_attachment", never)
    response = upload(api, "big.txt", b"x" * (1024 * 1024 + 1))
    assert response.status_code == 400
    assert response.json() == {"detail": "File size exceeds maximum limit"}
    assert rows() == 0 and stored_files(store) == []
    assert list((tmp_path / "spool").iterdir()) == []
    monkeypatch.setattr(service, "upload_attachment", real)
    assert upload(api, "fits.txt", b"x" * (1024 * 1024)).status_code == 200


def test_oversized_body_is_refused_before_parsing(api, settings, store, monkeypatch):
    settings.MAX_UPLOAD_FILE_SIZE_MB = 1

    def never(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the body should not be parsed")

    monkeypatch.setattr(service, "clean_filename", never)
    response = upload(api, "huge.txt", b"x" * (2 * 1024 * 1024 + 10))
    assert response.status_code == 400
    assert response.json() == {"detail": "File size exceeds maximum limit"}
    assert rows() == 0 and stored_files(store) == []


def test_service_checks_the_size_too(user, settings, store):
    import io

    settings.MAX_UPLOAD_FILE_SIZE_MB = 1
    with pytest.raises(service.FileTooLarge):
        service.upload_attachment(actor=user, filename="a.txt", file=io.BytesIO(b"x"), size=2 * 1024 * 1024)
    assert rows() == 0 and stored_files(store) == []


@pytest.mark.parametrize(
    "filename",
    [
        b"../../etc/passwd.txt",
        b"..\\..\\boot.ini",
        b"dir/file.txt",
        b"bad\x01name.txt",
        b"nul\x00name.txt",
        b"tab\tname.txt",
        "evil\u202etxt.exe".encode(),
        b"..",
        b"&#47;etc&#47;x.txt",
    ],
)
def test_unsafe_filenames_are_refused(api, store, filename):
    response = raw_upload(api, filename)
    assert response.status_code == 400, response.content
    assert response.json() == {
        "detail": "Invalid filename: path separators and control characters are not allowed"
    }
    assert rows() == 0 and stored_files(store) == []


def test_missing_file_or_filename(api, store):
    response = api.post(UPLOAD, {"other": "x"}, format="multipart")
    assert response.status_code == 400 and response.json() == {"detail": "File is required"}
    response = raw_upload(api, b"")
    assert response.status_code == 400 and response.json() == {"detail": "Filename is required"}
    response = raw_upload(api, b"   ")
    assert response.status_code == 400 and response.json() == {"detail": "Filename is required"}
    assert api.post(UPLOAD, {"file": "x"}, format="json").status_code == 415
    assert api.post(UPLOAD, b"--x\r\ngarbage", content_type="multipart/form-data").status_code in (400, 422)
    assert rows() == 0 and stored_files(store) == []


def test_non_ascii_filename_is_kept(api):
    body = upload(api, '报告 "final"; v2.txt', b"x").json()
    assert body["filename"] == '报告 "final"; v2.txt'


def test_long_filename_is_shortened_keeping_the_extension(api):
    body = upload(api, "a" * 300 + ".txt", b"x").json()
    # The test client (like Django's UploadedFile) keeps names at 255 characters.
    assert len(body["filename"]) <= 255 and body["filename"].endswith(".txt")
    assert service.clean_filename("b" * 400 + ".md").endswith(".md")
    assert len(service.clean_filename("b" * 400 + ".md")) == 255


# --- detail, preview, download --------------------------------------------------------------------


def test_detail_of_own_unlinked_attachment(api, uploaded):
    body, context = uploaded()
    response = api.get(f"/api/attachments/{context.pk}")
    assert response.status_code == 200
    assert response.json() == {**body, "subtask_id": None}


def test_detail_of_linked_attachment_for_owner_and_member(api, client_for, make_user, linked):
    context, turn = linked
    assert api.get(f"/api/attachments/{context.pk}").json()["subtask_id"] == turn.user_subtask.pk
    carol = make_user("carol")
    assert client_for(carol).get(f"/api/attachments/{context.pk}").status_code == 404
    member(turn.task, carol, ResourceMember.PENDING)
    assert client_for(carol).get(f"/api/attachments/{context.pk}").status_code == 404
    ResourceMember.objects.filter(user=carol).update(status=ResourceMember.APPROVED)
    response = client_for(carol).get(f"/api/attachments/{context.pk}")
    assert response.status_code == 200 and response.json()["id"] == context.pk
    # Members read; they do not delete, overwrite or take the executor route.
    assert client_for(carol).delete(f"/api/attachments/{context.pk}").status_code == 404
    assert client_for(carol).get(f"/api/attachments/{context.pk}/executor-download").status_code == 404


def test_member_who_uploaded_keeps_access_to_their_file(client_for, make_user, user, team, make_task):
    carol = make_user("carol")
    turn = make_task(user, team)
    member(turn.task, carol)
    body = upload(client_for(carol), "mine.txt", b"m").json()
    context = SubtaskContext.objects.get(pk=body["id"])
    context.subtask = turn.user_subtask
    context.save()
    ResourceMember.objects.filter(user=carol).update(status=ResourceMember.REJECTED)
    assert client_for(carol).get(f"/api/attachments/{context.pk}").status_code == 200


def test_someone_elses_attachment_is_404_everywhere(client_for, other_user, uploaded):
    _, context = uploaded()
    bob = client_for(other_user)
    for suffix in ("", "/preview", "/download", "/executor-download"):
        response = bob.get(f"/api/attachments/{context.pk}{suffix}")
        assert response.status_code == 404, suffix
        assert response.json() == {"detail": "Attachment not found"}
    assert bob.delete(f"/api/attachments/{context.pk}").status_code == 404
    assert rows() == 1


def test_deleted_task_hides_attachments_from_members(api, client_for, make_user, linked):
    context, turn = linked
    carol = make_user("carol")
    member(turn.task, carol)
    assert client_for(carol).get(f"/api/attachments/{context.pk}").status_code == 200
    turn.task.is_active = False
    turn.task.save()
    assert client_for(carol).get(f"/api/attachments/{context.pk}").status_code == 404
    assert api.get(f"/api/attachments/{context.pk}").status_code == 200  # the uploader still can


def test_routes_need_credentials(anon_client, uploaded, linked):
    _, context = uploaded()
    _, turn = linked
    paths = [
        f"/api/attachments/{context.pk}",
        f"/api/attachments/{context.pk}/preview",
        f"/api/attachments/{context.pk}/download",
        f"/api/attachments/{context.pk}/executor-download",
        f"/api/attachments/subtask/{turn.user_subtask.pk}",
        f"/api/attachments/task/{turn.task.pk}/all",
    ]
    for url in paths:
        assert anon_client.get(url).status_code == 401, url
        assert anon_client.get(f"{url}?share_token=abc").status_code == 401, url
    assert anon_client.delete(f"/api/attachments/{context.pk}").status_code == 401


def test_unknown_ids_are_404(api):
    for url in ("/api/attachments/999999", "/api/attachments/99999999999999999999/preview"):
        assert api.get(url).status_code == 404
    assert api.delete("/api/attachments/0").status_code == 404


def test_preview_text_and_image(api, uploaded, settings):
    _, text = uploaded("long.txt", b"y" * 5000)
    body = api.get(f"/api/attachments/{text.pk}/preview").json()
    assert body["preview_type"] == "text" and body["preview_text"] == "y" * 4000
    assert body["download_url"] == f"/api/attachments/{text.pk}/download"
    assert body["subtask_id"] is None and body["filename"] == "long.txt"
    _, image = uploaded("p.png", make_png())
    body = api.get(f"/api/attachments/{image.pk}/preview").json()
    assert (body["preview_type"], body["preview_text"]) == ("image", None)
    _, empty = uploaded("e.txt", b"")
    body = api.get(f"/api/attachments/{empty.pk}/preview").json()
    assert (body["preview_type"], body["preview_text"]) == ("none", None)


def test_download_streams_the_original_bytes(api, uploaded):
    pdf = make_pdf(["bytes"])
    _, context = uploaded("doc.pdf", pdf)
    response = api.get(f"/api/attachments/{context.pk}/download")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == "attachment; filename=\"doc.pdf\"; filename*=UTF-8''doc.pdf"
    assert int(response["Content-Length"]) == len(pdf)


def test_download_streams_block_by_block_under_asgi(api, uploaded):
    # Django's ASGI handler reads responses through __aiter__; a plain FileResponse would be
    # collected whole into memory first (and warn about it).
    data = b"0123456789" * 10
    _, context = uploaded("blocks.txt", data)
    response = api.get(f"/api/attachments/{context.pk}/download")
    response.block_size = 16

    async def consume() -> list[bytes]:
        return [part async for part in response]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parts = asyncio.run(consume())
    assert b"".join(parts) == data and len(parts) == 7


def test_content_disposition_of_a_hostile_non_ascii_name(api, uploaded):
    name = '报告 "q";x=1\'.txt'
    _, context = uploaded(name, b"data")
    response = api.get(f"/api/attachments/{context.pk}/download")
    drain(response)
    header = response["Content-Disposition"]
    assert header == ("attachment; filename=\"__ _q__x_1_.txt\"; filename*=UTF-8''" + quote(name, safe=""))
    # Nothing in the header can end the value early or start a new parameter.
    value = header.split("filename*=UTF-8''", 1)[1]
    assert all(ch not in value for ch in "\";' ")
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii() and ";" not in fallback


def test_download_of_a_missing_file_is_404_not_500(api, uploaded, store):
    _, context = uploaded()
    (store / context.storage_key).unlink()
    response = api.get(f"/api/attachments/{context.pk}/download")
    assert response.status_code == 404
    assert response.json() == {"detail": "Failed to retrieve attachment data"}


def test_executor_download_with_an_api_key(anon_client, user, uploaded):
    _, context = uploaded("run.sh", b"echo hi\n")
    _, raw = api_keys.create_key(owner=user, name="executor")
    response = anon_client.get(f"/api/attachments/{context.pk}/executor-download", HTTP_X_API_KEY=raw)
    assert response.status_code == 200, response.content
    assert b"".join(response.streaming_content) == b"echo hi\n"
    assert response["Content-Disposition"].startswith('attachment; filename="run.sh"')


# --- delete ---------------------------------------------------------------------------------------


def test_delete_unlinked_attachment_removes_row_and_file(
    api, uploaded, store, django_capture_on_commit_callbacks
):
    _, context = uploaded()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/attachments/{context.pk}")
    assert response.status_code == 200
    assert response.json() == {"message": "Attachment deleted successfully"}
    assert rows() == 0 and stored_files(store) == []
    assert api.get(f"/api/attachments/{context.pk}").status_code == 404


def test_delete_linked_attachment_is_refused(api, linked, store):
    context, _ = linked
    response = api.delete(f"/api/attachments/{context.pk}")
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot delete attachment that is linked to a message"}
    assert rows() == 1 and len(stored_files(store)) == 1


def test_cascade_delete_of_a_message_removes_its_files(linked, store, django_capture_on_commit_callbacks):
    _, turn = linked
    assert len(stored_files(store)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        turn.user_subtask.delete()
    assert rows() == 0 and stored_files(store) == []


def test_a_file_shared_by_two_rows_survives_one_delete(uploaded, store, django_capture_on_commit_callbacks):
    _, context = uploaded()
    copy = SubtaskContext.objects.get(pk=context.pk)
    copy.pk = None
    copy.save()
    with django_capture_on_commit_callbacks(execute=True):
        context.delete()
    assert len(stored_files(store)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        copy.delete()
    assert stored_files(store) == []


# --- per-message and per-task lists ---------------------------------------------------------------


def test_subtask_attachment_first_or_null(api, client_for, other_user, make_user, linked):
    context, turn = linked
    response = api.get(f"/api/attachments/subtask/{turn.user_subtask.pk}")
    assert response.status_code == 200 and response.json()["id"] == context.pk
    empty = api.get(f"/api/attachments/subtask/{turn.assistant_subtask.pk}")
    assert empty.status_code == 200 and empty.content == b"null" and empty.json() is None
    response = client_for(other_user).get(f"/api/attachments/subtask/{turn.user_subtask.pk}")
    assert response.status_code == 404 and response.json() == {"detail": "Subtask not found"}
    assert (
        client_for(other_user).get(f"/api/attachments/subtask/{turn.assistant_subtask.pk}").status_code == 404
    )
    assert api.get("/api/attachments/subtask/987654").status_code == 404
    carol = make_user("carol")
    member(turn.task, carol)
    assert (
        client_for(carol).get(f"/api/attachments/subtask/{turn.user_subtask.pk}").json()["id"] == context.pk
    )


def test_task_attachments_for_owner_and_member(api, client_for, other_user, make_user, linked, uploaded):
    context, turn = linked
    uploaded("unlinked.txt", b"u")  # not part of the task
    response = api.get(f"/api/attachments/task/{turn.task.pk}/all")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [context.pk]
    assert response.json()[0]["subtask_id"] == turn.user_subtask.pk
    response = client_for(other_user).get(f"/api/attachments/task/{turn.task.pk}/all")
    assert response.status_code == 404 and response.json() == {"detail": "Task not found"}
    carol = make_user("carol")
    member(turn.task, carol)
    assert [i["id"] for i in client_for(carol).get(f"/api/attachments/task/{turn.task.pk}/all").json()] == [
        context.pk
    ]
    assert api.get("/api/attachments/task/987654/all").status_code == 404


# --- share tokens ---------------------------------------------------------------------------------


def test_a_share_token_that_grants_nothing_is_403(client_for, other_user, uploaded):
    _, context = uploaded()
    bob = client_for(other_user)
    for suffix in ("", "/preview", "/download"):
        response = bob.get(f"/api/attachments/{context.pk}{suffix}?share_token=not-a-token")
        assert response.status_code == 403, suffix
        assert response.json() == {"detail": "Share token access denied"}
    response = bob.get("/api/attachments/424242?share_token=not-a-token")
    assert response.status_code == 403


def test_share_token_reads_only_attachments_of_its_task(client_for, other_user, user, linked, uploaded):
    context, turn = linked
    _, unlinked = uploaded("loose.txt", b"l")
    sharing = pytest.importorskip("tasks.services.sharing")
    if not hasattr(sharing, "create_share_token"):
        pytest.skip("tasks.services.sharing.create_share_token is not there yet")
    token = sharing.create_share_token(user, turn.task.pk)
    bob = client_for(other_user)
    assert bob.get(f"/api/attachments/{context.pk}").status_code == 404
    for suffix in ("", "/preview", "/download"):
        response = bob.get(f"/api/attachments/{context.pk}{suffix}?share_token={token}")
        drain(response)
        assert response.status_code == 200, suffix
    assert bob.get(f"/api/attachments/{unlinked.pk}?share_token={token}").status_code == 403
    # Read only: the token does not open delete or the executor route.
    assert bob.delete(f"/api/attachments/{context.pk}?share_token={token}").status_code == 404
    assert bob.get(f"/api/attachments/{context.pk}/executor-download?share_token={token}").status_code == 404


def test_share_token_service_rule(other_user, linked, uploaded, monkeypatch):
    """The rule itself, with the token lookup stubbed: linked attachments of that task only."""
    import sys
    import types

    context, turn = linked
    _, unlinked = uploaded("loose.txt", b"l")
    fake = types.ModuleType("tasks.services.sharing")
    fake.task_for_share_token = lambda token: turn.task if token == "good" else None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tasks.services.sharing", fake)
    assert service.readable_attachment(other_user, context.pk, share_token="good") == context
    with pytest.raises(service.ShareTokenDenied):
        service.readable_attachment(other_user, context.pk, share_token="bad")
    with pytest.raises(service.ShareTokenDenied):
        service.readable_attachment(other_user, unlinked.pk, share_token="good")
    with pytest.raises(service.AttachmentNotFound):
        service.readable_attachment(other_user, context.pk)
