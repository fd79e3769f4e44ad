"""The device payloads' own checks (parsing runs before anything is read or written)."""

from __future__ import annotations

from devices import protocol


def test_reports_with_text_no_database_stores_are_refused():
    for result in ({"value": "a\x00b"}, {"thinking": [{"title": "\ud800"}]}, {"workbench": {"k\x00": 1}}):
        parsed = protocol.parse(protocol.TaskReport, {"subtask_id": 3, "result": result})
        assert isinstance(parsed, dict) and parsed["error"].startswith("Invalid payload")
    ok = protocol.parse(protocol.TaskReport, {"subtask_id": 3, "result": {"value": "fine ✓"}})
    assert isinstance(ok, protocol.TaskReport)


def test_a_device_id_must_be_a_kind_name():
    for device_id in ("has space", "-lead", "x" * 101, "dots..ok."):
        parsed = protocol.parse(protocol.DeviceRegister, {"device_id": device_id, "name": "n"})
        assert isinstance(parsed, dict), device_id
    assert isinstance(
        protocol.parse(protocol.DeviceRegister, {"device_id": "hw-ab.c_d", "name": "n"}),
        protocol.DeviceRegister,
    )
