from __future__ import annotations

from typing import ClassVar

from kinds.specs.base import Resource, SpecModel, Status


class DeviceSpec(SpecModel):
    deviceId: str
    displayName: str | None = None
    isDefault: bool = False
    capabilities: list[str] | None = None


class DeviceStatus(Status):
    online: bool = False
    deviceStatus: str = "offline"
    lastHeartbeat: str | None = None


class Device(Resource):
    KIND: ClassVar[str] = "Device"
    spec: DeviceSpec
    status: DeviceStatus | None = None
