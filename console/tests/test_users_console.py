"""Users and keys in the console: disabling a user stops its JWTs (REST and Socket.IO connect)
and its API keys at once; password reset; key revocation; last use shown; every action logged."""

from __future__ import annotations

import asyncio
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.services import api_keys
from accounts.services.tokens import issue_access_token
from accounts.tests.factories import PASSWORD
from chat.tests.sockets import connect

USERS = "/admin/accounts/user/"
KEYS = "/admin/accounts/apikey/"


def _console(admin_user: User) -> Client:
    client = Client()
    assert client.login(username=admin_user.user_name, password=PASSWORD)
    return client


def _action(client: Client, url: str, action: str, *ids: int, follow: bool = False):  # type: ignore[no-untyped-def]
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in ids]}, follow=follow)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_disabling_a_user_stops_tokens_keys_and_socket_connects(live_server_url, admin_user, user):
    token = issue_access_token(user)
    _, raw_key = api_keys.create_key(owner=user, name="laptop")
    api = APIClient()
    assert api.get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert api.get("/api/users/me", HTTP_X_API_KEY=raw_key).status_code == 200

    async def socket_connects() -> bool:
        try:
            client = await connect(live_server_url, token=token)
        except Exception:  # noqa: BLE001 - python-socketio raises ConnectionError on refusal
            return False
        await client.close()
        return True

    assert asyncio.run(socket_connects())
    _action(_console(admin_user), USERS, "disable_users", user.pk)

    assert api.get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert api.get("/api/users/me", HTTP_X_API_KEY=raw_key).status_code == 401
    # Through the real server (its own request path and the socket handshake).
    import httpx

    assert (
        httpx.get(f"{live_server_url}/api/users/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    assert not asyncio.run(socket_connects())
    entry = LogEntry.objects.get(object_id=str(user.pk))
    assert entry.user_id == admin_user.pk and "Disabled the user" in entry.get_change_message()

    _action(_console(admin_user), USERS, "enable_users", user.pk)
    assert api.get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


@pytest.mark.django_db
def test_an_admin_cannot_disable_themself(admin_user):
    page = _action(_console(admin_user), USERS, "disable_users", admin_user.pk, follow=True).content.decode()
    assert "Cannot deactivate your own account" in page
    assert User.objects.get(pk=admin_user.pk).is_active and not LogEntry.objects.exists()


@pytest.mark.django_db
def test_reset_password_shows_a_temporary_one_once(admin_user, user):
    page = _action(_console(admin_user), USERS, "reset_passwords", user.pk, follow=True).content.decode()
    found = re.search(r"(?i)alice: temporary password ([A-Za-z0-9_-]+)", page)
    assert found, page[page.find("messagelist") - 100 : page.find("messagelist") + 600]
    temporary = found.group(1)
    api = APIClient()
    refused = api.post("/api/auth/login", {"user_name": "alice", "password": PASSWORD}, format="json")
    assert refused.status_code == 400 and "password" in refused.json()["detail"].lower()
    assert (
        api.post("/api/auth/login", {"user_name": "alice", "password": temporary}, format="json").status_code
        == 200
    )
    entry = LogEntry.objects.get(object_id=str(user.pk))
    assert entry.get_change_message() == "Reset the password" and temporary not in entry.change_message


@pytest.mark.django_db
def test_revoke_keys_and_see_their_last_use(admin_user, user, other_user):
    key, raw = api_keys.create_key(owner=user, name="laptop")
    other_key, other_raw = api_keys.create_key(owner=other_user, name="ci")
    api = APIClient()
    assert api.get("/api/users/me", HTTP_X_API_KEY=raw).status_code == 200
    console = _console(admin_user)
    # The last use is on the key list and on the user's page.
    used = api_keys.with_recent_use([ApiKey.objects.get(pk=key.pk)])[0].last_used_at
    assert console.get(KEYS).status_code == 200
    assert "laptop (" in console.get(f"{USERS}{user.pk}/change/").content.decode()
    assert used >= key.created_at

    _action(console, KEYS, "revoke_keys", key.pk)
    assert api.get("/api/users/me", HTTP_X_API_KEY=raw).status_code == 401
    assert api.get("/api/users/me", HTTP_X_API_KEY=other_raw).status_code == 200
    assert LogEntry.objects.get(object_id=str(key.pk)).get_change_message() == "Revoked the key"

    _action(console, USERS, "revoke_user_keys", other_user.pk)
    assert api.get("/api/users/me", HTTP_X_API_KEY=other_raw).status_code == 401
    assert not ApiKey.objects.get(pk=other_key.pk).is_active


@pytest.mark.django_db
def test_user_actions_need_the_change_permission(make_user, user):
    from django.contrib.auth.models import Permission

    staff = make_user("viewer", role="admin", console_restricted=True)
    staff.console_permissions.add(Permission.objects.get(codename="view_user"))
    client = _console(staff)
    listing = client.get(USERS).content.decode()
    assert "disable_users" not in listing
    _action(client, USERS, "disable_users", user.pk)
    assert User.objects.get(pk=user.pk).is_active and not LogEntry.objects.exists()
    # Non-staff: no console at all.
    plain = _console(user)
    assert plain.get(USERS).status_code == 302


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_disabling_a_user_ends_their_open_sockets(live_server_url, admin_user, user, other_user):
    """A socket connected before the user was disabled is disconnected by the server (the
    client hears the server's DISCONNECT), and its events are no longer handled; another user's
    socket stays."""

    my_token, their_token = issue_access_token(user), issue_access_token(other_user)
    console = _console(admin_user)

    async def scenario() -> tuple[list[str], bool, bool]:
        mine = await connect(live_server_url, token=my_token)
        theirs = await connect(live_server_url, token=their_token)
        reasons: list[str] = []
        gone = asyncio.Event()

        def on_disconnect(reason: str = "") -> None:
            reasons.append(reason)
            gone.set()

        mine.client.on("disconnect", on_disconnect, namespace="/chat")
        await asyncio.to_thread(_action, console, USERS, "disable_users", user.pk)
        await asyncio.wait_for(gone.wait(), 10)
        still_mine = "/chat" in mine.client.namespaces
        # The other user's socket still answers.
        reply = await theirs.call("task:join", {"task_id": 999999})
        await theirs.close()
        return reasons, still_mine, isinstance(reply, dict)

    reasons, still_mine, other_answered = asyncio.run(scenario())
    assert reasons == ["server disconnect"] and not still_mine  # python-socketio: the server said so
    assert other_answered
