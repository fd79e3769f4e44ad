"""Devices for any app's tests (plain functions; fixtures in conftest.py)."""

from __future__ import annotations

from accounts.models import User
from devices import presence, protocol
from devices.services import registry
from kinds.models import Kind


def make_device(
    actor: User, device_id: str = "hw-0123456789ab", name: str = "Linux - box", *, online: bool = True
) -> Kind:
    """Registers a device as ``device:register`` does; ``online=False`` lets its entry go."""
    payload = protocol.DeviceRegister(device_id=device_id, name=name, executor_version="0.9.1")
    row = registry.register(actor, payload, socket_id=f"test-{device_id}")
    if not online:
        presence.mark_offline(actor.pk, device_id, f"test-{device_id}")
    return row
