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
