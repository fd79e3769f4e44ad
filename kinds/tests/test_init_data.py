"""Init data: ``manage.py bootstrap`` seeds public Skills, Shells, Ghosts, Bots and Teams, create-only."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import yaml
from django.core.management import call_command

from accounts import hooks
from accounts.models import User
from accounts.roles import SystemRole
from kinds import registry, selectors, services
from kinds.init_data import INIT_DATA_DIR, apply_init_data
from kinds.models import Kind, KindReference, SkillBinary
from kinds.tests.factories import bot_doc, ghost_doc

pytestmark = pytest.mark.django_db

SHELLS = {"ClaudeCode", "Agno", "Dify", "Chat"}
SKILLS = {
    "mermaid-diagram",
    "sandbox",
    "ui-links",
    "browser",
    "wiki_submit",
    "wegent-knowledge",
    "skill-creator",
}
# team -> (displayName, bind_mode, collaborationModel, [(bot, ghost, shell)], ghost skills of the leader)
TEAMS = {
    "dev-team": (None, ["code"], "solo", [("developer-bot", "developer-ghost", "ClaudeCode")]),
    "spec-dev-team": (
        None,
        ["code"],
        "pipeline",
        [("spec-bot", "spec-ghost", "ClaudeCode"), ("developer-bot", "developer-ghost", "ClaudeCode")],
    ),
    "translator": (None, ["chat"], "solo", [("translator-bot", "translator-ghost", "Chat")]),
    "wiki-team": (None, [], "solo", [("wiki-bot", "wiki-ghost", "ClaudeCode")]),
    "wegent-chat": ("Wegent Chat", ["chat"], "solo", [("chat-bot", "chat-ghost", "Chat")]),
    "wegent-notebook": (
        "Wegent Notebook",
        ["knowledge"],
        "solo",
        [("wegent-knowledge-bot", "wegent-knowledge", "Chat")],
    ),
    "wegent-wework": (
        "Wegent Wework",
        ["task"],
        "solo",
        [("wegent-wework-bot", "wegent-wework", "ClaudeCode")],
    ),
}
GHOST_SKILLS = {
    "developer-ghost": None,
    "spec-ghost": None,
    "translator-ghost": None,
    "wiki-ghost": ["wiki_submit"],
    "chat-ghost": ["mermaid-diagram", "sandbox", "ui-links"],
    "wegent-knowledge": ["mermaid-diagram"],
    "wegent-wework": ["mermaid-diagram", "browser"],
}


@pytest.fixture
def bootstrap_with_init_data() -> Iterator[None]:
    """``apply_init_data`` registered as a bootstrap step (as kinds/apps.py does)."""
    with hooks.bootstrap_steps.registered(apply_init_data):
        yield


@pytest.fixture
def seeded(make_user) -> User:  # type: ignore[no-untyped-def]
    admin = make_user("admin", role=SystemRole.ADMIN)
    apply_init_data()
    return admin


def public_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in Kind.objects.filter(owner__isnull=True, is_active=True):
        counts[row.kind] = counts.get(row.kind, 0) + 1
    return counts


def snapshot() -> dict[int, tuple]:
    return {
        row.pk: (row.kind, row.name, row.resource_version, row.document, row.updated_at)
        for row in Kind.objects.all()
    }


def test_bootstrap_applies_init_data(bootstrap_with_init_data):
    out = io.StringIO()
    call_command("bootstrap", stdout=out, stderr=io.StringIO())
    lines = out.getvalue().splitlines()
    assert (
        "Init data: 7 skills, 4 shells, 7 ghosts, 7 bots, 7 teams created; 0 changed; 0 already present"
        in (" ".join(lines))
    )
    assert not any("failed" in line for line in lines)
    assert public_counts() == {"Skill": 7, "Shell": 4, "Ghost": 7, "Bot": 7, "Team": 7}
    # Every seeded row is public, in the default namespace; no Models are seeded.
    assert not Kind.objects.filter(owner__isnull=False).exists()
    assert set(Kind.objects.values_list("namespace", flat=True)) == {"default"}
    assert not Kind.objects.filter(kind="Model").exists()

    again = io.StringIO()
    call_command("bootstrap", stdout=again, stderr=io.StringIO())
    assert "Init data: nothing created; 0 changed; 32 already present" in again.getvalue()


def test_public_shells(seeded):
    shells = {row.name: row for row in Kind.objects.filter(kind="Shell")}
    assert set(shells) == SHELLS
    labels = {name: row.document["metadata"]["labels"]["type"] for name, row in shells.items()}
    assert labels == {
        "ClaudeCode": "local_engine",
        "Agno": "local_engine",
        "Dify": "external_api",
        "Chat": "direct_chat",
    }
    for name in ("ClaudeCode", "Agno"):
        assert shells[name].spec["shellType"] == name
        assert shells[name].spec["baseImage"] == "ghcr.io/wecode-ai/wegent-executor:latest"
        assert shells[name].spec["supportModel"] == []
    assert shells["Dify"].spec["shellType"] == "Dify"
    assert shells["Chat"].spec["supportModel"] == ["claude", "openai", "gemini"]
    assert shells["Chat"].display_name == "Chat"


@pytest.mark.parametrize("team_name", sorted(TEAMS))
def test_public_teams_resolve_to_their_bots_ghosts_and_shells(seeded, team_name):
    display_name, bind_mode, mode, members = TEAMS[team_name]
    team = selectors.resolve(None, "Team", team_name)
    assert team is not None and team.is_public
    assert team.display_name == display_name
    assert team.spec["bind_mode"] == bind_mode
    assert team.spec["collaborationModel"] == mode
    assert [m["botRef"]["name"] for m in team.spec["members"]] == [bot for bot, _, _ in members]
    for bot_name, ghost_name, shell_name in members:
        bot = selectors.resolve(None, "Bot", bot_name)
        assert bot is not None and bot.is_public
        assert bot.spec["ghostRef"]["name"] == ghost_name
        assert bot.spec["shellRef"]["name"] == shell_name
        assert bot.spec["modelRef"] is None
        ghost = selectors.resolve(None, "Ghost", ghost_name)
        shell = selectors.resolve(None, "Shell", shell_name)
        assert ghost is not None and shell is not None
        assert ghost.spec["systemPrompt"].strip()
        assert ghost.spec["skills"] == GHOST_SKILLS[ghost_name]
        for skill_name in ghost.spec["skills"] or []:
            skill = selectors.public_row("Skill", skill_name)
            assert skill is not None
            assert SkillBinary.objects.filter(kind=skill).exists()
    # The reference edges were recorded, so the seeded rows are protected from deletion.
    assert KindReference.objects.filter(source=team, target_kind="Bot").count() == len(members)


def test_spec_dev_team_pipeline_confirmation(seeded):
    team = selectors.public_row("Team", "spec-dev-team")
    members = team.spec["members"]
    assert [(m["botRef"]["name"], m["requireConfirmation"]) for m in members] == [
        ("spec-bot", True),
        ("developer-bot", False),
    ]
    assert members[0]["role"] == "leader"
    assert selectors.public_row("Ghost", "translator-ghost").spec["mcpServers"] == {}


def test_public_skills_read_their_front_matter(seeded):
    skills = {row.name: row for row in Kind.objects.filter(kind="Skill")}
    assert set(skills) == SKILLS
    expected = {
        "mermaid-diagram": ("2.0.0", ["Chat"]),
        "sandbox": ("2.1.0", ["Chat"]),
        "ui-links": ("1.1.0", ["Chat"]),
        "wegent-knowledge": ("1.0.0", ["Chat", "Agno", "ClaudeCode"]),
        # No bindShells in the front matter: the upload default applies.
        "browser": ("1.0.0", ["ClaudeCode"]),
        "wiki_submit": ("1.0.0", ["ClaudeCode"]),
        "skill-creator": ("1.0.0", ["ClaudeCode"]),
    }
    for name, (version, shells) in expected.items():
        spec = skills[name].spec
        assert (spec["version"], spec["bindShells"]) == (version, shells), name
        assert spec["description"] and spec["displayName"] and spec["prompt"]
        assert skills[name].is_public


def test_shipped_yaml_holds_only_seeded_kinds():
    kinds = set()
    for path in sorted(INIT_DATA_DIR.glob("*.yaml")):
        kinds |= {doc["kind"] for doc in yaml.safe_load_all(path.read_text()) if doc}
    assert kinds == {"Shell", "Ghost", "Bot", "Team"}
    assert {p.parent.name for p in (INIT_DATA_DIR / "skills").glob("*/SKILL.md")} == SKILLS


def test_rerun_creates_and_changes_nothing(seeded):
    before = snapshot()
    counts = public_counts()
    assert apply_init_data() == "Init data: nothing created; 0 changed; 32 already present (left as they are)"
    assert snapshot() == before
    assert public_counts() == counts


def test_admin_edits_are_kept(seeded):
    ghost = selectors.public_row("Ghost", "chat-ghost")
    edited = {**ghost.document, "spec": {**ghost.spec, "systemPrompt": "Site-specific prompt."}}
    services.update_resource(
        actor=seeded,
        kind_type=registry.by_kind("Ghost"),
        namespace="default",
        name="chat-ghost",
        body=edited,
        owner=services.Owner(None),
    )
    shell = selectors.public_row("Shell", "Chat")
    services.update_resource(
        actor=seeded,
        kind_type=registry.by_kind("Shell"),
        namespace="default",
        name="Chat",
        body={**shell.document, "spec": {**shell.spec, "supportModel": ["openai"]}},
        owner=services.Owner(None),
    )
    apply_init_data()
    ghost = selectors.public_row("Ghost", "chat-ghost")
    assert ghost.spec["systemPrompt"] == "Site-specific prompt."
    assert ghost.resource_version == 2
    assert selectors.public_row("Shell", "Chat").spec["supportModel"] == ["openai"]


def test_missing_public_rows_are_recreated(seeded):
    services.delete_resource(
        actor=seeded,
        kind_type=registry.by_kind("Team"),
        namespace="default",
        name="translator",
        owner=services.Owner(None),
    )
    assert apply_init_data() == "Init data: 1 team created; 0 changed; 31 already present (left as they are)"
    assert selectors.public_row("Team", "translator") is not None


def test_users_can_build_on_the_seeded_resources(seeded, user, make_kind):
    make_kind(user, ghost_doc("my-ghost", skills=["sandbox"]))
    bot = make_kind(user, bot_doc("my-bot", "my-ghost", "Chat"))
    assert bot.owner == user
    # A user's own rows with the seeded names do not disturb (or get disturbed by) init data.
    make_kind(user, ghost_doc("chat-ghost", "Mine."))
    assert apply_init_data().startswith("Init data: nothing created")
    assert selectors.find(user, "Ghost", "default", "chat-ghost").spec["systemPrompt"] == "Mine."


def test_failures_are_reported_not_raised(seeded, tmp_path):
    (tmp_path / "01-extra.yaml").write_text(
        yaml.safe_dump_all(
            [
                ghost_doc("extra-ghost"),
                bot_doc("broken-bot", "no-such-ghost", "Chat"),
                {"kind": "Model", "metadata": {"name": "ignored-model"}, "spec": {"modelConfig": {}}},
            ]
        )
    )
    summary = apply_init_data(tmp_path)
    lines = summary.splitlines()
    assert lines[0] == "Init data: 1 ghost created; 0 changed; 0 already present (left as they are); 1 failed"
    assert lines[1] == "  failed: bot/broken-bot: Ghost 'no-such-ghost' not found in namespace 'default'"
    assert selectors.public_row("Ghost", "extra-ghost") is not None
    assert not Kind.objects.filter(name__in=["broken-bot", "ignored-model"]).exists()


def test_malformed_init_file_is_reported(seeded, tmp_path):
    (tmp_path / "bad.yaml").write_text("kind: [\n")
    summary = apply_init_data(tmp_path)
    assert "1 failed" in summary.splitlines()[0]
    assert "invalid YAML" in summary


def test_without_an_admin_nothing_is_seeded(make_user):
    make_user("admin")  # a plain user called admin cannot write public rows
    assert apply_init_data() == "Init data: skipped (no active system admin to write public resources)"
    assert not Kind.objects.exists()


def test_another_admin_is_used_when_admin_is_missing(admin_user):
    assert apply_init_data().startswith("Init data: 7 skills, 4 shells")
    assert public_counts()["Team"] == 7
