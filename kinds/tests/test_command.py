"""``manage.py kinds apply|get|delete``: files, directories, stdin, namespaces, failures, output."""

from __future__ import annotations

import io
import json
import sys

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole, SystemRole
from kinds import skills
from kinds.init_data import INIT_DATA_DIR
from kinds.management.commands.kinds import Command
from kinds.models import Kind
from kinds.services import Owner
from kinds.tests.factories import bot_doc, ghost_doc, model_doc, shell_doc, team_doc
from wegent import crypto

pytestmark = pytest.mark.django_db

SECRET = "sk-command-secret-1234567890"


@pytest.fixture
def admin(make_user):  # type: ignore[no-untyped-def]
    return make_user("admin", role=SystemRole.ADMIN)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("kinds", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str) -> tuple[CommandError, str]:
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("kinds", *args, stdout=out, stderr=io.StringIO())
    return caught.value, out.getvalue()


def write_yaml(path, *documents) -> str:  # type: ignore[no-untyped-def]
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return str(path)


def stack_documents(prefix: str = "c") -> list[dict]:
    # Referrers first: the command must still create what they refer to before them.
    return [
        team_doc(f"{prefix}-team", [f"{prefix}-bot"]),
        bot_doc(f"{prefix}-bot", f"{prefix}-ghost", f"{prefix}-shell"),
        ghost_doc(f"{prefix}-ghost", "Answer briefly."),
        shell_doc(f"{prefix}-shell"),
    ]


def rows(**filters) -> dict[tuple[str, str], Kind]:  # type: ignore[no-untyped-def]
    return {(row.kind, row.name): row for row in Kind.objects.filter(**filters)}


# --- apply ----------------------------------------------------------------------------------------


def test_apply_multi_document_file_in_dependency_order(tmp_path, user):
    path = write_yaml(tmp_path / "stack.yaml", *stack_documents())
    out, _ = run("apply", "-f", path, "--as", "alice")
    assert out.splitlines() == [
        "ghost/c-ghost created",
        "shell/c-shell created",
        "bot/c-bot created",
        "team/c-team created",
        "Applied 4/4 resources in namespace 'default'",
    ]
    created = rows(owner=user, namespace="default")
    assert set(created) == {("Ghost", "c-ghost"), ("Shell", "c-shell"), ("Bot", "c-bot"), ("Team", "c-team")}
    assert created[("Ghost", "c-ghost")].spec["systemPrompt"] == "Answer briefly."

    # Applying the same file again changes nothing; an edited document updates its row.
    again, _ = run("apply", "-f", path, "--as", "alice")
    assert again.splitlines()[:4] == [
        "ghost/c-ghost unchanged",
        "shell/c-shell unchanged",
        "bot/c-bot unchanged",
        "team/c-team unchanged",
    ]
    documents = stack_documents()
    documents[2]["spec"]["systemPrompt"] = "Answer in detail."
    write_yaml(tmp_path / "stack.yaml", *documents)
    edited, _ = run("apply", "-f", path, "--as", "alice")
    assert "ghost/c-ghost updated" in edited.splitlines()
    ghost = Kind.objects.get(owner=user, kind="Ghost", name="c-ghost")
    assert ghost.spec["systemPrompt"] == "Answer in detail."
    assert ghost.resource_version == 2


def test_apply_defaults_to_the_admin_user(tmp_path, admin):
    path = write_yaml(tmp_path / "g.yaml", ghost_doc("admins-ghost"))
    out, _ = run("apply", "-f", path)
    assert out.splitlines()[0] == "ghost/admins-ghost created"
    assert Kind.objects.get(name="admins-ghost").owner == admin


def test_apply_to_a_group_as_a_member(tmp_path, user, make_user):
    owner = make_user("group-owner")
    group = Group.objects.create(name="eng", owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)
    GroupMember.objects.create(group=group, user=user, role=GroupRole.DEVELOPER)
    documents = [
        team_doc("g-team", ["g-bot"], namespace="eng"),
        bot_doc("g-bot", "g-ghost", "g-shell", namespace="eng"),
        ghost_doc("g-ghost"),
        shell_doc("g-shell"),
    ]
    path = write_yaml(tmp_path / "group.yaml", *documents)
    out, _ = run("apply", "-f", path, "-n", "eng", "--as", "alice")
    assert out.splitlines()[-1] == "Applied 4/4 resources in namespace 'eng'"
    created = rows(namespace="eng")
    assert len(created) == 4
    assert all(row.owner == user for row in created.values())
    assert not Kind.objects.filter(namespace="default").exists()


def test_apply_without_n_uses_each_documents_namespace(tmp_path, user, make_user):
    owner = make_user("group-owner")
    group = Group.objects.create(name="ops", owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)
    GroupMember.objects.create(group=group, user=user, role=GroupRole.MAINTAINER)
    in_group = ghost_doc("shared-ghost")
    in_group["metadata"]["namespace"] = "ops"
    path = write_yaml(tmp_path / "mixed.yaml", in_group, ghost_doc("own-ghost"))
    out, _ = run("apply", "-f", path, "--as", "alice")
    lines = out.splitlines()
    assert lines == [
        "ghost/own-ghost created",
        "Applied 1/1 resources in namespace 'default'",
        "ghost/shared-ghost created",
        "Applied 1/1 resources in namespace 'ops'",
    ]
    assert Kind.objects.get(name="shared-ghost").namespace == "ops"
    assert Kind.objects.get(name="own-ghost").namespace == "default"


def test_apply_to_a_group_without_a_role_fails_every_item(tmp_path, user, make_user):
    owner = make_user("group-owner")
    group = Group.objects.create(name="closed", owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)
    GroupMember.objects.create(group=group, user=user, role=GroupRole.REPORTER)
    path = write_yaml(tmp_path / "g.yaml", ghost_doc("nope"))
    error, out = run_failing("apply", "-f", path, "-n", "closed", "--as", "alice")
    assert out.splitlines() == [
        "ghost/nope failed: Namespace 'closed' not found or permission denied",
        "Applied 0/1 resources in namespace 'closed'",
    ]
    assert error.returncode == 1
    assert str(error) == "1 of 1 resources failed"
    assert not Kind.objects.exists()


def test_dry_run_writes_nothing(tmp_path, user):
    path = write_yaml(tmp_path / "stack.yaml", *stack_documents())
    out, _ = run("apply", "-f", path, "--as", "alice", "--dry-run")
    assert out.splitlines()[:4] == [
        "ghost/c-ghost created",
        "shell/c-shell created",
        "bot/c-bot created",
        "team/c-team created",
    ]
    assert (
        out.splitlines()[-1]
        == "Would apply 4/4 resources in namespace 'default' (dry run: nothing was written)"
    )
    assert not Kind.objects.exists()


def test_failed_item_is_reported_and_exit_code_is_non_zero(tmp_path, user):
    path = write_yaml(
        tmp_path / "bad.yaml",
        ghost_doc("fine-ghost"),
        bot_doc("broken-bot", "missing-ghost", "missing-shell"),
        {"kind": "Ghost", "metadata": {"name": "no-spec"}},
    )
    error, out = run_failing("apply", "-f", path, "--as", "alice")
    lines = out.splitlines()
    assert lines[0] == "ghost/fine-ghost created"
    assert lines[1].startswith("ghost/no-spec failed: Invalid Ghost resource:")
    assert "\n" not in lines[1]
    assert lines[2] == "bot/broken-bot failed: Ghost 'missing-ghost' not found in namespace 'default'"
    assert lines[3] == "Applied 1/3 resources in namespace 'default'"
    assert error.returncode == 1
    assert str(error) == "2 of 3 resources failed"
    # The good item stays; the failing ones wrote nothing.
    assert set(rows()) == {("Ghost", "fine-ghost")}


def test_apply_reads_a_directory_of_yaml_and_json_files_in_order(tmp_path, user):
    folder = tmp_path / "resources"
    folder.mkdir()
    write_yaml(folder / "01-ghost.yaml", ghost_doc("d-ghost"))
    (folder / "02-shell.yml").write_text(yaml.safe_dump(shell_doc("d-shell")))
    (folder / "03-bot.json").write_text(json.dumps([bot_doc("d-bot", "d-ghost", "d-shell")]))
    (folder / "notes.txt").write_text("not a resource: [")
    out, _ = run("apply", "-f", str(folder), "--as", "alice")
    assert out.splitlines()[-1] == "Applied 3/3 resources in namespace 'default'"
    assert set(rows(owner=user)) == {("Ghost", "d-ghost"), ("Shell", "d-shell"), ("Bot", "d-bot")}


def test_apply_reads_stdin(monkeypatch, user):
    text = yaml.safe_dump_all([ghost_doc("stdin-ghost"), shell_doc("stdin-shell")])
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    out, _ = run("apply", "-f", "-", "--as", "alice")
    assert out.splitlines() == [
        "ghost/stdin-ghost created",
        "shell/stdin-shell created",
        "Applied 2/2 resources in namespace 'default'",
    ]


def test_apply_reads_json_from_stdin(monkeypatch, user):
    monkeypatch.setattr(
        sys, "stdin", io.StringIO(json.dumps({"kind": "GhostList", "items": [ghost_doc("j")]}))
    )
    out, _ = run("apply", "-f", "-", "--as", "alice")
    assert out.splitlines()[0] == "ghost/j created"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kind: Ghost\nmetadata:\n  name: [unclosed\n", "invalid YAML"),
        ("kind: Ghost\n  bad indent: here\n", "invalid YAML"),
        ("- just\n- strings\n", "document 1 is not a resource"),
        ("", "no resources found"),
    ],
)
def test_malformed_input_is_refused_with_a_clear_message(tmp_path, user, content, message):
    path = tmp_path / "broken.yaml"
    path.write_text(content)
    error, out = run_failing("apply", "-f", str(path), "--as", "alice")
    assert message in str(error)
    assert str(path) in str(error)
    assert out == ""
    assert not Kind.objects.exists()


def test_yaml_error_names_the_line(tmp_path, user):
    path = tmp_path / "broken.yaml"
    path.write_text("kind: Ghost\nmetadata:\n  name: ok\n---\nkind: Ghost\nmetadata: {name: [\n")
    error, _ = run_failing("apply", "-f", str(path), "--as", "alice")
    assert "line 7" in str(error) or "line 6" in str(error)
    assert not Kind.objects.exists()


def test_invalid_json_file_names_the_line(tmp_path, user):
    path = tmp_path / "broken.json"
    path.write_text('{"kind": "Ghost",\n "metadata": }')
    error, _ = run_failing("apply", "-f", str(path), "--as", "alice")
    assert str(error).startswith(f"{path}: invalid JSON:")
    assert "line 2" in str(error)


def test_missing_file_and_unknown_user(tmp_path, user):
    error, _ = run_failing("apply", "-f", str(tmp_path / "nope.yaml"), "--as", "alice")
    assert str(error) == f"{tmp_path / 'nope.yaml'}: no such file or directory"
    empty = tmp_path / "empty"
    empty.mkdir()
    error, _ = run_failing("apply", "-f", str(empty), "--as", "alice")
    assert "no .yaml, .yml or .json files" in str(error)
    path = write_yaml(tmp_path / "g.yaml", ghost_doc("g"))
    error, _ = run_failing("apply", "-f", path, "--as", "nobody")
    assert str(error).startswith("User 'nobody' not found")
    # Without --as the command acts as "admin", which does not exist here.
    error, _ = run_failing("apply", "-f", path)
    assert str(error).startswith("User 'admin' not found")
    assert not Kind.objects.exists()


def test_command_line_exit_codes_without_traceback(tmp_path, user, capsys, monkeypatch):
    # run_from_argv closes the database connections when it ends; the test database must stay open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [\n")
    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "kinds", "apply", "-f", str(bad), "--as", "alice"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "CommandError:" in err and "invalid YAML" in err
    assert "Traceback" not in err

    failing = write_yaml(tmp_path / "fail.yaml", bot_doc("b", "missing", "missing"))
    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "kinds", "apply", "-f", failing, "--as", "alice"])
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "bot/b failed: Ghost 'missing' not found in namespace 'default'" in captured.out
    assert "Traceback" not in captured.err

    ok = write_yaml(tmp_path / "ok.yaml", ghost_doc("fine"))
    Command().run_from_argv(["manage.py", "kinds", "apply", "-f", ok, "--as", "alice"])
    assert "ghost/fine created" in capsys.readouterr().out


def test_bad_arguments_are_command_errors():
    with pytest.raises(CommandError):
        call_command("kinds", "apply", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError):
        call_command("kinds", "explode", stdout=io.StringIO(), stderr=io.StringIO())


# --- public resources -----------------------------------------------------------------------------


def test_public_apply_get_delete_as_admin(tmp_path, admin, user):
    path = write_yaml(tmp_path / "public.yaml", shell_doc("PubShell"), ghost_doc("pub-ghost"))
    out, _ = run("apply", "-f", path, "--public")
    assert out.splitlines()[-1] == "Applied 2/2 resources in public resources"
    assert all(row.owner is None for row in Kind.objects.all())

    listed, _ = run("get", "shells", "--public", "-o", "json")
    assert [item["metadata"]["name"] for item in json.loads(listed)["items"]] == ["PubShell"]
    # Public rows are not the admin's own rows.
    own, _ = run("get", "shells", "-o", "json")
    assert json.loads(own)["items"] == []

    # A user can now build on the public shell.
    mine = write_yaml(tmp_path / "mine.yaml", ghost_doc("mine"), bot_doc("my-bot", "mine", "PubShell"))
    run("apply", "-f", mine, "--as", "alice")
    assert Kind.objects.get(name="my-bot").owner == user

    delete_path = write_yaml(tmp_path / "del.yaml", ghost_doc("pub-ghost"))
    deleted, _ = run("delete", "-f", delete_path, "--public")
    assert deleted.splitlines()[0] == "ghost/pub-ghost deleted"
    assert not Kind.objects.filter(name="pub-ghost").exists()


def test_public_needs_an_admin_and_the_default_namespace(tmp_path, admin, user):
    path = write_yaml(tmp_path / "public.yaml", ghost_doc("pub"))
    error, _ = run_failing("apply", "-f", path, "--public", "--as", "alice")
    assert str(error) == "--public needs a system admin; 'alice' is not one"
    error, _ = run_failing("apply", "-f", path, "--public", "-n", "eng")
    assert str(error) == "Public resources live in the 'default' namespace"
    assert not Kind.objects.exists()


# --- get --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ghost", "ghosts", "Ghost", "GHOSTS"])
def test_get_one_as_yaml_accepts_any_spelling_of_the_kind(make_kind, user, kind):
    make_kind(user, ghost_doc("shown", "Line one.\nLine two."))
    out, _ = run("get", kind, "shown", "--as", "alice")
    document = yaml.safe_load(out)
    assert document["kind"] == "Ghost"
    assert document["metadata"]["name"] == "shown"
    assert document["metadata"]["resourceVersion"] == "1"
    assert document["spec"]["systemPrompt"] == "Line one.\nLine two."
    # Multi-line prompts are written as readable blocks.
    assert "systemPrompt: |" in out


def test_get_list_as_json(make_kind, user, other_user):
    make_kind(user, ghost_doc("a"))
    make_kind(user, ghost_doc("b"))
    make_kind(other_user, ghost_doc("not-mine"))
    out, _ = run("get", "ghosts", "--as", "alice", "-o", "json")
    listing = json.loads(out)
    assert listing["kind"] == "GhostList"
    assert listing["apiVersion"] == "agent.wecode.io/v1"
    assert [item["metadata"]["name"] for item in listing["items"]] == ["a", "b"]


def test_get_masks_secrets(make_kind, user):
    make_kind(user, model_doc("m", api_key=SECRET))
    for output in ("yaml", "json"):
        out, _ = run("get", "model", "m", "--as", "alice", "-o", output)
        assert SECRET not in out
        assert "enc:v1:" not in out
        assert crypto.mask(SECRET) in out


def test_get_output_applies_back_unchanged(tmp_path, make_kind, user):
    make_kind(user, model_doc("round", api_key=SECRET))
    out, _ = run("get", "models", "--as", "alice")
    (tmp_path / "models.yaml").write_text(out)
    applied, _ = run("apply", "-f", str(tmp_path / "models.yaml"), "--as", "alice")
    assert applied.splitlines()[0] == "model/round unchanged"
    row = Kind.objects.get(name="round")
    assert crypto.decrypt(row.spec["modelConfig"]["env"]["api_key"]) == SECRET


def test_get_in_a_group(make_kind, user, make_user):
    owner = make_user("group-owner")
    group = Group.objects.create(name="readers", owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)
    make_kind(owner, ghost_doc("group-ghost"), "readers")
    error, _ = run_failing("get", "ghosts", "-n", "readers", "--as", "alice")
    assert str(error) == "Namespace 'readers' not found or permission denied"
    GroupMember.objects.create(group=group, user=user, role=GroupRole.REPORTER)
    out, _ = run("get", "ghost", "group-ghost", "-n", "readers", "--as", "alice", "-o", "json")
    assert json.loads(out)["metadata"]["namespace"] == "readers"


def test_get_unknown_kind_or_name(make_kind, user):
    error, _ = run_failing("get", "widgets", "--as", "alice")
    assert str(error).startswith("Unknown kind 'widgets'. Valid kinds: ghosts, models, shells")
    error, _ = run_failing("get", "ghost", "missing", "--as", "alice")
    assert str(error) == "Ghost 'missing' not found in namespace 'default'"
    error, _ = run_failing("get", "ghost", "x", "-o", "xml", "--as", "alice")
    assert "invalid choice" in str(error)


# --- delete -----------------------------------------------------------------------------------------


def test_delete_removes_referrers_first(tmp_path, user, bot_stack):
    bot_stack(user, "d")
    # Listed in creation order; the command must delete the team before the bot, and so on.
    documents = [
        ghost_doc("d-ghost"),
        shell_doc("d-shell"),
        model_doc("d-model"),
        bot_doc("d-bot", "d-ghost", "d-shell"),
        team_doc("d-team", ["d-bot"]),
    ]
    path = write_yaml(tmp_path / "stack.yaml", *documents)
    out, _ = run("delete", "-f", path, "--as", "alice")
    lines = out.splitlines()
    assert lines[0] == "team/d-team deleted"
    assert lines[1] == "bot/d-bot deleted"
    assert sorted(lines[2:5]) == ["ghost/d-ghost deleted", "model/d-model deleted", "shell/d-shell deleted"]
    assert lines[5] == "Deleted 5/5 resources in namespace 'default'"
    assert not Kind.objects.exists()


def test_delete_refused_while_referenced_and_for_missing_rows(tmp_path, user, bot_stack):
    bot_stack(user, "r")
    path = write_yaml(tmp_path / "ghost.yaml", ghost_doc("r-ghost"), ghost_doc("never-there"))
    error, out = run_failing("delete", "-f", path, "--as", "alice")
    lines = out.splitlines()
    assert lines[0].startswith(
        "ghost/r-ghost failed: Ghost 'r-ghost' is still referenced by Bot default/r-bot"
    )
    assert lines[1] == "ghost/never-there failed: Ghost 'never-there' not found"
    assert error.returncode == 1
    assert Kind.objects.filter(name="r-ghost").exists()


def test_delete_dry_run_keeps_rows(tmp_path, user, make_kind):
    make_kind(user, ghost_doc("kept"))
    path = write_yaml(tmp_path / "g.yaml", ghost_doc("kept"))
    out, _ = run("delete", "-f", path, "--as", "alice", "--dry-run")
    assert out.splitlines() == [
        "ghost/kept deleted",
        "Would delete 1/1 resources in namespace 'default' (dry run: nothing was written)",
    ]
    assert Kind.objects.filter(name="kept").exists()


def test_get_public_skills_shows_their_ids(admin):
    row = skills.store_skill(
        actor=admin,
        owner=Owner(None),
        namespace="default",
        name="ui-links",
        archive=skills.archive_folder(INIT_DATA_DIR / "skills" / "ui-links"),
        filename="ui-links.zip",
    )
    out, _ = run("get", "skill", "--public", "-o", "json")
    items = json.loads(out)["items"]
    assert [item["metadata"]["name"] for item in items] == ["ui-links"]
    assert items[0]["metadata"]["labels"] == {"id": str(row.pk), "user_id": "0"}
    assert items[0]["spec"]["bindShells"] == ["Chat"]
    one, _ = run("get", "Skills", "ui-links", "--public")
    assert yaml.safe_load(one)["spec"]["version"] == "1.1.0"
