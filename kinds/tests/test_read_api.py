"""The kinds read API other apps use (kinds.selectors): who may use a row, the rows an actor
sees, the model a name means, and the typed spec views."""

from __future__ import annotations

import pytest

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from kinds import access, selectors
from kinds.specs.bot import BotView
from kinds.specs.ghost import GhostView
from kinds.specs.shell import ShellView
from kinds.specs.team import TeamView
from kinds.tests.factories import ghost_doc, model_doc

pytestmark = pytest.mark.django_db


def group_of(owner, name: str, members):  # type: ignore[no-untyped-def]
    group = Group.objects.create(name=name, owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)
    for user, role in members:
        GroupMember.objects.create(group=group, user=user, role=role)
    return group


@pytest.fixture
def people(make_user, admin_user):  # type: ignore[no-untyped-def]
    owner, reporter, developer, stranger = (make_user(n) for n in ("owner", "rep", "dev", "stranger"))
    group_of(owner, "eng", [(reporter, GroupRole.REPORTER), (developer, GroupRole.DEVELOPER)])
    return {
        "admin": admin_user,
        "owner": owner,
        "reporter": reporter,
        "developer": developer,
        "stranger": stranger,
    }


def test_can_is_the_role_table_applied_to_a_row(people, make_kind) -> None:  # type: ignore[no-untyped-def]
    p = people
    own = make_kind(p["stranger"], ghost_doc("mine"))
    public = make_kind(p["admin"], ghost_doc("everyone"), public=True)
    in_group = make_kind(p["owner"], ghost_doc("team-ghost"), "eng")

    assert selectors.can(p["stranger"], own, access.DELETE)
    assert not selectors.can(p["owner"], own, access.READ)
    assert selectors.can(p["stranger"], public, access.READ)
    assert not selectors.can(p["admin"], public, access.UPDATE)  # public rows are read-only here
    assert selectors.can(p["reporter"], in_group, access.READ)
    assert not selectors.can(p["reporter"], in_group, access.UPDATE)
    assert selectors.can(p["developer"], in_group, access.UPDATE)
    assert not selectors.can(p["developer"], in_group, access.DELETE)
    assert not selectors.can(p["stranger"], in_group, access.READ)
    assert selectors.readable_row(p["reporter"], "Ghost", in_group.pk) == in_group
    assert selectors.readable_row(p["stranger"], "Ghost", in_group.pk) is None
    assert selectors.readable_row(p["stranger"], "Bot", own.pk) is None  # another kind


def test_visible_rows_are_own_public_and_readable_groups(people, make_kind) -> None:  # type: ignore[no-untyped-def]
    p = people
    own = make_kind(p["reporter"], ghost_doc("mine"))
    make_kind(p["stranger"], ghost_doc("theirs"))
    public = make_kind(p["admin"], ghost_doc("everyone"), public=True)
    in_group = make_kind(p["owner"], ghost_doc("team-ghost"), "eng")

    def names(rows):  # type: ignore[no-untyped-def]
        return sorted(row.pk for row in rows)

    assert names(selectors.visible_rows(p["reporter"], "Ghost")) == names([own, public, in_group])
    assert names(selectors.visible_rows(p["stranger"], "Ghost", own=False)) == [public.pk]
    assert names(selectors.visible_rows(p["reporter"], "Ghost", public=False, groups=[])) == [own.pk]
    assert list(selectors.visible_rows(p["reporter"], "Ghost", own=False, public=False, groups=[])) == []


def test_usable_model_prefers_own_then_group_then_public(people, make_kind) -> None:  # type: ignore[no-untyped-def]
    p = people
    public = make_kind(p["admin"], model_doc("gpt"), public=True)
    in_group = make_kind(p["owner"], model_doc("gpt"), "eng")
    own = make_kind(p["reporter"], model_doc("gpt"))

    assert selectors.usable_model(p["reporter"], "gpt") == own
    assert selectors.usable_model(p["reporter"], "gpt", "group") == in_group
    assert selectors.usable_model(p["reporter"], "gpt", "public") == public
    assert selectors.usable_model(p["developer"], "gpt") == in_group
    assert selectors.usable_model(p["developer"], "gpt", "user") is None
    assert selectors.usable_model(p["stranger"], "gpt") == public
    assert selectors.usable_model(p["stranger"], "gpt", "group") is None
    assert selectors.usable_model(p["stranger"], "other") is None


def test_spec_views_read_what_is_there_and_default_the_rest() -> None:
    team = TeamView.of(
        {
            "members": [
                {"botRef": {"name": "a"}, "prompt": "p", "role": "lead", "requireConfirmation": True},
                "not a member",
                {"botRef": "not a ref", "prompt": 3},
            ],
            "collaborationModel": "pipeline",
        }
    )
    assert team.collaboration_model == "pipeline"
    assert [(m.bot_name, m.prompt, m.role, m.require_confirmation) for m in team.members] == [
        ("a", "p", "lead", True),
        ("", "", "", False),
    ]
    assert TeamView.of(None) == TeamView() and TeamView.of({"members": "x"}).members == ()

    bot = BotView.of({"ghostRef": {"name": "g"}, "shellRef": ["wrong"]})
    assert (bot.ghost_ref, bot.shell_ref, bot.model_ref) == ({"name": "g"}, None, None)

    ghost = GhostView.of(
        {"systemPrompt": None, "mcpServers": [], "skills": ["a", 1, "b"], "preload_skills": "x"}
    )
    assert (ghost.system_prompt, ghost.mcp_servers, ghost.skills, ghost.preload_skills) == (
        "",
        {},
        ("a", "b"),
        (),
    )

    shell = ShellView.of({"shellType": "ClaudeCode", "supportModel": ["openai", None]})
    assert (shell.shell_type, shell.support_model) == ("ClaudeCode", ("openai",))
    assert ShellView.of("garbage") == ShellView()
