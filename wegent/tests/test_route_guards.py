"""Guards over every /api route at once (DESIGN.md sections 6 and 7).

* Every route needs authentication except the public ones listed here.
* No route answers 500 to an authenticated caller sending an empty, malformed or
  wrong-shaped body, or odd path values.

Routes are found by walking the URL map, so a route added later is covered without a change
here; a new public route must be added to PUBLIC deliberately.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Routes that answer without credentials, by design (login, OIDC, health, schema, docs; a
# subscription's webhook, whose token and signature are the credential).
PUBLIC = re.compile(
    r"^/api/(auth/(login|oauth2|oidc/.*)|health|ready|openapi\.json|docs|redoc|subscriptions/webhook/[^/]+)$"
)
METHODS = ("get", "post", "put", "delete")
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_SAMPLE = {
    "int": "1",
    "str": "x",
    "path": "default/x",
    "slug": "x",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _walk(patterns: list, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + route)
        elif isinstance(pattern, URLPattern):
            yield prefix + route


def _concrete(route: str) -> str:
    path = _CONVERTER.sub(lambda m: _SAMPLE.get(m.group(1) or "str", "x"), route)
    return "/" + path.lstrip("^").rstrip("$")


def api_paths() -> list[str]:
    paths = {_concrete(route) for route in _walk(get_resolver().url_patterns)}
    return sorted(path for path in paths if path.startswith("/api/"))


def test_the_walk_finds_the_api():
    paths = api_paths()
    assert len(paths) > 100
    assert "/api/v1/namespaces/default/x" in paths
    assert "/api/teams" in paths


def test_every_non_public_route_needs_credentials(anon_client):
    open_routes = []
    for path in api_paths():
        if PUBLIC.match(path):
            continue
        for method in METHODS:
            response = getattr(anon_client, method)(path)
            if response.status_code not in (401, 405):
                open_routes.append(f"{method.upper()} {path} -> {response.status_code}")
    assert open_routes == []


BAD_BODIES = [
    ("empty object", "{}", "application/json"),
    ("malformed json", "{not json", "application/json"),
    ("a list", "[1, 2, 3]", "application/json"),
    ("a string", '"text"', "application/json"),
    ("wrong types", '{"name": 5, "user_name": [], "items": "x", "id": {}}', "application/json"),
    ("garbage form", "a=%ff%fe&b", "application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize(("label", "body", "content_type"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_no_route_answers_500_to_bad_input(api, admin_api, label, body, content_type):
    failures = []
    for path in api_paths():
        for client in (api, admin_api):
            for method in ("post", "put"):
                response = getattr(client, method)(path, body, content_type=content_type)
                if response.status_code >= 500:
                    failures.append(f"{method.upper()} {path} ({label}) -> {response.status_code}")
    assert failures == []


def test_no_route_answers_500_to_odd_path_values(api):
    odd = ["0", "-1", "99999999999999999999", "%00", "..", "x" * 300]
    failures = []
    for route in _walk(get_resolver().url_patterns):
        if not str(route).startswith("api/") or "<" not in route:
            continue
        for value in odd:
            path = "/" + _CONVERTER.sub(value, route)
            for method in ("get", "delete"):
                response = getattr(api, method)(path)
                if response.status_code >= 500:
                    failures.append(f"{method.upper()} {path[:80]} -> {response.status_code}")
    assert failures == []


def test_no_route_answers_500_to_odd_query_values(api):
    failures = []
    for path in api_paths():
        for value in ("%00", "x" * 300, "-1", "%ff"):
            query = "&".join(
                f"{key}={value}" for key in ("q", "name", "search", "scope", "group_name", "page", "limit")
            )
            response = api.get(f"{path}?{query}")
            if response.status_code >= 500:
                failures.append(f"GET {path}?{query[:40]} -> {response.status_code}")
    assert failures == []


def test_nul_in_path_or_query_is_a_clear_400(api):
    for url in ("/api/groups/%00/members", "/api/users/search?q=a%00b"):
        response = api.get(url)
        assert response.status_code == 400
        assert "NUL" in response.json()["detail"]
