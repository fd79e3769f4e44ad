"""Checking bodies against the served OpenAPI document (3.0, so ``nullable`` is rewritten)."""

from __future__ import annotations

from typing import Any

from django.test import Client
from jsonschema import Draft202012Validator


def served_schema() -> dict[str, Any]:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema's ``null`` alternative."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _as_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def errors_against(schema: dict[str, Any], ref: dict[str, Any], body: Any) -> list[str]:
    """Messages of every way ``body`` breaks the schema ``ref`` points at (empty when it fits)."""
    root = {**_as_json_schema(ref), "components": _as_json_schema(schema["components"])}
    validator = Draft202012Validator(root)
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(body)]


def body_schema(schema: dict[str, Any], path: str, method: str, status: str | None = None) -> dict[str, Any]:
    """The JSON schema of a route's request body (``status`` None) or of one response."""
    operation = schema["paths"][path][method]
    holder = operation["requestBody"] if status is None else operation["responses"][status]
    return holder["content"]["application/json"]["schema"]
