"""The audit trail: API writes (personal and service keys, JWTs), admin writes (single and bulk,
and log entries written outside a request), read-only in the console even for a superuser,
retention and its periodic purge. Socket writes: quotas/tests/test_enforcement_live.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client
from django.utils import timezone

from accounts.roles import KeyType
from accounts.services import api_keys
from accounts.tests.factories import PASSWORD
from audit import services, tasks
from audit.models import AuditEntry
from quotas.models import Quota
from quotas.tests.factories import make_quota

pytestmark = pytest.mark.django_db

LIST = "/admin/audit/auditentry/"


@pytest.fixture
def console(admin_user) -> Client:  # type: ignore[no-untyped-def]
    client = Client(REMOTE_ADDR="10.1.2.3")
    client.force_login(admin_user)
    return client


def test_an_api_write_is_recorded_with_who_what_where(api, user):
    response = api.post("/api/projects", {"name": "Folder"}, format="json", REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 201
    project_id = response.json()["id"]
    entry = AuditEntry.objects.get()
    assert (entry.via, entry.action, entry.method, entry.status_code) == ("api", "create", "POST", 201)
    assert entry.actor == user and entry.actor_name == "alice" and entry.on_behalf_of is None
    assert entry.route == "/api/projects" and entry.object_id == str(project_id)
    assert entry.object_type == "project-list" and entry.ip_address == "10.9.8.7"
    assert entry.request_id == response["X-Request-ID"] and entry.detail == {"path": "/api/projects"}
    api.put(f"/api/projects/{project_id}", {"name": "Renamed"}, format="json")
    api.delete(f"/api/projects/{project_id}")
    later = list(AuditEntry.objects.order_by("id").values_list("action", "object_id", "route"))[1:]
    assert later == [
        ("update", str(project_id), "/api/projects/<int:project_id>"),
        ("delete", str(project_id), "/api/projects/<int:project_id>"),
    ]


def test_reads_and_refusals_are_not_recorded(api, anon_client, client_for, other_user):
    api.get("/api/projects")
    assert api.post("/api/projects", {"name": ""}, format="json").status_code == 422
    theirs = client_for(other_user).post("/api/projects", {"name": "Theirs"}, format="json").json()["id"]
    assert api.delete(f"/api/projects/{theirs}").status_code == 404
    assert anon_client.post("/api/projects", {"name": "x"}, format="json").status_code == 401
    login = anon_client.post("/api/auth/login", {"user_name": "alice", "password": "nope"}, format="json")
    assert login.status_code == 400  # a failed login changes nothing of anyone
    assert list(AuditEntry.objects.values_list("actor__user_name", "action")) == [("bob", "create")]


def test_a_write_without_a_user_is_recorded_without_an_actor(anon_client, user):
    login = anon_client.post(
        "/api/auth/login", {"user_name": "alice", "password": PASSWORD}, format="json", REMOTE_ADDR="10.0.0.5"
    )
    assert login.status_code == 200
    entry = AuditEntry.objects.get()
    assert entry.actor is None and entry.actor_name == "" and entry.route == "/api/auth/login"
    assert entry.ip_address == "10.0.0.5" and entry.detail == {"auth": "no user", "path": "/api/auth/login"}


def test_a_service_key_records_its_owner_acting_as_the_user(anon_client, admin_user, user):
    _, raw = api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)
    response = anon_client.post(
        "/api/projects", {"name": "F"}, format="json", HTTP_X_API_KEY=raw, HTTP_WEGENT_USERNAME="alice"
    )
    assert response.status_code == 201
    entry = AuditEntry.objects.get()
    assert entry.actor == admin_user and entry.on_behalf_of == user
    assert (entry.actor_name, entry.on_behalf_of_name) == ("root", "alice")
    assert entry.detail["api_key"] == "svc" and entry.detail["api_key_prefix"]
    _, personal = api_keys.create_key(owner=user, name="mine")
    anon_client.post("/api/projects", {"name": "G"}, format="json", HTTP_X_API_KEY=personal)
    latest = AuditEntry.objects.order_by("-id").first()
    assert latest.actor == user and latest.on_behalf_of is None and latest.detail["api_key"] == "mine"


def test_admin_writes_are_mirrored_with_the_address_single_and_bulk(console, admin_user, user):
    add = console.post(
        "/admin/quotas/quota/add/",
        {"scope": "user", "user": user.pk, "period": "day", "max_requests": "5", "is_active": "on"},
    )
    assert add.status_code == 302, add.content.decode()[:2000]
    quota = Quota.objects.get()
    entry = AuditEntry.objects.get()
    assert (entry.via, entry.action, entry.object_type) == ("admin", "create", "quotas.Quota")
    assert entry.object_id == str(quota.pk) and entry.actor == admin_user
    assert entry.ip_address == "10.1.2.3" and entry.route == "/admin/quotas/quota/add/"
    assert entry.detail["change_message"] == "Added."
    second = make_quota(user=admin_user, period="month", max_tokens=10)
    bulk = console.post(
        "/admin/quotas/quota/",
        {"action": "delete_selected", "_selected_action": [quota.pk, second.pk], "post": "yes"},
    )
    assert bulk.status_code == 302 and not Quota.objects.exists()
    deletions = AuditEntry.objects.filter(action="delete").order_by("object_id")
    assert [e.object_id for e in deletions] == sorted([str(quota.pk), str(second.pk)])
    assert {e.ip_address for e in deletions} == {"10.1.2.3"}
    assert AuditEntry.objects.filter(via="api").count() == 0  # an admin write is not counted twice


def test_a_log_entry_written_outside_a_request_is_mirrored(admin_user, user):
    quota = make_quota(user=user, period="day", max_requests=1)
    LogEntry.objects.log_actions(admin_user.pk, [quota], CHANGE, "Changed limits.", single_object=True)
    entry = AuditEntry.objects.get()
    assert (entry.via, entry.action, entry.object_repr) == ("admin", "update", str(quota))
    assert entry.ip_address == "" and entry.detail["change_message"] == "Changed limits."


def test_console_lists_and_filters_but_never_edits_even_for_a_superuser(console, user):
    entry = services.record(via="api", action="create", actor=user, target=services.Target("project", 1))
    page = console.get(LIST, {"via__exact": "api", "action": "create", "object_type": "project"})
    assert page.status_code == 200 and "alice" in page.content.decode()
    for query in (
        {"created_at__year": str(timezone.now().year)},
        {"actor__id__exact": user.pk},
        {"q": "alice"},
    ):
        assert console.get(LIST, query).status_code == 200
    text = page.content.decode()
    assert "/admin/audit/auditentry/add/" not in text
    assert '<select name="action"' not in text  # no bulk actions (delete_selected) either
    assert console.get(f"{LIST}add/").status_code == 403
    detail = console.get(f"{LIST}{entry.pk}/change/")
    assert detail.status_code == 200 and 'type="submit"' not in detail.content.decode().split("<form")[-1]
    assert console.post(f"{LIST}{entry.pk}/change/", {"action": "delete"}).status_code == 403
    assert console.post(f"{LIST}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk, action="create").exists()


def test_non_staff_get_no_audit_console(user):
    client = Client()
    client.force_login(user)
    response = client.get(LIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_retention_purge_deletes_only_expired_entries(settings, user):
    settings.AUDIT_RETENTION_DAYS = 30
    old = services.record(via="api", action="create", actor=user)
    fresh = services.record(via="api", action="create", actor=user)
    AuditEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    assert tasks.purge_expired.apply().get() == 1
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [fresh.pk]
    settings.AUDIT_RETENTION_DAYS = 0  # keep forever
    AuditEntry.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - dt.timedelta(days=3650))
    assert services.purge_expired() == 0 and AuditEntry.objects.count() == 1


def test_the_purge_is_a_described_periodic_job():
    entry = settings.CELERY_BEAT_SCHEDULE["audit.purge_expired"]
    assert entry["task"] == "audit.purge_expired" and "WEGENT_AUDIT_RETENTION_DAYS" in entry["description"]


def test_entries_outlive_their_users(user):
    services.record(via="api", action="create", actor=user)
    user.delete()
    entry = AuditEntry.objects.get()
    assert entry.actor is None and entry.actor_name == "alice"
