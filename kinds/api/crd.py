"""``/api/v1/namespaces/{namespace}/{kinds}[/{name}]`` and the batch ``apply``/``delete`` routes.

Each kind in ``kinds/registry.py`` gets its own list and item URL patterns (so the OpenAPI
document describes each kind's bodies, see ``crd_schema.py``), all served by one view. Group
namespaces may contain '/', so a path can read two ways (``org/ghosts/ghosts`` is a list in
``org/ghosts`` or the ghost ``ghosts`` in ``org``): whichever pattern matched, the view hands
the path to the one parser, ``split_path``, which decides on the namespaces that exist. A last
pattern, left out of the document, takes the rest (a trailing '/', an unknown kind's 400).
Listing in nested namespaces works, unlike in the reference.
"""

from __future__ import annotations

from typing import Any

import yaml
from django.urls import path
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds import access, events, list_cache, registry, selectors, services, skills
from kinds.api.crd_schema import KindRoute, KindRouteSchema
from kinds.exceptions import KindNotFound
from kinds.specs import API_VERSION
from wegent.api.validation import validate_query
from wegent.errors import NotFound

BATCH_ACTIONS = ("apply", "delete")


def _live(reader_id: int, kind: str, documents: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The documents with the status no row stores (``kinds.live_status``); None: unchanged."""
    for overlay in events.live_status:
        changed = overlay(reader_id, kind, documents)
        if changed is not None:
            return changed
    return None


def _rendered(reader_id: int, row: Any) -> dict[str, Any]:
    document = selectors.render(row)
    live = _live(reader_id, row.kind, [document])
    return live[0] if live else document


class YAMLParser(BaseParser):
    """YAML bodies (one document, or several for batch apply/delete)."""

    media_type = "application/yaml"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            documents = [doc for doc in yaml.safe_load_all(stream.read().decode("utf-8")) if doc is not None]
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ParseError(f"YAML parse error - {exc}") from exc
        return documents[0] if len(documents) == 1 else documents


class XYAMLParser(YAMLParser):
    media_type = "application/x-yaml"


def split_path(rest: str, method: str) -> tuple[str, str, str | None]:
    """(namespace, plural or batch action, name or None) from the path after ``namespaces/``."""
    parts = [part for part in rest.split("/") if part]
    if len(parts) < 2:
        raise NotFound("Not Found")
    last, before = parts[-1], parts[-2] if len(parts) >= 2 else ""
    as_list = registry.by_plural(last) is not None and access.namespace_exists("/".join(parts[:-1]))
    as_item = len(parts) >= 3 and registry.by_plural(before) is not None
    if method == "POST" and last in BATCH_ACTIONS and not as_list:
        return "/".join(parts[:-1]), last, None
    if as_list or (registry.by_plural(last) is not None and not as_item):
        return "/".join(parts[:-1]), last, None
    if as_item:
        return "/".join(parts[:-2]), before, last
    # No known plural where one is expected: answer with the reference's 400 naming the segment
    # that would be the kind (the last one when the rest is a namespace, else the one before).
    if len(parts) >= 3 and not access.namespace_exists("/".join(parts[:-1])):
        return "/".join(parts[:-2]), before, last
    return "/".join(parts[:-1]), last, None


class DryRunQuery:
    @staticmethod
    def read(request: Request) -> bool:
        from rest_framework import serializers

        class _Query(serializers.Serializer):
            dryRun = serializers.BooleanField(required=False, default=False)

        return validate_query(_Query, request)["dryRun"]


def rest_of(route: KindRoute | None, kwargs: dict[str, Any]) -> str:
    """The path after ``namespaces/`` as the matched pattern saw it (for the one parser)."""
    if route is None:
        return kwargs["rest"]
    if route.role == "batch":
        return f"{kwargs['namespace']}/{route.action}"
    assert route.kind_type is not None
    rest = f"{kwargs['namespace']}/{route.kind_type.plural}"
    return f"{rest}/{kwargs['name']}" if route.role == "item" else rest


class NamespacedKindView(APIView):
    parser_classes = [JSONParser, YAMLParser, XYAMLParser]
    schema = KindRouteSchema()
    route: KindRoute | None = None  # set per URL pattern (``as_view(route=...)``)

    def parsed(self, method: str) -> tuple[str, str, str | None]:
        return split_path(rest_of(self.route, self.kwargs), method)

    def get(self, request: Request, **kwargs: str) -> Response:
        namespace, plural, name = self.parsed("GET")
        kind_type = services.kind_type_for_plural(plural)
        if kind_type.backend is not None:
            if name is None:
                items = kind_type.backend.list(actor=request.user, namespace=namespace)
                return Response({"apiVersion": API_VERSION, "kind": f"{kind_type.kind}List", "items": items})
            return Response(kind_type.backend.get(actor=request.user, namespace=namespace, name=name))
        if name is None:
            if not access.can(request.user, namespace, access.READ):
                return Response(selectors.render_list(kind_type.kind, []))
            listed = list_cache.cached(
                ("crd", request.user.pk, kind_type.kind, namespace),
                lambda: selectors.list_rendered(request.user, kind_type.kind, namespace),
            )
            live = _live(request.user.pk, kind_type.kind, listed["items"])
            return Response(listed if live is None else {**listed, "items": live})
        row = (
            selectors.find(request.user, kind_type.kind, namespace, name)
            if access.can(request.user, namespace, access.READ)
            else None
        )
        if row is None:
            raise KindNotFound(f"{kind_type.kind} '{name}' not found in namespace '{namespace}'")
        return Response(_rendered(request.user.pk, row))

    def post(self, request: Request, **kwargs: str) -> Response:
        namespace, plural, name = self.parsed("POST")
        if plural in BATCH_ACTIONS and name is None:
            operation = services.apply_resources if plural == "apply" else services.delete_resources
            dry_run = DryRunQuery.read(request)
            return Response(
                operation(actor=request.user, namespace=namespace, items=request.data, dry_run=dry_run)
            )
        if name is not None:
            raise NotFound("Not Found")
        kind_type = services.kind_type_for_plural(plural)
        if kind_type.backend is not None:
            document = kind_type.backend.create(actor=request.user, namespace=namespace, body=request.data)
            return Response(document, status=201)
        row = services.create_resource(
            actor=request.user, kind_type=kind_type, namespace=namespace, body=request.data
        )
        return Response(_rendered(request.user.pk, row), status=201)

    def put(self, request: Request, **kwargs: str) -> Response:
        namespace, plural, name = self.parsed("PUT")
        kind_type = services.kind_type_for_plural(plural)
        if name is None:
            raise NotFound("Not Found")
        if kind_type.backend is not None:
            return Response(
                kind_type.backend.update(
                    actor=request.user, namespace=namespace, name=name, body=request.data
                )
            )
        row, _ = services.update_resource(
            actor=request.user, kind_type=kind_type, namespace=namespace, name=name, body=request.data
        )
        return Response(_rendered(request.user.pk, row))

    def delete(self, request: Request, **kwargs: str) -> Response:
        namespace, plural, name = self.parsed("DELETE")
        kind_type = services.kind_type_for_plural(plural)
        if name is None:
            raise NotFound("Not Found")
        if kind_type.backend is not None:
            kind_type.backend.delete(actor=request.user, namespace=namespace, name=name)
        elif kind_type.kind == "Skill":
            # Skills keep their own delete rules (soft delete, archive removed, SKILL_REFERENCED).
            row = selectors.find(request.user, "Skill", namespace, name)
            if row is None or not access.can(request.user, namespace, access.READ):
                raise KindNotFound(f"Skill '{name}' not found")
            skills.delete_skill(actor=request.user, skill_id=row.pk)
        else:
            services.delete_resource(actor=request.user, kind_type=kind_type, namespace=namespace, name=name)
        return Response({"message": f"Successfully deleted resource '{name}'"})


def _patterns() -> list[Any]:
    """One list and one item pattern per registered kind, the batch actions, then the rest.

    Built when the URLconf loads, after every app's ``ready()`` registered its kinds.
    """
    view = NamespacedKindView.as_view
    patterns = []
    for kind_type in registry.all_types():
        plural = kind_type.plural
        patterns += [
            path(
                f"namespaces/<path:namespace>/{plural}",
                view(route=KindRoute("list", kind_type)),
                name=f"kinds-{plural}-list",
            ),
            path(
                f"namespaces/<path:namespace>/{plural}/<str:name>",
                view(route=KindRoute("item", kind_type)),
                name=f"kinds-{plural}-item",
            ),
        ]
    for action in BATCH_ACTIONS:
        patterns.append(
            path(
                f"namespaces/<path:namespace>/{action}",
                view(route=KindRoute("batch", action=action)),
                name=f"kinds-batch-{action}",
            )
        )
    # Not in the document (``route`` None): only answers the parser gives to other paths.
    patterns.append(path("namespaces/<path:rest>", view(), name="kinds-namespaced"))
    return patterns


# Under the v1/ include (kinds/api/urls.py).
urlpatterns = _patterns()
