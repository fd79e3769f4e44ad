"""OpenAPI description of our authentication (JWT or ``wg-`` key as bearer, or X-API-Key)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class WegentAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "wegent.api.authentication.WegentAuthentication"
    name = ["bearerAuth", "apiKeyHeader"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or wg- API key"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]


def integers_are_int64(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Every integer without a format is ``int64``: what the databases hold (``MAX_DB_INTEGER``)
    and what the API accepts (``wegent.api.validation``, ``PathIntegerRangeMiddleware``).

    Said in the schema, a client (and a fuzzer: scripts/fuzz.py) knows the range, and values
    just past it are tried against every integer in paths, queries and bodies.
    """

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if (kind == "integer" or (isinstance(kind, list) and "integer" in kind)) and "format" not in node:
                node["format"] = "int64"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
