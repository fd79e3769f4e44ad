"""HTTP middleware: request ids, the request body size limit and the range of integer path values."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from wegent import metrics
from wegent.api.validation import MAX_DB_INTEGER
from wegent.context import request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _new_request_id() -> str:
    # The reference uses the first 8 hex characters of a uuid4.
    return uuid.uuid4().hex[:8]


class RequestIdMiddleware:
    """Adopts a sane incoming ``X-Request-ID`` or makes one, and echoes it on the response."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _begin(self, request: HttpRequest) -> str:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else _new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        request_id_var.set(request_id)
        return request_id

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        if iscoroutinefunction(self):
            return self._acall(request)
        request_id = self._begin(request)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request_id = self._begin(request)
        response = await self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class MetricsMiddleware:
    """Counts each request by route pattern, method and status (``wegent.metrics``)."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        if iscoroutinefunction(self):
            return self._acall(request)
        response = self.get_response(request)
        metrics.count_request(request, response.status_code)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        metrics.count_request(request, response.status_code)
        return response


# File upload routes take bodies up to their file limit, not the general one; the project
# package cannot import the apps, so the routes are named here. Multipart framing (boundaries,
# part headers, small form fields) adds a little to the file itself.
FILE_UPLOAD_PATHS = frozenset({"/api/attachments/upload"})
MULTIPART_OVERHEAD_BYTES = 1024 * 1024
FILE_TOO_LARGE_DETAIL = "File size exceeds maximum limit"


def upload_body_limit() -> int:
    return settings.MAX_UPLOAD_FILE_SIZE_MB * 1024 * 1024 + MULTIPART_OVERHEAD_BYTES


def body_limit_response(path: str, content_length: str | None) -> JsonResponse | None:
    """The refusal for a declared body size over the path's limit, or None to go on.

    An upload route allows ``MAX_UPLOAD_FILE_SIZE_MB`` plus multipart overhead and refuses more
    with the reference's 400 "File size exceeds maximum limit": the same answer the route gives
    when it measures the file itself, so a client sees one status and one text for one
    condition, whichever check caught it first. Other routes allow ``MAX_REQUEST_BODY_BYTES``
    and answer 413.
    """
    try:
        size = int(content_length or "0")
    except ValueError:
        return JsonResponse({"detail": "Invalid Content-Length header"}, status=400)
    if path in FILE_UPLOAD_PATHS:
        if size > upload_body_limit():
            return JsonResponse({"detail": FILE_TOO_LARGE_DETAIL}, status=400)
    elif size > settings.MAX_REQUEST_BODY_BYTES:
        return JsonResponse(
            {"detail": f"Request body too large (limit {settings.MAX_REQUEST_BODY_BYTES} bytes)"},
            status=413,
        )
    return None


class BodySizeLimitMiddleware:
    """Refuses a body over its route's limit (see ``body_limit_response``) before anything reads it."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = body_limit_response(request.path_info, request.META.get("CONTENT_LENGTH"))
        return refusal if refusal is not None else self.get_response(request)


# Session, auth and messages matter only for the operator console and other pages; the API
# authenticates every request itself (tokens, API keys). These subclasses (the admin's checks
# require these classes) pass /api/ requests straight through, which saves their work on
# every API call.
from django.contrib.auth.middleware import AuthenticationMiddleware  # noqa: E402
from django.contrib.messages.middleware import MessageMiddleware  # noqa: E402
from django.contrib.sessions.middleware import SessionMiddleware  # noqa: E402

API_PREFIX = "/api/"


class _SiteOnly:
    get_response: Callable

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SiteSessionMiddleware(_SiteOnly, SessionMiddleware):
    pass


class SiteAuthenticationMiddleware(_SiteOnly, AuthenticationMiddleware):
    pass


class SiteMessageMiddleware(_SiteOnly, MessageMiddleware):
    pass


class RejectNulMiddleware:
    """400 for a NUL character in the path or query string.

    Databases refuse NUL in text (PostgreSQL errors), so such a value must never reach a query;
    no client has a reason to send one.
    """

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            "\x00" in request.path
            or "%00" in request.META.get("QUERY_STRING", "")
            or any("\x00" in value for values in request.GET.lists() for value in values[1])
        ):
            return JsonResponse(
                {"detail": "Invalid character (NUL) in the request path or query"}, status=400
            )
        return self.get_response(request)


class PathIntegerRangeMiddleware:
    """404 for an integer path value (``<int:...>``) past what a database column holds.

    Every ``<int:...>`` value is a row id or a number compared with one, and no row has an id
    past a signed 64-bit integer; such a value reached the database and failed there (SQLite
    ``OverflowError``, PostgreSQL "bigint out of range") as a 500. Checked here once, for every
    route present and future, with the answer of a path that names nothing.
    """

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict[str, object]
    ) -> HttpResponse | None:
        for value in (*args, *kwargs.values()):
            if type(value) is int and not 0 <= value <= MAX_DB_INTEGER:
                return JsonResponse({"detail": "Not Found"}, status=404)
        return None
