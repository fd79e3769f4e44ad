"""Devices as their owner and the device itself change them: connecting, registering (upsert of
the Device Kind row), heartbeats and status reports (the online entry), the default device,
and deleting one (reference realtime §1.3, §4.1-§4.3; rest §6.15).
"""

from __future__ import annotations

from typing import Any

import jwt
from django.db import transaction

from accounts.models import User
from accounts.roles import KeyType
from accounts.services import api_keys
from accounts.services import auth as auth_service
from audit import services as audit
from audit.models import AuditEntry
from devices import presence, protocol, selectors
from devices.exceptions import DeviceNotFound, NotRegistered
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.specs import API_VERSION
from wegent.errors import DomainError


def authenticate(token: Any) -> tuple[User, str, float | None]:
    """The user of a connect's token: a personal ``wg-`` API key or a JWT; with the way they
    authenticated and the token's expiry. Raises ``DomainError`` with the refusal text."""
    if not isinstance(token, str) or not token.strip():
        raise DomainError(protocol.MISSING_TOKEN)
    raw = token.removeprefix("Bearer ").strip()
    if raw.startswith(api_keys.KEY_PREFIX):
        try:
            found = api_keys.authenticate(raw.partition("#")[0])
        except DomainError:
            raise DomainError(protocol.INVALID_API_KEY) from None
        # Service keys act for whoever they name; a device is one user's, so personal keys only.
        if found.api_key.key_type != KeyType.PERSONAL:
            raise DomainError(protocol.INVALID_API_KEY)
        return found.user, "api_key", None
    try:
        user = auth_service.user_from_jwt(raw)
        exp = jwt.decode(raw, options={"verify_signature": False}).get("exp")
    except (DomainError, jwt.PyJWTError):
        raise DomainError(protocol.INVALID_TOKEN) from None
    return user, "jwt", float(exp) if isinstance(exp, int | float) else None


def _document(payload: protocol.DeviceRegister, is_default: bool) -> dict[str, Any]:
    device_id, name = payload.device_id, payload.name
    return {
        "apiVersion": API_VERSION,
        "kind": selectors.DEVICE,
        "metadata": {"name": device_id, "namespace": DEFAULT_NAMESPACE, "displayName": name},
        "spec": {
            "deviceId": device_id,
            "displayName": name,
            "deviceType": payload.device_type,
            "connectionMode": "websocket",
            "isDefault": is_default,
            "capabilities": payload.capabilities,
        },
        "status": {"state": "Available"},
    }


def register(actor: User, payload: protocol.DeviceRegister, socket_id: str, address: str = "") -> Kind:
    """Upserts the device row (re-activating a deleted one; the user's first device becomes the
    default) and marks it online for this connection. A new or changed row is audited."""
    with transaction.atomic():
        # The owner's row serialises registrations: two first devices cannot both be default.
        User.objects.select_for_update().filter(pk=actor.pk).first()
        rows = Kind.objects.filter(kind=selectors.DEVICE, namespace=DEFAULT_NAMESPACE, owner=actor)
        row = rows.filter(name=payload.device_id).order_by("-is_active", "-id").first()
        others_default = any(
            other.spec.get("isDefault")
            for other in rows.filter(is_active=True).exclude(name=payload.device_id)
        )
        keep_default = row is not None and row.is_active and bool(row.spec.get("isDefault"))
        is_default = keep_default or not others_default
        document = _document(payload, is_default)
        written = None
        if row is None:
            row = Kind.objects.create(
                owner=actor,
                kind=selectors.DEVICE,
                namespace=DEFAULT_NAMESPACE,
                name=payload.device_id,
                document=document,
            )
            written = "device.register"
        elif row.document != document or not row.is_active:
            row.document = document
            row.is_active = True
            row.resource_version += 1
            row.save(update_fields=["document", "is_active", "resource_version", "updated_at"])
            written = "device.update"
        if written is not None:
            audit.record(
                via=AuditEntry.SOCKET,
                action=written,
                actor=actor,
                target=audit.Target("Device", row.pk, payload.device_id),
                route="device:register",
                ip_address=address,
            )
    presence.mark_online(
        actor.pk,
        payload.device_id,
        socket_id=socket_id,
        name=payload.name,
        executor_version=payload.executor_version,
    )
    return row


def heartbeat(actor: User, device_id: str, socket_id: str, payload: protocol.DeviceHeartbeat) -> dict:
    """Renews the online entry with the device's running tasks and version; the
    ``device:slot_update`` to send. A lapsed entry is written again (the device is alive)."""
    entry = presence.refresh(
        actor.pk,
        device_id,
        socket_id,
        running_task_ids=payload.running_task_ids,
        executor_version=payload.executor_version,
    )
    if entry is None:
        row = selectors.own_device(actor, device_id)
        if row is None:
            raise NotRegistered()
        presence.mark_online(
            actor.pk,
            device_id,
            socket_id=socket_id,
            name=row.display_name or device_id,
            executor_version=payload.executor_version,
            running_task_ids=payload.running_task_ids,
        )
    return selectors.slot_state(actor.pk, device_id)


def report_status(actor: User, device_id: str, socket_id: str, status: str) -> None:
    if presence.refresh(actor.pk, device_id, socket_id, status=status) is None:
        raise NotRegistered()


def set_default(actor: User, device_id: str) -> Kind:
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=actor.pk).first()
        row = selectors.own_device(actor, device_id)
        if row is None:
            raise DeviceNotFound()
        for other in selectors.for_user(actor):
            wanted = other.pk == row.pk
            if bool(other.spec.get("isDefault")) != wanted:
                other.document = {**other.document, "spec": {**other.spec, "isDefault": wanted}}
                other.resource_version += 1
                other.save(update_fields=["document", "resource_version", "updated_at"])
    return row


def delete(actor: User, device_id: str) -> None:
    """Soft delete, as the reference: the device registers back into the same row."""
    with transaction.atomic():
        row = selectors.own_device(actor, device_id)
        if row is None:
            raise DeviceNotFound()
        row.is_active = False
        row.save(update_fields=["is_active", "updated_at"])
