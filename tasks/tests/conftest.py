"""Fixtures for task tests: a team to talk to, tasks made through the services, answers ended."""

from __future__ import annotations

from typing import Any

import pytest

from kinds.tests.conftest import bot_stack, make_kind  # noqa: F401  (fixtures used here)
from tasks import statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle, turns


@pytest.fixture
def team(user, bot_stack):  # type: ignore[no-untyped-def]  # noqa: F811
    """Alice's team (a solo team with one Chat bot)."""
    return bot_stack(user, "t")["team"]


@pytest.fixture
def make_task():  # type: ignore[no-untyped-def]
    """make_task(actor, team, prompt="hello", answer="hi"|None, **TurnOptions) -> Turn.

    With ``answer`` the assistant message is completed with that text; with None it stays PENDING.
    """

    def _make(actor, team, prompt: str = "hello", answer: str | None = "hi", task_id=None, **options: Any):  # type: ignore[no-untyped-def]
        turn = turns.start_turn(
            actor=actor,
            task_id=task_id,
            options=turns.TurnOptions(prompt=prompt, team_id=team.pk, **options),
        )
        if answer is not None and turn.assistant_subtask is not None:
            complete(turn.assistant_subtask, answer)
        turn.task.refresh_from_db()
        return turn

    return _make


def complete(answer: Subtask, text: str) -> Subtask:
    """Ends an answer as the runner would: claimed, then COMPLETED with ``text``."""
    lifecycle.claim_subtask(answer.pk, "test-worker")
    return lifecycle.update_subtask(
        answer.pk, lifecycle.SubtaskChanges(status=statuses.COMPLETED, result={"value": text})
    )


def reload(task: TaskResource) -> TaskResource:
    task.refresh_from_db()
    return task
