"""Domain errors raised by services. No DRF or Channels imports here.

Each carries the HTTP status the API answers with and the ``detail`` clients read (a string,
or an object for the few reference errors that return one). Apps subclass these in their own
``exceptions.py``; the one exception handler in ``wegent.api.exceptions`` renders them, and the
realtime layer turns them into ``{"error": detail}`` acks.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    default_detail: Any = "Bad request"

    def __init__(self, detail: Any = None, *, extra: dict[str, Any] | None = None) -> None:
        self.detail = self.default_detail if detail is None else detail
        # Fields rendered next to ``detail`` (e.g. the referrers that block a delete).
        self.extra = extra or {}
        super().__init__(detail if isinstance(detail, str) else str(self.detail))


class BadRequest(DomainError):
    status_code = 400


class Unauthorized(DomainError):
    status_code = 401
    default_detail = "Could not validate credentials"


class Forbidden(DomainError):
    status_code = 403
    default_detail = "Permission denied"


class NotFound(DomainError):
    status_code = 404
    default_detail = "Not found"


class Conflict(DomainError):
    status_code = 409
    default_detail = "Conflict"


class PayloadTooLarge(DomainError):
    status_code = 413
    default_detail = "Payload too large"


class TooManyRequests(DomainError):
    """Refused for now; the API answers 429 with a ``Retry-After`` header of ``retry_after``."""

    status_code = 429
    default_detail = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class InvalidInput(DomainError):
    """Input that fails validation inside a service: answered as 422 with field errors."""

    status_code = 422
    default_detail = "Request parameter validation failed"

    def __init__(self, errors: list[dict[str, Any]], detail: str | None = None) -> None:
        self.errors = errors
        super().__init__(detail)
