"""Records every successful write that comes over HTTP.

API writes (unsafe methods answered 2xx/3xx) get one row after the response is made: the
caller (none for logins, webhooks and the executors' service-token callbacks; for a service key
the key's owner acting as the impersonated user), the route pattern, the object the URL names
(or the id a create answered with), the client address and the request id. Admin writes are
mirrored from the ``LogEntry`` rows the admin wrote during the request (Django writes several
at once with ``bulk_create``, which sends no signal), so every admin action is here with its
address too.

Cost: one INSERT per API write, after the view's own transaction; an admin write adds a read of
the newest ``LogEntry`` id before the view runs. Reads (GET/HEAD/OPTIONS) cost nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.admin.models import LogEntry
from django.http import HttpRequest, HttpResponse

from accounts.models import KeyType, User
from audit import context, services
from audit.models import AuditEntry
from wegent.api.throttling import client_address

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_ACTIONS = {"PUT": "update", "PATCH": "update", "DELETE": "delete"}


def _is_admin(request: HttpRequest) -> bool:
    return request.path.startswith("/admin/")


def _origin(request: HttpRequest) -> context.Origin:
    return context.Origin(
        ip_address=client_address(request),
        route=request.path,
        method=request.method or "",
        request_id=str(getattr(request, "request_id", "")),
        admin=_is_admin(request),
    )


def _user(request: HttpRequest) -> User | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, User) else None


def _actors(request: HttpRequest, user: User) -> tuple[User, User | None, dict[str, Any]]:
    """(actor, on_behalf_of, detail): a service key acts as the user it names."""
    api_key = getattr(getattr(request, "auth", None), "api_key", None)
    if api_key is None:
        return user, None, {}
    detail = {"api_key": api_key.name, "api_key_prefix": api_key.key_prefix}
    if api_key.key_type == KeyType.SERVICE:
        return api_key.user, user, detail
    return user, None, detail


def _target(request: HttpRequest, response: HttpResponse) -> services.Target:
    match = request.resolver_match
    if match is None:
        return services.Target()
    object_id: Any = next(iter(match.kwargs.values()), "") if match.kwargs else ""
    if not object_id:
        data = getattr(response, "data", None)  # a DRF create answers with the new object
        if isinstance(data, dict) and isinstance(data.get("id"), (int, str)):
            object_id = data["id"]
    return services.Target(type=match.url_name or "", id=object_id)


def _action(request: HttpRequest) -> str:
    method = request.method or ""
    if method == "POST":
        match = request.resolver_match
        return "post" if match is not None and match.kwargs else "create"
    return _ACTIONS.get(method, method.lower())


def _record_api(request: HttpRequest, response: HttpResponse, origin: context.Origin) -> None:
    if not 200 <= response.status_code < 400:
        return  # a refused or failed write changed nothing
    user = _user(request)
    if user is not None:
        actor, on_behalf_of, detail = _actors(request, user)
    else:  # no user: a login, a webhook delivery, an executor's callback with the service token
        actor, on_behalf_of, detail = None, None, {"auth": "no user"}
    match = request.resolver_match
    services.record(
        via=AuditEntry.API,
        action=_action(request),
        actor=actor,
        on_behalf_of=on_behalf_of,
        target=_target(request, response),
        route=f"/{match.route}" if match is not None else request.path,
        method=origin.method,
        status_code=response.status_code,
        ip_address=origin.ip_address,
        request_id=origin.request_id,
        detail={**detail, "path": request.path},
    )


def _newest_log_entry() -> int:
    return LogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _record_admin(request: HttpRequest, origin: context.Origin, after_id: int) -> None:
    user = _user(request)
    if user is None:
        return
    entries = LogEntry.objects.filter(id__gt=after_id, user_id=user.pk).select_related("content_type")
    for entry in entries.order_by("id"):
        services.record_log_entry(entry, origin)


class AuditMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        if iscoroutinefunction(self):
            return self._acall(request)
        if request.method in SAFE_METHODS:
            return self.get_response(request)
        origin = _origin(request)
        mark = _newest_log_entry() if origin.admin else 0
        token = context.current.set(origin)
        try:
            response = self.get_response(request)
        finally:
            context.current.reset(token)
        self._record(request, response, origin, mark)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if request.method in SAFE_METHODS:
            return await self.get_response(request)
        origin = _origin(request)
        mark = await sync_to_async(_newest_log_entry)() if origin.admin else 0
        token = context.current.set(origin)
        try:
            response = await self.get_response(request)
        finally:
            context.current.reset(token)
        await sync_to_async(self._record)(request, response, origin, mark)
        return response

    @staticmethod
    def _record(request: HttpRequest, response: HttpResponse, origin: context.Origin, mark: int) -> None:
        # The write itself succeeded: a failure to record it is logged, never turned into a 500.
        try:
            if origin.admin:
                _record_admin(request, origin, mark)
            else:
                _record_api(request, response, origin)
        except Exception:
            logger.exception("audit: could not record %s %s", origin.method, request.path)
