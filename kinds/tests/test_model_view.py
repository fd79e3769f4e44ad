"""``ModelView`` reads any stored Model spec without raising; ``connection_for`` adds defaults."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kinds.connections import ANTHROPIC_BASE_URL, OPENAI_BASE_URL, connection_for
from kinds.specs.model import ANTHROPIC, COMPATIBLE, GOOGLE, OPENAI, ModelView
from wegent import crypto


@pytest.mark.parametrize(
    "spec",
    [
        None,
        [],
        "x",
        {"modelConfig": "x"},
        {"modelConfig": {"env": ["x"]}},
        {"modelConfig": {"env": {"model": 5}}},
    ],
)
def test_wrong_types_read_as_defaults(spec: Any) -> None:
    view = ModelView.of(spec)

    assert (view.provider, view.model_id, view.base_url, view.api_key, view.api_key_field) == (
        "",
        "",
        None,
        "",
        None,
    )
    assert (view.headers, view.category, view.is_custom_config, view.family) == ({}, "llm", False, COMPATIBLE)


def test_a_full_spec() -> None:
    spec = {
        "modelConfig": {
            "env": {"model": "openai", "model_id": "gpt-x", "api_key": "k", "custom_headers": {"X-A": 1}},
            "max_output_tokens": 64,
        },
        "protocol": "openai-responses",
        "contextWindow": 1000,
        "modelType": "embedding",
        "isCustomConfig": True,
    }
    view = ModelView.of(spec)

    assert (view.provider, view.model_id, view.api_key, view.api_key_field) == (
        "openai",
        "gpt-x",
        "k",
        "api_key",
    )
    assert (view.headers, view.context_window, view.max_output_tokens) == ({"X-A": "1"}, 1000, 64)
    assert (view.protocol, view.category, view.is_custom_config, view.family) == (
        "openai-responses",
        "embedding",
        True,
        OPENAI,
    )


@pytest.mark.parametrize(
    ("env", "family", "field"),
    [
        ({"model": "claude", "ANTHROPIC_AUTH_TOKEN": "t"}, ANTHROPIC, "ANTHROPIC_AUTH_TOKEN"),
        ({"model_id": "claude-3", "ANTHROPIC_API_KEY": "t"}, ANTHROPIC, "ANTHROPIC_API_KEY"),
        ({"model": "claude", "api_key": "t", "ANTHROPIC_API_KEY": "u"}, ANTHROPIC, "api_key"),
        ({"model": "openai", "OPENAI_API_KEY": "t"}, OPENAI, "OPENAI_API_KEY"),
        ({"model": "gemini", "GEMINI_API_KEY": "t"}, GOOGLE, "GEMINI_API_KEY"),
        ({"model": "openai", "ANTHROPIC_API_KEY": "t"}, OPENAI, None),  # never another provider's key
    ],
)
def test_the_key_field_follows_the_family(env: dict[str, str], family: str, field: str | None) -> None:
    view = ModelView.of({"modelConfig": {"env": env}})

    assert (view.family, view.api_key_field) == (family, field)


def row(env: dict[str, Any], **spec: Any) -> Any:
    return SimpleNamespace(spec={"modelConfig": {"env": env}, **spec}, name="m", namespace="default")


def test_connection_decrypts_the_key_and_defaults_the_url(settings: Any) -> None:
    claude = connection_for(row({"model": "claude", "ANTHROPIC_API_KEY": crypto.encrypt("sk-secret")}))
    assert (claude.api_key, claude.base_url, claude.family) == ("sk-secret", ANTHROPIC_BASE_URL, ANTHROPIC)
    by_id = connection_for(row({"model_id": "claude-3-haiku", "ANTHROPIC_AUTH_TOKEN": "t"}))
    assert (by_id.api_key, by_id.base_url, by_id.family) == ("t", ANTHROPIC_BASE_URL, ANTHROPIC)

    bare = connection_for(row({}), timeout=5)
    assert (bare.provider, bare.model_id, bare.base_url, bare.api_key, bare.timeout) == (
        "",
        "gpt-4",
        OPENAI_BASE_URL,
        "",
        5,
    )
    responses = connection_for(row({"base_url": "http://h/v1"}, protocol="openai-responses"))
    assert (responses.api_format, responses.base_url) == ("responses", "http://h/v1")
