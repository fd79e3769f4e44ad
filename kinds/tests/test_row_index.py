"""How references resolve in bulk (``RowIndex``, ``TeamContext``)."""

from __future__ import annotations

import pytest

from accounts.models import SystemRole
from kinds.models import Kind
from kinds.selectors import RowIndex, TeamContext

pytestmark = pytest.mark.django_db


def test_team_context_loads_only_the_owners_rows_of_shared_names(make_user, bot_stack, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Every user has a bot stack with the same names (as the bench's users do): resolving one
    # user's team must neither pick nor load another user's rows (a chat's send once loaded
    # every user's same-named bots, ghosts, shells and models).
    users = [make_user(f"u{i}") for i in range(4)]
    stacks = [bot_stack(user) for user in users]
    mine = stacks[2]
    loaded: list[int] = []
    from_db = Kind.from_db.__func__

    def counting_from_db(cls, db, field_names, values):  # type: ignore[no-untyped-def]
        row = from_db(cls, db, field_names, values)
        loaded.append(row.pk)
        return row

    monkeypatch.setattr(Kind, "from_db", classmethod(counting_from_db))

    context = TeamContext([mine["team"]])

    assert sorted(loaded) == sorted([mine["bot"].pk, mine["ghost"].pk, mine["shell"].pk, mine["model"].pk])

    assert [bot.pk for _, bot in context.members(mine["team"])] == [mine["bot"].pk]
    assert context.ghost(mine["bot"]).pk == mine["ghost"].pk
    assert len(context.bots._rows) == 1
    assert {row.pk for row in context.components._rows.values()} == {
        mine["ghost"].pk,
        mine["shell"].pk,
        mine["model"].pk,
    }


def test_row_index_falls_back_to_the_public_row(make_user, make_kind, bot_stack) -> None:  # type: ignore[no-untyped-def]
    from kinds.tests.factories import ghost_doc

    owner, admin = make_user("owner"), make_user("admin", role=SystemRole.ADMIN)
    public = make_kind(admin, ghost_doc("shared-ghost"), public=True)
    own = make_kind(owner, ghost_doc("own-ghost"))
    ref_public = {"name": "shared-ghost", "namespace": "default"}
    ref_own = {"name": "own-ghost", "namespace": "default"}

    index = RowIndex.load([("Ghost", ref_public, owner.pk), ("Ghost", ref_own, owner.pk)])

    assert index.resolve("Ghost", ref_public, owner.pk).pk == public.pk
    assert index.resolve("Ghost", ref_own, owner.pk).pk == own.pk
    assert index.resolve("Ghost", ref_own, admin.pk) is None
