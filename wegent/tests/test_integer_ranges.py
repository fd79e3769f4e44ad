"""Integers from the URL and the query string past what a database column holds (found by the
schemathesis run of ``scripts/fuzz.py``).

A row id or offset is at most a signed 64-bit integer on SQLite, PostgreSQL and MySQL; a larger
one reached the database and failed there (SQLite "datatype mismatch" or ``OverflowError``,
PostgreSQL "bigint out of range") as a 500. Path values are checked once for every route
(``wegent.middleware.PathIntegerRangeMiddleware``) and query values once in
``wegent.api.validation.validate_query``; paging bounds ``page`` so its offset fits.

The walks below find routes from the URL map, so a route added later is covered too.
"""

from __future__ import annotations

import re

import pytest
from django.urls import get_resolver

from wegent.api.validation import MAX_DB_INTEGER
from wegent.tests.test_route_guards import _CONVERTER, _walk, api_paths

pytestmark = pytest.mark.django_db

HUGE = 2**64  # past every integer column
PAST_OFFSET = 2**62  # a page whose offset (page - 1) * limit is past int64, itself inside it

# The list routes the fuzzer found answering 500 to a large ``page`` or ``skip``.
PAGED = [
    "/api/agents",
    "/api/models",
    "/api/tasks",
    "/api/tasks/search?title=x",
    "/api/tasks/lite/group",
    "/api/admin/personal-keys",
]
SKIPPED = ["/api/v1/kinds/skills", "/api/v1/kinds/skills/public/list"]


def _with(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.mark.parametrize("url", PAGED)
@pytest.mark.parametrize("page", [PAST_OFFSET, HUGE])
def test_a_page_past_the_database_offset_is_a_clear_422(admin_api, url, page):
    response = admin_api.get(_with(url, f"page={page}"))
    assert response.status_code == 422, response.content
    assert "page" in response.content.decode()


@pytest.mark.parametrize("url", PAGED)
def test_the_last_page_that_fits_still_answers(admin_api, url):
    # The bound is the offset's, not a guess: the largest allowed page reaches the database.
    response = admin_api.get(_with(url, f"page={MAX_DB_INTEGER // 100}&limit=100"))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("url", SKIPPED)
@pytest.mark.parametrize("skip", [MAX_DB_INTEGER + 1, HUGE])
def test_a_skip_past_the_database_offset_is_a_clear_422(admin_api, url, skip):
    response = admin_api.get(_with(url, f"skip={skip}"))
    assert response.status_code == 422, response.content
    assert "skip" in response.content.decode()


@pytest.mark.parametrize("url", SKIPPED)
def test_the_largest_skip_still_answers(admin_api, url):
    response = admin_api.get(_with(url, f"skip={MAX_DB_INTEGER}"))
    assert response.status_code == 200, response.content


def test_no_list_route_answers_500_to_huge_paging_values(api, admin_api):
    failures = []
    for path in api_paths():
        for client in (api, admin_api):
            for key in ("page", "skip", "limit", "offset"):
                response = client.get(f"{path}?{key}={HUGE}")
                if response.status_code >= 500:
                    failures.append(f"GET {path}?{key}=2**64 -> {response.status_code}")
    assert failures == []


@pytest.mark.parametrize("method", ["put", "delete"])
def test_a_group_member_id_past_int64_is_404(admin_api, method):
    assert admin_api.post("/api/groups", {"name": "big"}, format="json").status_code == 201
    response = getattr(admin_api, method)(
        f"/api/groups/big/members/{HUGE}", {"role": "Reporter"}, format="json"
    )
    assert response.status_code == 404, response.content


def _int_routes() -> list[str]:
    return sorted(
        "/" + route
        for route in _walk(get_resolver().url_patterns)
        if route.startswith("api/") and "<int:" in route
    )


def test_every_integer_path_value_past_int64_is_404_on_every_method(admin_api):
    # Other path values get a plausible sample, so the check is what answers, not a lookup of
    # a group or kind that does not exist. A new route with an ``<int:...>`` is covered as is.
    routes = _int_routes()
    assert len(routes) > 40
    wrong = []
    for route in routes:
        path = _CONVERTER.sub(lambda m: str(HUGE) if m.group(1) == "int" else "default", route)
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(admin_api, method)(path, {}, format="json")
            if response.status_code != 404:
                wrong.append(f"{method.upper()} {path} -> {response.status_code}")
    assert wrong == []


def test_the_largest_database_integer_in_a_path_reaches_the_view(admin_api):
    # The bound is int64 itself: the largest id is looked up (and not found), not refused.
    response = admin_api.get(f"/api/tasks/{MAX_DB_INTEGER}")
    assert response.status_code == 404
    assert re.search("not found", response.json()["detail"], re.I)
    assert response.json()["detail"] != "Not Found"  # the view's answer, not the guard's


def _integer_schemas(node: object) -> list[dict]:
    found = []
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            found.append(node)
        for value in node.values():
            found.extend(_integer_schemas(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_integer_schemas(value))
    return found


def test_the_schema_says_every_integer_is_int64_or_narrower(anon_client):
    # A client and the fuzzer learn the range from the schema; the fuzzer then tries the
    # values just past it against every integer of every operation.
    integers = _integer_schemas(anon_client.get("/api/openapi.json").json())
    assert len(integers) > 100
    assert [schema for schema in integers if schema.get("format") not in ("int32", "int64")] == []
