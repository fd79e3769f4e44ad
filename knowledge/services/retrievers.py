"""Retriever kinds addressed by name (reference extras §1.3 ``/api/retrievers``): list by scope,
read, create, update, delete through the Kind services (so validation, secrets at rest, group
roles and the referrer check are the Kind API's), and a connection test that dials the store
through the outbound guard.

Retrievers stay the reference's external stores (Elasticsearch, Qdrant): a knowledge base that
names one keeps its vectors there (``knowledge.external``, ``knowledge.services.vector_store``);
its chunks and keyword index stay in the database as for every knowledge base.
"""

from __future__ import annotations

from typing import Any

import httpx2
from asgiref.sync import async_to_sync

from accounts import selectors as account_selectors
from accounts.models import User
from accounts.roles import GroupRole
from kinds import registry
from kinds import selectors as kind_selectors
from kinds import services as kind_services
from kinds.models import DEFAULT_NAMESPACE, Kind
from knowledge.exceptions import KnowledgeBadRequest
from wegent.errors import NotFound
from wegent.outbound import OutboundRefused, acheck_url, guarded_http_client

KIND = "Retriever"
METHODS = {"elasticsearch": ["vector", "keyword", "hybrid"], "qdrant": ["vector"]}
# What answers "is it up" for each store, and how its credentials are sent.
_PROBE_PATH = {"elasticsearch": "/", "qdrant": "/collections"}


def _kind_type() -> Any:
    kind_type = registry.by_kind(KIND)
    assert kind_type is not None
    return kind_type


def _item(row: Kind, kind: str) -> dict[str, Any]:
    storage = row.spec.get("storageConfig") if isinstance(row.spec.get("storageConfig"), dict) else {}
    return {
        "name": row.name,
        "type": kind,
        "displayName": row.display_name or row.name,
        "storageType": storage.get("type"),
        "namespace": row.namespace,
    }


def list_retrievers(
    actor: User, scope: str = "personal", group_name: str | None = None
) -> list[dict[str, Any]]:
    """``personal``: own then public; ``group``: one group's then public; ``all``: own, every
    readable group's, public. Sorted user > group > public."""
    items: list[dict[str, Any]] = []
    if scope in ("personal", "all"):
        items += [_item(r, "user") for r in kind_selectors.scoped_rows(actor, KIND, DEFAULT_NAMESPACE)]
    if scope == "group":
        if not group_name or not account_selectors.has_group_role(actor, group_name, GroupRole.REPORTER):
            raise NotFound(f"Group '{group_name}' not found")
        items += [_item(r, "group") for r in kind_selectors.scoped_rows(actor, KIND, group_name)]
    if scope == "all":
        group_rows = kind_selectors.visible_rows(actor, KIND, own=False, public=False).order_by(
            "namespace", "id"
        )
        items += [_item(r, "group") for r in group_rows]
    public = kind_selectors.offered(kind_selectors.scoped_rows(None, KIND, DEFAULT_NAMESPACE))
    items += [_item(r, "public") for r in public]
    return items


def get(actor: User, name: str, namespace: str) -> dict[str, Any]:
    row = kind_selectors.resolve(actor, KIND, name, namespace)
    if row is None:
        raise NotFound(f"Retriever '{name}' not found")
    return kind_selectors.render(row)


def _namespace_of(body: Any) -> str:
    metadata = body.get("metadata") if isinstance(body, dict) else None
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE


def create(actor: User, body: Any) -> dict[str, Any]:
    row = kind_services.create_resource(
        actor=actor, kind_type=_kind_type(), namespace=_namespace_of(body), body=body
    )
    return kind_selectors.render(row)


def update(actor: User, name: str, body: Any) -> dict[str, Any]:
    row, _ = kind_services.update_resource(
        actor=actor, kind_type=_kind_type(), namespace=_namespace_of(body), name=name, body=body
    )
    return kind_selectors.render(row)


def delete(actor: User, name: str, namespace: str) -> None:
    kind_services.delete_resource(actor=actor, kind_type=_kind_type(), namespace=namespace, name=name)


def retrieval_methods(storage_type: str) -> list[str]:
    if storage_type not in METHODS:
        raise KnowledgeBadRequest(
            f"Unsupported storage type: {storage_type}. Supported types: {', '.join(METHODS)}"
        )
    return METHODS[storage_type]


async def _probe(storage_type: str, url: str, headers: dict[str, str], auth: Any) -> int:
    target = url.rstrip("/") + _PROBE_PATH[storage_type]
    await acheck_url(target)
    client = guarded_http_client(timeout=httpx2.Timeout(10.0), auth=auth)
    try:
        response = await client.get(target, headers=headers)
    finally:
        await client.aclose()
    return response.status_code


def test_connection(
    storage_type: str, url: str, username: str | None, password: str | None, api_key: str | None
) -> dict[str, Any]:
    """``{success, message}``; never raises for an unreachable or refusing store."""
    if storage_type not in METHODS:
        return {"success": False, "message": f"Unsupported storage type: {storage_type}"}
    headers: dict[str, str] = {}
    if api_key:
        headers = {"api-key": api_key} if storage_type == "qdrant" else {"Authorization": f"ApiKey {api_key}"}
    auth = httpx2.BasicAuth(username, password or "") if username else None
    try:
        status = async_to_sync(_probe)(storage_type, url, headers, auth)
    except OutboundRefused as exc:
        return {"success": False, "message": f"Connection failed: {exc.detail}"}
    except Exception as exc:  # noqa: BLE001 - unreachable, malformed URL, TLS: a failed test, not a 500
        return {"success": False, "message": f"Connection failed: {exc or type(exc).__name__}"}
    if status >= 400:
        return {"success": False, "message": f"Failed to connect to {storage_type}: HTTP {status}"}
    return {"success": True, "message": f"Successfully connected to {storage_type}"}
