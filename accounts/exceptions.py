"""Errors of the accounts app, carrying the reference's status codes and messages."""

from __future__ import annotations

from wegent.errors import BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized


class InvalidCredentials(BadRequest):
    default_detail = "Invalid username or password"


class TooManyLoginAttempts(TooManyRequests):
    def __init__(self, *, retry_after: int) -> None:
        # Worded like DRF's throttle answers, which the other throttled routes give.
        super().__init__(
            f"Too many failed login attempts. Expected available in {retry_after} seconds.",
            retry_after=retry_after,
        )


class UserNotActivated(BadRequest):
    default_detail = "User not activated"


class InvalidToken(Unauthorized):
    default_detail = "Could not validate credentials"


class ApiKeyRequired(Unauthorized):
    default_detail = "API key is required"


class InvalidApiKey(Unauthorized):
    default_detail = "Invalid API key"


class AdminRequired(Forbidden):
    default_detail = "Permission denied. Admin access required."


class UserNotFound(NotFound):
    default_detail = "User not found"


class ApiKeyNotFound(NotFound):
    default_detail = "API key not found"


class NotGroupMember(Forbidden):
    default_detail = "You are not a member of this group"


class GroupNotFound(NotFound):
    default_detail = "Group not found"
