"""Kind documents and rows for any app's tests (plain functions; fixtures in conftest.py)."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from kinds import registry, services
from kinds.models import Kind


def ghost_doc(name: str, prompt: str = "You are helpful.", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "agent.wecode.io/v1",
        "kind": "Ghost",
        "metadata": {"name": name},
        "spec": {"systemPrompt": prompt, **spec},
    }


def shell_doc(name: str, shell_type: str = "Chat", **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Shell",
        "metadata": {"name": name, "labels": {"type": "direct_chat"}},
        "spec": {"shellType": shell_type, "supportModel": ["openai"], **spec},
    }


def model_doc(
    name: str,
    api_key: str = "sk-test-0123456789abcdef",
    *,
    model_id: str = "gpt-test",
    base_url: str = "http://127.0.0.1:9/v1",  # nothing listens there
    **spec: Any,
) -> dict[str, Any]:
    return {
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "modelConfig": {
                "env": {
                    "model": "openai",
                    "model_id": model_id,
                    "api_key": api_key,
                    "base_url": base_url,
                }
            },
            "protocol": "openai",
            **spec,
        },
    }


def bot_doc(name: str, ghost: str, shell: str, model: str | None = None, namespace: str = "default") -> dict:
    spec: dict[str, Any] = {
        "ghostRef": {"name": ghost, "namespace": namespace},
        "shellRef": {"name": shell, "namespace": namespace},
    }
    if model:
        spec["modelRef"] = {"name": model, "namespace": namespace}
    return {"kind": "Bot", "metadata": {"name": name}, "spec": spec}


def team_doc(name: str, bots: list[str], namespace: str = "default", mode: str = "solo") -> dict[str, Any]:
    return {
        "kind": "Team",
        "metadata": {"name": name},
        "spec": {
            "members": [
                {"botRef": {"name": b, "namespace": namespace}, "prompt": "", "role": "leader"} for b in bots
            ],
            "collaborationModel": mode,
            "bind_mode": ["chat"],
            "description": f"{name} team",
        },
    }


def make_kind(
    actor: User, document: dict[str, Any], namespace: str = "default", public: bool = False
) -> Kind:
    """Creates a row through the service, as the API would (``public``: an admin's public row)."""
    kind_type = registry.by_kind(document["kind"])
    assert kind_type is not None, document["kind"]
    owner = services.Owner(None) if public else None
    return services.create_resource(
        actor=actor, kind_type=kind_type, namespace=namespace, body=document, owner=owner
    )


def bot_stack(actor: User, prefix: str = "s", namespace: str = "default") -> dict[str, Kind]:
    """A ghost, shell, model, bot and team owned by ``actor`` in ``namespace``."""
    rows = {
        "ghost": make_kind(actor, ghost_doc(f"{prefix}-ghost"), namespace),
        "shell": make_kind(actor, shell_doc(f"{prefix}-shell"), namespace),
        "model": make_kind(actor, model_doc(f"{prefix}-model"), namespace),
    }
    rows["bot"] = make_kind(
        actor,
        bot_doc(f"{prefix}-bot", f"{prefix}-ghost", f"{prefix}-shell", f"{prefix}-model", namespace),
        namespace,
    )
    rows["team"] = make_kind(actor, team_doc(f"{prefix}-team", [f"{prefix}-bot"], namespace), namespace)
    return rows


def skill_archive(
    name: str, description: str = "Does useful things", body: str = "Follow these steps.", **front: Any
) -> bytes:
    """A skill ZIP: ``<name>/SKILL.md`` with ``description`` (and ``front``) as front matter."""
    import io
    import zipfile

    import yaml

    meta = {"description": description, **front}
    text = f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n{body}\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}/", b"")
        archive.writestr(f"{name}/SKILL.md", text)
    return buffer.getvalue()


def make_skill(
    actor: User,
    name: str,
    body: str = "Follow these steps.",
    *,
    namespace: str = "default",
    public: bool = False,
    description: str = "Does useful things",
    **front: Any,
) -> Kind:
    """A stored skill made by the skills service, as an upload would (``public``: an admin's)."""
    from kinds import skills

    return skills.store_skill(
        actor=actor,
        owner=services.Owner(None) if public else services.Owner(actor),
        namespace=namespace,
        name=name,
        archive=skill_archive(name, description, body, **front),
        filename=f"{name}.zip",
    )
