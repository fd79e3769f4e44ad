"""Fixtures for knowledge tests: the fake embedding server and an embedding model pointing at it
(rows: ``knowledge.tests.factories``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from knowledge.tests.fake_embed import FakeEmbedServer


@pytest.fixture
def fake_embed(settings) -> Iterator[FakeEmbedServer]:  # type: ignore[no-untyped-def]
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    with FakeEmbedServer() as server:
        yield server
