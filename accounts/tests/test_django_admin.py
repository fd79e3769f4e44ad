"""The operator console (/admin/): access, pages, secrets never shown, user creation, guards."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import hooks
from accounts.models import ApiKey, Group, GroupMember, SystemConfig, User
from accounts.roles import GroupRole, KeyType, SystemRole
from accounts.services import api_keys
from accounts.tests.factories import PASSWORD
from wegent import crypto

pytestmark = pytest.mark.django_db

GIT_TOKEN = "ghp_ClearTextTokenThatMustNeverShow9876"


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    assert client.login(username=admin_user.user_name, password=PASSWORD)
    return client


def _admin_url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:accounts_{model._meta.model_name}_{view}", args=args)


def test_login_form_lets_an_admin_in(admin_user):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"Operator console" in index.content


def test_wrong_password_stays_on_login(admin_user):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "wrong-pass"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("who", ["anonymous", "user", "inactive admin"])
def test_others_are_sent_to_login(make_user, who):
    client = Client()
    if who == "user":
        make_user("plain")
        assert client.login(username="plain", password=PASSWORD)
    elif who == "inactive admin":
        make_user("retired", role=SystemRole.ADMIN, is_active=False)
        assert not client.login(username="retired", password=PASSWORD)
    for url in ("/admin/", _admin_url(User, "changelist")):
        response = client.get(url)
        assert response.status_code == 302, (who, url)
        assert response["Location"].startswith("/admin/login/")
    # A non-admin posting the login form is refused too.
    if who == "user":
        refused = Client().post("/admin/login/?next=/admin/", {"username": "plain", "password": PASSWORD})
        assert refused.status_code == 200
        assert Client().get("/admin/").status_code == 302


def test_changelists_and_change_pages_open(console, admin_user, user):
    key, _ = api_keys.create_key(owner=user, name="laptop")
    group = Group.objects.create(name="team", owner=admin_user)
    member = GroupMember.objects.create(group=group, user=user, role=GroupRole.DEVELOPER)
    config = SystemConfig.objects.create(config_key="chat_slogan_tips", config_value={"slogans": []})
    for model, obj in (
        (User, user),
        (ApiKey, key),
        (Group, group),
        (SystemConfig, config),
    ):
        listing = console.get(_admin_url(model, "changelist"))
        assert listing.status_code == 200, model
        change = console.get(_admin_url(model, "change", obj.pk))
        assert change.status_code == 200, model
    # Members and their roles are edited on their group's page (one "Groups").
    page = console.get(_admin_url(Group, "change", group.pk)).content.decode()
    assert f'name="members-0-id" value="{member.pk}"' in page and "Developer" in page
    assert console.get(_admin_url(User, "changelist"), {"q": "ali"}).status_code == 200
    assert console.get(_admin_url(User, "add")).status_code == 200


def test_api_key_page_never_shows_the_hash(console, admin_user, user):
    key, raw = api_keys.create_key(owner=user, name="laptop")
    service, service_raw = api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)
    pages = [
        console.get(_admin_url(ApiKey, "change", key.pk)),
        console.get(_admin_url(ApiKey, "change", service.pk)),
        console.get(_admin_url(ApiKey, "changelist")),
    ]
    for page in pages:
        text = page.content.decode()
        assert page.status_code == 200
        for secret in (key.key_hash, service.key_hash, raw, service_raw):
            assert secret not in text
    assert key.key_prefix in pages[0].content.decode()
    # Keys are created through the API only (the plaintext is shown once there).
    assert console.get(_admin_url(ApiKey, "add")).status_code == 403


def test_api_key_can_be_disabled_in_the_console(console, user):
    key, _ = api_keys.create_key(owner=user, name="laptop")
    hash_before = key.key_hash
    response = console.post(
        _admin_url(ApiKey, "change", key.pk),
        {
            "name": "laptop",
            "description": "",
            "expires_at_0": "2030-01-01",
            "expires_at_1": "00:00:00",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key.refresh_from_db()
    assert key.is_active is False
    assert key.key_hash == hash_before
    assert key.user_id == user.id


def test_user_page_masks_git_tokens(console, user):
    encrypted = crypto.encrypt(GIT_TOKEN)
    user.git_info = [{"git_domain": "github.com", "git_token": encrypted, "type": "github"}]
    user.save()
    text = console.get(_admin_url(User, "change", user.pk)).content.decode()
    assert GIT_TOKEN not in text
    assert encrypted not in text
    assert user.password not in text
    assert crypto.mask(encrypted) in text  # the operator still sees which token it is
    assert "github.com" in text


def _user_form(**fields: object) -> dict[str, object]:
    form: dict[str, object] = {
        "user_name": "",
        "email": "",
        "role": "user",
        "auth_source": "password",
        "is_active": "on",
        "preferences": "{}",
        "new_password": "",
        "_save": "Save",
    }
    form.update(fields)
    return {key: value for key, value in form.items() if value is not None}


def test_create_user_in_the_console_then_login(console):
    created: list[str] = []
    with hooks.on_user_created.registered(lambda u: created.append(u.user_name)):
        response = console.post(
            _admin_url(User, "add"),
            _user_form(user_name="dora", email="dora@example.com", new_password="dora-pass-1"),
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    dora = User.objects.get(user_name="dora")
    assert dora.email == "dora@example.com"
    assert dora.role == SystemRole.USER
    assert created == ["dora"]
    login = APIClient().post(
        "/api/auth/login", {"user_name": "dora", "password": "dora-pass-1"}, format="json"
    )
    assert login.status_code == 200
    assert login.json()["token_type"] == "bearer"


def test_console_user_form_validation(console, user):
    short = console.post(_admin_url(User, "add"), _user_form(user_name="eve", new_password="123"))
    assert short.status_code == 200
    assert not User.objects.filter(user_name="eve").exists()
    taken = console.post(_admin_url(User, "add"), _user_form(user_name="alice", new_password="secret-1"))
    assert taken.status_code == 200
    assert User.objects.filter(user_name="alice").count() == 1


def test_console_password_change_keeps_login_working(console, user):
    response = console.post(
        _admin_url(User, "change", user.pk),
        _user_form(user_name="alice", email="alice@example.com", new_password="changed-pass"),
    )
    assert response.status_code == 302
    client = APIClient()
    assert (
        client.post(
            "/api/auth/login", {"user_name": "alice", "password": "changed-pass"}, format="json"
        ).status_code
        == 200
    )
    # Saving without a new password keeps the current one.
    console.post(_admin_url(User, "change", user.pk), _user_form(user_name="alice", email="a@example.com"))
    user.refresh_from_db()
    assert user.email == "a@example.com"
    assert user.check_password("changed-pass")


def test_console_guards_the_last_admin(console, admin_user, make_user):
    url = _admin_url(User, "change", admin_user.pk)
    demote = console.post(url, _user_form(user_name="root", email="root@example.com", role="user"))
    assert demote.status_code == 200
    assert "Cannot demote yourself when you are the only admin" in demote.content.decode()
    deactivate = console.post(url, _user_form(user_name="root", email="root@example.com", is_active=None))
    assert deactivate.status_code == 200
    assert "Cannot deactivate your own account" in deactivate.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.role == SystemRole.ADMIN and admin_user.is_active

    # Deleting yourself is not offered and not allowed.
    assert console.get(_admin_url(User, "delete", admin_user.pk)).status_code == 403
    assert console.post(_admin_url(User, "delete", admin_user.pk), {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=admin_user.pk).exists()
    # Bulk delete is not offered for users.
    changelist = console.get(_admin_url(User, "changelist")).content.decode()
    assert "delete_selected" not in changelist


def test_console_deletes_other_users(console, admin_user, make_user):
    colleague = make_user("colleague", role=SystemRole.ADMIN)
    service, _ = api_keys.create_key(owner=colleague, name="svc", key_type=KeyType.SERVICE)
    response = console.post(_admin_url(User, "delete", colleague.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=colleague.pk).exists()
    service.refresh_from_db()
    assert service.user_id == admin_user.id


def test_the_console_has_one_groups_section_and_plain_names(console):
    index = console.get("/admin/").content.decode()
    # Wegent's groups only: Django's permission groups are not offered next to them.
    assert index.count(">Groups<") == 1
    assert "/admin/auth/group/" not in index and "/admin/accounts/group/" in index
    assert "Skill archives" in index and "Skill binarys" not in index
