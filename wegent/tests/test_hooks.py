"""The extension-point primitive, and its one table of every hook."""

from __future__ import annotations

import logging

import pytest

from wegent import hooks
from wegent.hooks import Hook


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Hook:
    monkeypatch.setattr(hooks, "_DECLARED", [])  # a test hook stays out of the project's list
    return Hook("test.hook", "a hook for these tests")


def test_register_is_idempotent_ordered_and_a_decorator(hook: Hook) -> None:
    def first() -> str:
        return "first"

    @hook.register
    def second() -> str:
        return "second"

    hook.register(first)
    hook.register(second)
    hook.register(first)
    assert second() == "second"  # the decorator hands the function back
    assert list(hook) == [second, first] and len(hook) == 2 and first in hook
    hook.unregister(second)
    hook.unregister(second)
    assert list(hook) == [first]


def test_registered_removes_only_what_it_added(hook: Hook) -> None:
    def kept() -> None: ...
    def temporary() -> None: ...

    hook.register(kept)
    with hook.registered(kept, temporary):
        assert list(hook) == [kept, temporary]
    assert list(hook) == [kept]


def test_iteration_is_a_snapshot(hook: Hook) -> None:
    calls: list[str] = []

    def once() -> None:
        calls.append("once")
        hook.unregister(once)

    def always() -> None:
        calls.append("always")

    hook.register(once)
    hook.register(always)
    hook.call_all()
    hook.call_all()
    assert calls == ["once", "always", "always"]


def test_call_all_raises_or_logs(hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []

    def broken(value: int) -> None:
        raise RuntimeError("broken")

    hook.register(broken)
    hook.register(seen.append)
    with pytest.raises(RuntimeError):
        hook.call_all(1)
    assert seen == []
    with caplog.at_level(logging.ERROR, logger="wegent.hooks"):
        hook.call_all(2, log_errors=True)
    assert seen == [2]
    assert "hook test.hook" in caplog.text and "broken" in caplog.text


def test_every_declared_hook_is_in_the_table() -> None:
    """The module's docstring is the one list of extension points: it must not go stale."""
    declared = hooks.declared()
    assert len(declared) >= 11  # the apps' hooks modules are imported by django.setup()
    names = [hook.name for hook in declared]
    assert len(names) == len(set(names))
    table = hooks.__doc__ or ""
    missing = [name for name in names if f"``{name}``" not in table]
    assert missing == []
