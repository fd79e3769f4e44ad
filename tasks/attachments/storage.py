"""Attachment bytes, kept through Django's storage API (``STORAGES["attachments"]``).

The local directory is the default; any django-storages backend works by setting. Keys are
``attachments/<uuid>``, never derived from the uploader's filename, so no name can steer a
write outside the storage root or collide with another file.
"""

from __future__ import annotations

import logging
import uuid
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages

logger = logging.getLogger("wegent.attachments")

KEY_PREFIX = "attachments/"


def backend() -> Storage:
    # Looked up on every call: tests (and reconfiguration) swap STORAGES at runtime.
    return storages["attachments"]


def backend_name() -> str:
    """The configured backend's dotted path, recorded with each file."""
    return str(settings.STORAGES["attachments"]["BACKEND"])


def new_key() -> str:
    return f"{KEY_PREFIX}{uuid.uuid4().hex}"


def save(content: IO[bytes]) -> str:
    """Stores ``content`` under a fresh key and returns the key the backend used."""
    content.seek(0)
    wrapped = content if isinstance(content, File) else File(content)
    return backend().save(new_key(), wrapped)


def open_file(key: str) -> File:
    """The stored file, opened for reading. ``FileNotFoundError`` (or the backend's error) if absent."""
    return backend().open(key, "rb")


def read_bytes(key: str) -> bytes:
    with open_file(key) as handle:
        return handle.read()


def exists(key: str) -> bool:
    return bool(key) and backend().exists(key)


def delete(key: str) -> None:
    """Removes a stored file; a failure is logged, never raised (the row is gone either way)."""
    if not key:
        return
    try:
        backend().delete(key)
    except Exception:  # the backend's errors are not a common type (OSError, botocore, ...)
        logger.exception("Could not delete attachment file %s", key)
