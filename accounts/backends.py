"""Session login for the Django admin, by user name and password (the API's login rule)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.exceptions import InvalidCredentials, TooManyLoginAttempts, UserNotActivated
from accounts.models import User
from accounts.services import auth
from wegent.api.throttling import client_address


class UserNameBackend(BaseBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        address = client_address(request) if request is not None else "unknown"
        try:
            # The same limits as the API's password logins: a console is no side door.
            return auth.login(user_name=username, password=password, address=address)
        except (InvalidCredentials, UserNotActivated):
            return None
        except TooManyLoginAttempts as exc:
            # Stops Django trying any other backend; the form says the login failed.
            raise PermissionDenied(exc.detail) from exc

    def get_user(self, user_id: int) -> User | None:
        return User.objects.filter(pk=user_id, is_active=True).first()
