"""The OpenAPI description of the Kind API routes, one operation set per kind.

Each route of ``kinds/api/crd.py`` carries a ``KindRoute``; ``KindRouteSchema`` reads it and
describes that kind's bodies from its ``kinds/specs`` pydantic model, converted to OpenAPI 3.0
(``nullable`` instead of a ``null`` type, ``enum`` instead of ``const``). Component names start
with ``Kind`` so they cannot meet the serializer components of other routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from drf_spectacular.drainage import warn
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from pydantic import BaseModel

from kinds import registry as kind_registry
from kinds import services
from kinds.registry import KindType
from kinds.specs import API_VERSION
from kinds.specs.base import NAME_PATTERN, NAME_RULE

TAGS = ["kinds"]
PREFIX = "Kind"
JSON_AND_YAML = ("application/json", "application/yaml", "application/x-yaml")
BATCH_OPERATIONS = (services.CREATED, services.UPDATED, services.UNCHANGED, services.DELETED, services.FAILED)

Role = Literal["list", "item", "batch"]
Schema = dict[str, Any]


@dataclass(frozen=True)
class KindRoute:
    """What one URL pattern of the Kind API serves: a kind's list or item, or a batch action."""

    role: Role
    kind_type: KindType | None = None
    action: str | None = None  # "apply" or "delete" for a batch route

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods the route documents (the view answers others as it always did)."""
        if self.role == "batch":
            return ("POST",)
        assert self.kind_type is not None
        writable = self.kind_type.writable
        if self.role == "list":
            return ("GET", "POST") if writable else ("GET",)
        return ("GET", "PUT", "DELETE") if writable else ("GET", "DELETE")


# --- pydantic JSON Schema -> OpenAPI 3.0 ---------------------------------------------------------


def _to_oas30(node: Any, rename: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_to_oas30(item, rename) for item in node]
    if not isinstance(node, dict):
        return node
    # Pydantic's titles ("Shelltype") only repeat the names.
    node = {key: _to_oas30(value, rename) for key, value in node.items() if key != "title"}
    if "$ref" in node:
        node["$ref"] = _component_ref(rename[node["$ref"].rsplit("/", 1)[1]])
    if "const" in node:
        node["enum"] = [node.pop("const")]
    alternatives = node.get("anyOf")
    if alternatives and {"type": "null"} in alternatives:
        others = [alt for alt in alternatives if alt != {"type": "null"}]
        del node["anyOf"]
        if len(others) == 1 and "$ref" in others[0]:
            node["allOf"] = others  # 3.0 ignores keys next to a $ref
        elif len(others) == 1:
            node = {**others[0], **node}
        else:
            node["anyOf"] = others
        node["nullable"] = True
    if "properties" in node and "additionalProperties" not in node:
        # SpecModel ignores unknown keys: they are accepted (and dropped), never refused.
        node["additionalProperties"] = True
    return node


def _component_ref(name: str) -> str:
    return f"#/components/schemas/{name}"


class KindComponents:
    """Registers the components of one kind's documents in the generator's registry."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def _register(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        if component in self.registry:
            if self.registry[component].schema != schema:
                # Two spec models of one class name (in two kinds) describe different things.
                warn(f"two different schemas for the Kind component {name}; rename one model")
        else:
            self.registry.register(component)
        return {"$ref": _component_ref(name)}

    def model(self, model: type[BaseModel], request: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """(top-level schema, {def name: converted schema}) of a pydantic model."""
        suffix = "Request" if request else ""
        raw = model.model_json_schema(mode="validation" if request else "serialization")
        defs = raw.pop("$defs", {})
        rename = {name: f"{PREFIX}{name}{suffix}" for name in defs}
        return _to_oas30(raw, rename), {rename[name]: _to_oas30(d, rename) for name, d in defs.items()}

    def document(self, kind_type: KindType, request: bool) -> dict[str, str]:
        """The ``$ref`` of a kind's document as sent (``request``) or as answered."""
        assert kind_type.schema is not None
        top, defs = self.model(kind_type.schema, request)
        metadata = defs.get(f"{PREFIX}Metadata{'Request' if request else ''}")
        assert metadata is not None
        top["properties"]["kind"] = {"type": "string", "enum": [kind_type.kind]}
        if request:
            top["properties"]["kind"]["description"] = "May be left out; must name this kind if given."
            top["properties"]["apiVersion"] = {"type": "string", "description": f"Answered as {API_VERSION}."}
            top["description"] = (
                f"A {kind_type.kind} document. The URL decides metadata.namespace (and metadata.name "
                "on PUT); metadata.resourceVersion, when given on PUT, must be the current one (else 409)."
            )
            metadata["properties"]["name"].update(pattern=NAME_PATTERN.pattern, description=NAME_RULE)
            metadata["properties"]["resourceVersion"] = {"type": "string"}
        else:
            top["properties"]["apiVersion"] = {"type": "string", "enum": [API_VERSION]}
            top["required"] = ["apiVersion", "kind", "metadata", "spec"]
            if not kind_type.schema.HAS_STATUS:
                top["properties"].pop("status", None)
            metadata["properties"]["resourceVersion"] = {"type": "string"}
            metadata["required"] = ["name", "namespace", "resourceVersion"]
        for name, schema in defs.items():
            self._register(name, schema)
        return self._register(f"{PREFIX}{kind_type.kind}{'Request' if request else ''}", top)

    def listing(self, kind_type: KindType) -> dict[str, str]:
        item = self.document(kind_type, request=False)
        return self._register(
            f"{PREFIX}{kind_type.kind}List",
            {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string", "enum": [API_VERSION]},
                    "kind": {"type": "string", "enum": [f"{kind_type.kind}List"]},
                    "items": {"type": "array", "items": item},
                },
                "required": ["apiVersion", "kind", "items"],
            },
        )

    def deleted(self) -> dict[str, str]:
        return self._register(
            f"{PREFIX}Deleted",
            {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
        )

    def batch_items(self, writable_kinds: list[str]) -> dict[str, Any]:
        metadata = self._register(
            f"{PREFIX}BatchItemMetadataRequest",
            {
                "type": "object",
                "properties": {"name": {"type": "string", "minLength": 1}},
                "required": ["name"],
                "additionalProperties": True,
            },
        )
        item = self._register(
            f"{PREFIX}BatchItemRequest",
            {
                "type": "object",
                "description": "A document of its kind (see that kind's create body). The URL decides "
                "the namespace. An item that is not valid fails alone, reported in the results.",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string", "enum": writable_kinds},
                    "metadata": metadata,
                    "spec": {"type": "object", "additionalProperties": True},
                },
                "required": ["kind", "metadata"],
                "additionalProperties": True,
            },
        )
        return {"type": "array", "items": item, "minItems": 1}

    def batch_result(self) -> dict[str, str]:
        result = self._register(
            f"{PREFIX}BatchItemResult",
            {
                "type": "object",
                "properties": {
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                    "namespace": {"type": "string"},
                    "operation": {"type": "string", "enum": list(BATCH_OPERATIONS)},
                    "success": {"type": "boolean"},
                    "error": {"type": "string"},
                },
                "required": ["kind", "name", "namespace", "operation", "success"],
            },
        )
        return self._register(
            f"{PREFIX}BatchResult",
            {
                "type": "object",
                "properties": {
                    "success": {"type": "boolean", "description": "Whether every item succeeded."},
                    "message": {"type": "string"},
                    "results": {"type": "array", "items": result},
                    "dryRun": {"type": "boolean"},
                },
                "required": ["success", "message", "results"],
            },
        )

    def error(self) -> dict[str, str]:
        return self._register(
            f"{PREFIX}Error",
            {
                "type": "object",
                "properties": {
                    "detail": {
                        "description": "A message; an object for the few errors the reference "
                        "answers with one (a Skill still referenced)."
                    },
                    "referrers": {
                        "type": "array",
                        "description": "On a 409 for a resource still referenced: who refers to it.",
                        "items": {"type": "object", "additionalProperties": True},
                    },
                },
                "required": ["detail"],
            },
        )

    def validation_error(self) -> dict[str, str]:
        return self._register(
            f"{PREFIX}ValidationError",
            {
                "type": "object",
                "properties": {
                    "error_code": {"type": "integer", "enum": [422]},
                    "detail": {"type": "string"},
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "loc": {
                                    "type": "array",
                                    "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                                },
                                "msg": {"type": "string"},
                                "type": {"type": "string"},
                            },
                            "required": ["loc", "msg", "type"],
                        },
                    },
                },
                "required": ["error_code", "detail", "errors"],
            },
        )


# --- the operations ---------------------------------------------------------------------------

_ERROR_TEXTS = {
    "400": "Invalid document, body missing, kind mismatch, or the path names no kind",
    "404": "Not found, or no permission in this namespace (never 403), or a reference missing",
    "409": "Already exists, stale resourceVersion, or still referenced",
    "422": "The body is not a JSON object (a list for batch routes), or a bad query parameter",
}
# The error statuses each (route role, method) answers with. A list GET answers 404 only when
# its namespace ends in a kind plural and the parser reads the path as an item; an item GET
# answers 400 for a name holding an encoded '/' (the path then names no kind).
_ERRORS = {
    ("list", "GET"): ("404",),
    ("list", "POST"): ("400", "404", "409", "422"),
    ("item", "GET"): ("400", "404"),
    ("item", "PUT"): ("400", "404", "409", "422"),
    ("item", "DELETE"): ("400", "404", "409"),
    ("batch", "POST"): ("400", "422"),
}
NAMESPACE = OpenApiParameter(
    "namespace",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="`default` (the caller's own) or a group's name; a nested group's name contains '/'",
)
NAME = OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="metadata.name")
DRY_RUN = OpenApiParameter(
    "dryRun",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    required=False,
    description="Run every item, answer as usual, then roll everything back",
)


class KindRouteSchema(AutoSchema):
    """Describes a ``KindRoute``: its kind's bodies, its status codes, only its own methods."""

    @property
    def route(self) -> KindRoute:
        route = self.view.route
        assert route is not None, "is_excluded() leaves out the routeless pattern"
        return route

    def is_excluded(self) -> bool:
        # The routeless last pattern (``route`` None) only gives the parser's other answers.
        return self.view.route is None or self.method not in self.route.methods

    def get_operation_id(self) -> str:
        route = self.route
        if route.role == "batch":
            return f"kinds_batch_{route.action}"
        assert route.kind_type is not None
        verb = {"GET": "list" if route.role == "list" else "retrieve", "POST": "create"}
        verb |= {"PUT": "update", "DELETE": "destroy"}
        return f"kinds_{route.kind_type.plural}_{verb[self.method]}"

    def get_tags(self) -> list[str]:
        return TAGS

    def get_summary(self) -> str | None:
        route = self.route
        if route.role == "batch":
            return f"Batch {route.action}: each item on its own, in dependency order"
        assert route.kind_type is not None
        kind = route.kind_type.kind
        summaries = {
            ("list", "GET"): f"List the {kind} resources of a namespace",
            ("list", "POST"): f"Create a {kind}",
            ("item", "GET"): f"Get a {kind}",
            ("item", "PUT"): f"Replace a {kind}'s document",
            ("item", "DELETE"): f"Delete a {kind}",
        }
        return summaries[(route.role, self.method)]

    def get_override_parameters(self) -> list[Any]:
        route = self.route
        if route.role == "batch":
            return [NAMESPACE, DRY_RUN]
        return [NAMESPACE, NAME] if route.role == "item" else [NAMESPACE]

    def get_request_serializer(self) -> Any:
        return OpenApiTypes.OBJECT  # replaced in get_operation

    def get_response_serializers(self) -> Any:
        return OpenApiTypes.OBJECT  # replaced in get_operation

    def get_operation(self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any) -> Any:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        components = KindComponents(registry)
        request, answers = self._bodies(components)
        operation.pop("requestBody", None)
        if request is not None:
            content = {media: {"schema": request} for media in JSON_AND_YAML}
            operation["requestBody"] = {"content": content, "required": True}
        error, invalid = components.error(), components.validation_error()
        responses = {status: (text, body) for status, (text, body) in answers.items()}
        for status in _ERRORS[(self.route.role, self.method)]:
            responses[status] = (_ERROR_TEXTS[status], invalid if status == "422" else error)
        operation["responses"] = {
            status: {"description": text, "content": {"application/json": {"schema": body}}}
            for status, (text, body) in responses.items()
        }
        return operation

    def _bodies(self, c: KindComponents) -> tuple[Schema | None, dict[str, tuple[str, Schema]]]:
        """(request body schema or None, {success status: (description, schema)})."""
        route, method = self.route, self.method
        if route.role == "batch":
            writable = [t.kind for t in kind_registry.all_types() if t.writable]
            return c.batch_items(writable), {"200": ("Per-item results", c.batch_result())}
        kind_type = route.kind_type
        assert kind_type is not None
        if route.role == "list" and method == "GET":
            return None, {"200": ("Every resource of the kind in the namespace", c.listing(kind_type))}
        if method == "DELETE":
            return None, {"200": ("Deleted", c.deleted())}
        document = c.document(kind_type, request=False)
        if method == "GET":
            return None, {"200": ("The document", document)}
        if method == "POST":
            return c.document(kind_type, request=True), {"201": ("Created", document)}
        return c.document(kind_type, request=True), {"200": ("Replaced", document)}
