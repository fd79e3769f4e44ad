"""The client's address, and the per-address throttle of the public OIDC look-ups.

Password logins are not throttled here: ``accounts.services.login_guard`` counts their
failures (a right password is never counted).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView


def client_address(request: HttpRequest | Request) -> str:
    """The client's address: the connection's, or the entry ``NUM_PROXIES`` trusted proxies added.

    Without trusted proxies X-Forwarded-For is the client's own word and is ignored, so it
    cannot buy a fresh address per request. (The server itself already takes the address from a
    proxy on 127.0.0.1: uvicorn's ``FORWARDED_ALLOW_IPS``.)
    """
    meta = request.META
    remote = str(meta.get("REMOTE_ADDR") or "")
    proxies = settings.NUM_PROXIES
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in str(forwarded).split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))][:64]
    return remote[:64] or "unknown"


class LoginIpThrottle(SimpleRateThrottle):
    """``WEGENT_LOGIN_RATE_IP`` requests per client address (they tell whether a name exists)."""

    scope = "login_ip"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}
