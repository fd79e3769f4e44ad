"""Permission classes shared by every app's views."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.exceptions import AdminRequired


class IsSystemAdmin(BasePermission):
    """Authenticated users with ``role == "admin"``; others get the reference's 403."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        if not user.is_admin:
            raise AdminRequired()
        return True
