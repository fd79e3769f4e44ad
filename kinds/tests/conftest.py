"""Fixtures for Kind tests: documents and a helper to create rows through the services."""

from __future__ import annotations

from typing import Any

import pytest

from kinds import registry, services


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


def model_doc(name: str, api_key: str = "sk-test-0123456789abcdef", **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "modelConfig": {
                "env": {
                    "model": "openai",
                    "model_id": "gpt-test",
                    "api_key": api_key,
                    "base_url": "http://127.0.0.1:9/v1",
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


@pytest.fixture
def make_kind():
    """Creates a row through the service: make_kind(actor, document, namespace="default", public=False)."""

    def _make(actor, document: dict[str, Any], namespace: str = "default", public: bool = False):  # type: ignore[no-untyped-def]
        kind_type = registry.by_kind(document["kind"])
        owner = services.Owner(None) if public else None
        return services.create_resource(
            actor=actor, kind_type=kind_type, namespace=namespace, body=document, owner=owner
        )

    return _make


@pytest.fixture
def bot_stack(make_kind):
    """A ghost, shell, model, bot and team owned by ``actor`` in ``namespace``."""

    def _stack(actor, prefix: str = "s", namespace: str = "default") -> dict[str, Any]:  # type: ignore[no-untyped-def]
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

    return _stack
