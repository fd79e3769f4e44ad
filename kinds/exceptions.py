"""Errors of the Kind API, with the reference's status codes and texts."""

from __future__ import annotations

from wegent.errors import BadRequest, Conflict, NotFound


class InvalidResourceType(BadRequest):
    pass


class BodyRequired(BadRequest):
    default_detail = "Request body is required"


class InvalidResource(BadRequest):
    """``Invalid <Kind> resource: <validation text>``."""


class KindNotFound(NotFound):
    pass


class NamespaceDenied(NotFound):
    """Permission failures in group namespaces answer 404, never 403 (as the reference)."""


class AlreadyExists(Conflict):
    pass


class StaleResourceVersion(Conflict):
    pass


class StillReferenced(Conflict):
    pass


class ReadOnlyKind(BadRequest):
    pass


class DeactivatedResource(BadRequest):
    """A newly chosen reference to a public resource an admin has deactivated."""
