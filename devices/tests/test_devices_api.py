"""``/api/devices`` (reference rest §6.15): list with online state, running tasks and versions,
``/online``, the default device, delete; only the caller's own devices, bad input a 4xx."""

from __future__ import annotations

import pytest

from devices import presence
from devices.tests.factories import make_device
from kinds.models import Kind
from tasks import statuses
from tasks.services import lifecycle

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "device_id",
    "name",
    "status",
    "is_default",
    "last_heartbeat",
    "device_type",
    "connection_mode",
    "capabilities",
    "slot_used",
    "slot_max",
    "running_tasks",
    "executor_version",
    "latest_version",
    "update_available",
}


def test_list_answers_with_no_devices(api):
    response = api.get("/api/devices")
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0}


def test_list_shows_online_state_versions_and_running_tasks(api, user, team, make_task):
    make_device(user, "hw-aaaaaaaaaaaa", "Mac - a")
    make_device(user, "hw-bbbbbbbbbbbb", "Linux - b", online=False)
    turn = make_task(user, team, "build it", answer=None)
    lifecycle.update_subtask(
        turn.assistant_subtask.pk,
        lifecycle.SubtaskChanges(
            status=statuses.RUNNING,
            executor_name="device-hw-aaaaaaaaaaaa",
            executor_namespace=f"user-{user.pk}",
        ),
    )
    body = api.get("/api/devices").json()
    assert body["total"] == 2
    first, second = body["items"]
    assert set(first) == FIELDS
    assert (first["device_id"], first["status"], first["is_default"]) == ("hw-aaaaaaaaaaaa", "online", True)
    assert (second["device_id"], second["status"], second["is_default"]) == (
        "hw-bbbbbbbbbbbb",
        "offline",
        False,
    )
    assert first["executor_version"] == "0.9.1" and first["latest_version"] == "1.0.0"
    assert first["update_available"] is True
    assert first["slot_used"] == 1 and first["slot_max"] == 5
    assert first["running_tasks"][0]["task_id"] == turn.task.pk
    assert first["running_tasks"][0]["subtask_id"] == turn.assistant_subtask.pk
    assert second["running_tasks"] == [] and second["last_heartbeat"] is None
    online = api.get("/api/devices/online").json()
    assert [item["device_id"] for item in online["items"]] == ["hw-aaaaaaaaaaaa"] and online["total"] == 1


def test_set_default_moves_the_flag(api, user):
    make_device(user, "hw-aaaaaaaaaaaa")
    make_device(user, "hw-bbbbbbbbbbbb")
    response = api.put("/api/devices/hw-bbbbbbbbbbbb/default")
    assert response.status_code == 200 and "message" in response.json()
    flags = {item["device_id"]: item["is_default"] for item in api.get("/api/devices").json()["items"]}
    assert flags == {"hw-aaaaaaaaaaaa": False, "hw-bbbbbbbbbbbb": True}


def test_delete_is_soft_and_registering_again_brings_it_back(api, user):
    make_device(user, "hw-aaaaaaaaaaaa")
    response = api.delete("/api/devices/hw-aaaaaaaaaaaa")
    assert response.status_code == 200 and "message" in response.json()
    assert api.get("/api/devices").json()["total"] == 0
    assert api.delete("/api/devices/hw-aaaaaaaaaaaa").status_code == 404
    make_device(user, "hw-aaaaaaaaaaaa")
    assert api.get("/api/devices").json()["total"] == 1
    assert Kind.objects.filter(kind="Device", name="hw-aaaaaaaaaaaa").count() == 1


def test_another_users_device_is_not_found(api, client_for, other_user, user):
    make_device(other_user, "hw-cccccccccccc")
    assert api.get("/api/devices").json()["total"] == 0
    assert api.put("/api/devices/hw-cccccccccccc/default").status_code == 404
    assert api.delete("/api/devices/hw-cccccccccccc").status_code == 404
    assert client_for(other_user).get("/api/devices").json()["total"] == 1
    assert Kind.objects.get(kind="Device", name="hw-cccccccccccc").is_active


@pytest.mark.parametrize("device_id", ["x" * 101, "no%20such", "..", "a" * 100, "%F0%9F%98%80"])
def test_bad_or_unknown_device_ids_are_404(api, device_id):
    assert api.put(f"/api/devices/{device_id}/default").status_code == 404
    assert api.delete(f"/api/devices/{device_id}").status_code == 404


def test_a_nul_in_the_device_id_is_refused(api):
    assert api.put("/api/devices/%00/default").status_code == 400
    assert api.delete("/api/devices/a%00b").status_code == 400


def test_credentials_are_required(anon_client):
    assert anon_client.get("/api/devices").status_code == 401
    assert anon_client.get("/api/devices/online").status_code == 401
    assert anon_client.put("/api/devices/x/default").status_code == 401
    assert anon_client.delete("/api/devices/x").status_code == 401
    bad = {"HTTP_AUTHORIZATION": "Bearer not-a-token"}
    assert anon_client.get("/api/devices", **bad).status_code == 401


def test_online_entry_expires_with_its_ttl(user, settings):
    make_device(user, "hw-aaaaaaaaaaaa")
    assert presence.get(user.pk, "hw-aaaaaaaaaaaa") is not None
    assert presence.mark_offline(user.pk, "hw-aaaaaaaaaaaa", "another-socket") is False
    assert presence.mark_offline(user.pk, "hw-aaaaaaaaaaaa", "test-hw-aaaaaaaaaaaa") is True
    assert presence.get(user.pk, "hw-aaaaaaaaaaaa") is None


def test_the_kind_api_shows_the_live_online_state(api, user, client_for, other_user):
    make_device(user, "hw-dddddddddddd")
    make_device(other_user, "hw-eeeeeeeeeeee")
    listed = api.get("/api/v1/namespaces/default/devices").json()["items"]
    assert [item["metadata"]["name"] for item in listed] == ["hw-dddddddddddd"]
    status = listed[0]["status"]
    assert status["online"] is True and status["deviceStatus"] == "online" and status["lastHeartbeat"]
    one = api.get("/api/v1/namespaces/default/devices/hw-dddddddddddd").json()
    assert one["status"]["online"] is True
    # The device goes away: the (cached) list and the item say so at once.
    assert presence.mark_offline(user.pk, "hw-dddddddddddd", "test-hw-dddddddddddd")
    listed = api.get("/api/v1/namespaces/default/devices").json()["items"]
    assert listed[0]["status"]["online"] is False and listed[0]["status"]["deviceStatus"] == "offline"
    one = api.get("/api/v1/namespaces/default/devices/hw-dddddddddddd").json()
    assert one["status"]["online"] is False
    # A stored document cannot claim a device is online.
    body = {
        "apiVersion": "agent.wecode.io/v1",
        "kind": "Device",
        "metadata": {"name": "hw-ffffffffffff", "namespace": "default"},
        "spec": {"deviceId": "hw-ffffffffffff"},
        "status": {"online": True, "deviceStatus": "online"},
    }
    created = api.post("/api/v1/namespaces/default/devices", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["status"]["online"] is False
    one = api.get("/api/v1/namespaces/default/devices/hw-ffffffffffff").json()
    assert one["status"] == {**one["status"], "online": False, "deviceStatus": "offline"}
    # The other user's device is online for them only.
    theirs = client_for(other_user).get("/api/v1/namespaces/default/devices").json()["items"]
    assert [(i["metadata"]["name"], i["status"]["online"]) for i in theirs] == [("hw-eeeeeeeeeeee", True)]
