"""kinds.list_cache: per-process values, a shared generation, and no stale hit after a reset."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from kinds import list_cache

pytestmark = pytest.mark.django_db


@pytest.fixture
def counting_build():
    calls: list[int] = []

    def build() -> int:
        calls.append(1)
        return len(calls)

    return build


def test_hits_until_a_bump_and_never_after_a_lost_counter(settings, counting_build):
    settings.LIST_CACHE_SECONDS = 60
    assert list_cache.cached(("probe",), counting_build) == 1
    assert list_cache.cached(("probe",), counting_build) == 1  # served from this process
    list_cache.bump()
    assert list_cache.cached(("probe",), counting_build) == 2
    cache.clear()  # the shared counter is lost (e.g. Redis restarted)
    assert list_cache.cached(("probe",), counting_build) == 3
    assert list_cache.cached(("other",), counting_build) == 4  # keys are separate


def test_disabled_builds_every_time(settings, counting_build):
    settings.LIST_CACHE_SECONDS = 0
    assert [list_cache.cached(("probe",), counting_build) for _ in range(3)] == [1, 2, 3]
