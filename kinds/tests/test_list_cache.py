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


# Committed rows: inside a test transaction with a pending bump the cache is bypassed anyway.
@pytest.mark.django_db(transaction=True)
def test_an_unreachable_cache_builds_the_list_instead_of_failing(settings, api, user, make_kind):
    """A Redis restart: list reads are built from the database meanwhile (not a 500)."""
    from kinds.tests.factories import ghost_doc

    make_kind(user, ghost_doc("seen-during-outage"))
    settings.LIST_CACHE_SECONDS = 60
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "wegent.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"},
    }
    response = api.get("/api/v1/namespaces/default/ghosts")
    assert response.status_code == 200
    assert "seen-during-outage" in [item["metadata"]["name"] for item in response.json()["items"]]
