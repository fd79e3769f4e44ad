"""The one exception handler: every error body of the API is shaped here (DESIGN.md section 7)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from wegent.context import request_id_var
from wegent.errors import DomainError, InvalidInput, TooManyRequests

logger = logging.getLogger("wegent.api")

VALIDATION_DETAIL = "Request parameter validation failed"


class QueryValidationError(drf.ValidationError):
    """A ValidationError about query parameters (``loc`` starts with ``query``)."""

    location = "query"


def flatten_errors(detail: Any, loc: list[Any]) -> Iterator[dict[str, Any]]:
    """Turns DRF's nested error detail into FastAPI-style ``{loc, msg, type}`` items."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            sub = loc if key in ("non_field_errors", "__all__") else [*loc, key]
            yield from flatten_errors(value, sub)
    elif isinstance(detail, list):
        if all(isinstance(item, (str, drf.ErrorDetail)) for item in detail):
            for item in detail:
                yield _error_item(item, loc)
        else:
            for index, item in enumerate(detail):
                if item:
                    yield from flatten_errors(item, [*loc, index])
    else:
        yield _error_item(detail, loc)


def _error_item(message: Any, loc: list[Any]) -> dict[str, Any]:
    code = getattr(message, "code", None) or "value_error"
    return {"loc": loc, "msg": str(message), "type": _TYPE_NAMES.get(code, code)}


_TYPE_NAMES = {"required": "missing", "null": "missing", "invalid": "value_error"}


def validation_response(errors: list[dict[str, Any]], detail: str | None = None) -> Response:
    return Response({"error_code": 422, "detail": detail or VALIDATION_DETAIL, "errors": errors}, status=422)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, InvalidInput):
        return validation_response(exc.errors, exc.detail if exc.detail != VALIDATION_DETAIL else None)
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        return Response({"detail": exc.detail, **exc.extra}, status=exc.status_code, headers=headers)
    if isinstance(exc, drf.ValidationError):
        location = getattr(exc, "location", "body")
        return validation_response(list(flatten_errors(exc.detail, [location])))
    if isinstance(exc, drf.ParseError):
        return validation_response([{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}])
    if isinstance(exc, drf.NotAuthenticated):
        return Response({"detail": "Not authenticated"}, status=401, headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, drf.AuthenticationFailed):
        return Response({"detail": exc.detail}, status=401, headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, Http404):
        return Response({"detail": "Not Found"}, status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response({"detail": "Permission denied"}, status=403)
    if isinstance(exc, drf.APIException):
        headers = {}
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait))
        detail = exc.detail if isinstance(exc.detail, (str, dict)) else str(exc.detail)
        return Response({"detail": detail}, status=exc.status_code, headers=headers)
    logger.exception("Unhandled error (request %s)", request_id_var.get())
    return Response({"error_code": 500, "detail": "Internal server error"}, status=500)
