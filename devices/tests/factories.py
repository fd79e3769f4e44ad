"""Devices for any app's tests (plain functions; fixtures in conftest.py)."""

from __future__ import annotations

from accounts.models import User
from devices import presence, protocol
from devices.services import registry
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, make_kind, model_doc, shell_doc, team_doc


def make_device(
    actor: User, device_id: str = "hw-0123456789ab", name: str = "Linux - box", *, online: bool = True
) -> Kind:
    """Registers a device as ``device:register`` does; ``online=False`` lets its entry go."""
    payload = protocol.DeviceRegister(device_id=device_id, name=name, executor_version="0.9.1")
    row = registry.register(actor, payload, socket_id=f"test-{device_id}")
    if not online:
        presence.mark_offline(actor.pk, device_id, f"test-{device_id}")
    return row


def make_code_team(owner: User, prefix: str = "cc", shell_type: str = "ClaudeCode") -> Kind:
    """A team whose one bot runs on a ``shell_type`` shell (an executor team, not Chat)."""
    make_kind(owner, ghost_doc(f"{prefix}-ghost", "You write code.", mcpServers={"git": {"url": "http://x"}}))
    make_kind(owner, shell_doc(f"{prefix}-shell", shell_type))
    make_kind(owner, model_doc(f"{prefix}-model", "sk-device-secret-0123456789", model_id="claude-x"))
    make_kind(owner, bot_doc(f"{prefix}-bot", f"{prefix}-ghost", f"{prefix}-shell", f"{prefix}-model"))
    return make_kind(owner, team_doc(f"{prefix}-team", [f"{prefix}-bot"]))


def make_code_pipeline(
    owner: User,
    prefix: str = "pp",
    *,
    stages: tuple[str, ...] = ("plan", "build"),
    confirm_first: bool = True,
) -> Kind:
    """A pipeline of ClaudeCode bots, one per stage; the first stage asks for a confirmation
    unless ``confirm_first`` is False."""
    make_kind(owner, ghost_doc(f"{prefix}-ghost", "You write code."))
    make_kind(owner, shell_doc(f"{prefix}-shell", "ClaudeCode"))
    make_kind(owner, model_doc(f"{prefix}-model", "sk-device-secret-0123456789", model_id="claude-x"))
    for stage in stages:
        make_kind(
            owner, bot_doc(f"{prefix}-{stage}", f"{prefix}-ghost", f"{prefix}-shell", f"{prefix}-model")
        )
    document = team_doc(f"{prefix}-team", [f"{prefix}-{stage}" for stage in stages], mode="pipeline")
    document["spec"]["members"][0]["requireConfirmation"] = confirm_first
    return make_kind(owner, document)
