"""Errors of the devices app, with the reference's texts."""

from __future__ import annotations

from devices import protocol
from wegent.errors import BadRequest, NotFound, Unauthorized


class DeviceNotFound(NotFound):
    default_detail = "Device not found"


class NotRegistered(BadRequest):
    default_detail = protocol.NOT_REGISTERED


class DeviceOffline(BadRequest):
    default_detail = "Selected device is offline"


class ExecutorTokenRequired(Unauthorized):
    default_detail = "A valid executor service token is required"
