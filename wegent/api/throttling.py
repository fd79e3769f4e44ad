"""Login throttles: one bucket per user name and one per client address."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView


class LoginUserThrottle(SimpleRateThrottle):
    scope = "login_user"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        data = request.data if hasattr(request, "data") else {}
        name = ""
        if isinstance(data, dict) or hasattr(data, "get"):
            name = str(data.get("user_name") or data.get("username") or "")
        if not name:
            return None
        return self.cache_format % {"scope": self.scope, "ident": name.strip().lower()[:100]}


class LoginIpThrottle(SimpleRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
