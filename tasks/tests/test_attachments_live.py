"""Attachments over real HTTP through the project's ASGI server: a multi-megabyte upload (spooled
and parsed from disk), the streamed download with its headers, and the size limit.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from accounts.services.tokens import issue_access_token
from tasks.models import SubtaskContext

pytestmark = pytest.mark.live


@pytest.fixture
def store(settings, tmp_path) -> Path:
    root = tmp_path / "attachments"
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


def test_upload_and_download_over_http(live_server_url, make_user, store, settings):
    settings.MAX_UPLOAD_FILE_SIZE_MB = 4
    alice = make_user("alice")
    headers = {"Authorization": f"Bearer {issue_access_token(alice)}"}
    data = b"".join(b"line %07d\n" % n for n in range(300_000))  # 3.6 MB
    with httpx.Client(base_url=live_server_url, timeout=30, headers=headers) as client:
        response = client.post("/api/attachments/upload", files={"file": ("data 1.txt", data, "text/plain")})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["file_size"] == len(data) and body["status"] == "ready"
        context = SubtaskContext.objects.get(pk=body["id"])
        assert (store / context.storage_key).stat().st_size == len(data)

        download = client.get(f"/api/attachments/{body['id']}/download")
        assert download.status_code == 200
        assert download.content == data
        assert download.headers["content-type"] == "text/plain"
        assert download.headers["content-disposition"] == (
            "attachment; filename=\"data 1.txt\"; filename*=UTF-8''data%201.txt"
        )
        assert download.headers["x-content-type-options"] == "nosniff"

        too_big = client.post(
            "/api/attachments/upload", files={"file": ("big.txt", b"x" * (6 * 1024 * 1024), "text/plain")}
        )
        assert too_big.status_code == 400
        assert too_big.json() == {"detail": "File size exceeds maximum limit"}
    assert SubtaskContext.objects.count() == 1
    assert len([p for p in store.rglob("*") if p.is_file()]) == 1
