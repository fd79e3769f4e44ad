"""The Kinds console beyond editing one document: skill archives, who refers to a row, the
"Apply YAML" page (preview, confirm, delete), the admin history and the permission gates."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import Group, GroupMember, User
from accounts.roles import GroupRole
from accounts.tests.factories import PASSWORD
from kinds import selectors, skills
from kinds.init_data import dump_yaml
from kinds.models import Kind, SkillBinary
from kinds.tests.factories import ghost_doc, make_skill, model_doc, skill_archive
from wegent import crypto

pytestmark = pytest.mark.django_db

APPLY_URL = "admin:kinds_kind_apply"


def login(user: User) -> Client:
    client = Client()
    assert client.login(username=user.user_name, password=PASSWORD)
    return client


@pytest.fixture
def console(admin_user) -> Client:
    return login(admin_user)


def change_url(row: Kind) -> str:
    return reverse("admin:kinds_kind_change", args=[row.pk])


def body_of(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.content.decode())


def logged(row_or_pk, flag: int) -> list[LogEntry]:  # type: ignore[no-untyped-def]
    pk = row_or_pk if isinstance(row_or_pk, int) else row_or_pk.pk
    return list(LogEntry.objects.filter(object_id=str(pk), action_flag=flag))


# --- skills: a new archive --------------------------------------------------------------------------


def upload(console: Client, row: Kind, data: bytes, filename: str | None = None):  # type: ignore[no-untyped-def]
    archive = SimpleUploadedFile(filename or f"{row.name}.zip", data, "application/zip")
    return console.post(change_url(row), {"archive": archive, "_save": "Save"})


def test_skill_page_takes_a_new_archive_through_the_skill_service(console, user, admin_user):
    skill = make_skill(user, "summarise", body="Version one.", description="first")
    page = console.get(change_url(skill))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="archive"' in text and 'enctype="multipart/form-data"' in text
    assert 'name="document_yaml"' not in text  # the document is read from the archive

    response = upload(console, skill, skill_archive("summarise", description="second", body="Version two."))
    assert response.status_code == 302, body_of(response)[:2000]
    skill.refresh_from_db()
    assert skill.resource_version == 2
    assert skill.spec["description"] == "second"
    assert skill.owner == user  # still alice's skill, written on her behalf
    assert "Version two." in skills.skill_instructions(skill)
    binary = SkillBinary.objects.get(kind=skill)
    assert binary.file_size == len(skill_archive("summarise", description="second", body="Version two."))
    assert len(logged(skill, CHANGE)) == 1


def test_public_skill_archive_replaced_by_the_operator(console, admin_user):
    skill = make_skill(admin_user, "public-helper", public=True, description="old")
    assert upload(console, skill, skill_archive("public-helper", description="new")).status_code == 302
    skill.refresh_from_db()
    assert skill.owner is None and skill.spec["description"] == "new"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a zip at all", "ZIP"),
        (skill_archive("steady", description=""), "description"),
        (skill_archive("other-name"), "must match the ZIP file name"),
    ],
)
def test_bad_archive_is_shown_on_the_form_and_changes_nothing(console, user, data, message):
    skill = make_skill(user, "steady", description="kept")
    before = (skill.document, skill.resource_version, SkillBinary.objects.get(kind=skill).file_hash)
    response = upload(console, skill, data)
    assert response.status_code == 200
    body = body_of(response)
    assert "errorlist" in body and message.lower() in body.lower()
    skill.refresh_from_db()
    assert (skill.document, skill.resource_version, SkillBinary.objects.get(kind=skill).file_hash) == before
    assert logged(skill, CHANGE) == []


def test_skill_upload_without_a_file_is_refused(console, user):
    skill = make_skill(user, "needs-file")
    response = console.post(change_url(skill), {"_save": "Save"})
    assert response.status_code == 200
    assert "This field is required" in body_of(response)


# --- who refers to this -----------------------------------------------------------------------------


def test_change_page_lists_who_refers_to_the_row(console, user, bot_stack):
    rows = bot_stack(user, "r")
    ghost_page = body_of(console.get(change_url(rows["ghost"])))
    assert "Who refers to this" in ghost_page
    assert f'href="{change_url(rows["bot"])}"' in ghost_page
    assert "Bot default/r-bot" in ghost_page
    bot_page = body_of(console.get(change_url(rows["bot"])))
    assert "Team default/r-team" in bot_page
    team_page = body_of(console.get(change_url(rows["team"])))
    assert "Nothing refers to it." in team_page


def test_skill_page_lists_the_ghosts_that_use_it(console, user, make_kind):
    skill = make_skill(user, "lookup")
    ghost = make_kind(user, ghost_doc("skilled", skills=["lookup"]))
    page = body_of(console.get(change_url(skill)))
    assert f'href="{change_url(ghost)}"' in page


# --- apply YAML -------------------------------------------------------------------------------------


GHOST_AND_MODEL = """
kind: Ghost
metadata: {name: pasted-ghost}
spec: {systemPrompt: Pasted in the console.}
---
kind: Model
metadata: {name: pasted-model}
spec:
  modelConfig:
    env: {model: openai, model_id: gpt-4o, api_key: sk-pasted-secret-123, base_url: "http://127.0.0.1:9/v1"}
"""


def post_apply(console: Client, text: str, *, action: str = "apply", write_as: str = "alice", **extra):  # type: ignore[no-untyped-def]
    data = {"documents": text, "action": action, "namespace": "default", "write_as": write_as}
    return console.post(reverse(APPLY_URL), {**data, **extra})


def previewed_digest(response) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r'name="previewed" value="([0-9a-f]{64})"', response.content.decode())
    assert match, response.content.decode()[:3000]
    return match.group(1)


def result_rows(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    table = re.search(r'<table id="outcome">(.*?)</table>', response.content.decode(), re.S)
    assert table, response.content.decode()[:3000]
    rows = re.findall(r"<tr class=\"\w+\">(.*?)</tr>", table.group(1), re.S)
    return [
        [html.unescape(cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in rows
    ]


def test_apply_page_is_linked_from_the_list(console):
    listing = console.get(reverse("admin:kinds_kind_changelist")).content.decode()
    assert reverse(APPLY_URL) in listing
    page = console.get(reverse(APPLY_URL))
    assert page.status_code == 200
    assert 'name="documents"' in page.content.decode()
    assert 'name="confirm"' not in page.content.decode()


def test_preview_writes_nothing_then_confirm_applies(console, user, admin_user):
    preview = post_apply(console, GHOST_AND_MODEL, preview="Preview")
    assert preview.status_code == 200
    assert result_rows(preview) == [
        ["Ghost", "pasted-ghost", "default", "would be created", ""],
        ["Model", "pasted-model", "default", "would be created", ""],
    ]
    assert "Preview (nothing written yet)" in body_of(preview)
    assert not Kind.objects.filter(name__startswith="pasted-").exists()
    digest = previewed_digest(preview)

    done = post_apply(console, GHOST_AND_MODEL, confirm="Confirm", previewed=digest)
    assert done.status_code == 200
    assert [row[3] for row in result_rows(done)] == ["created", "created"]
    ghost = Kind.objects.get(name="pasted-ghost")
    model = Kind.objects.get(name="pasted-model")
    assert ghost.owner == user and model.owner == user
    assert crypto.decrypt(model.spec["modelConfig"]["env"]["api_key"]) == "sk-pasted-secret-123"
    assert "sk-pasted-secret-123" not in done.content.decode()  # the page shows no secret back
    entries = LogEntry.objects.filter(action_flag=ADDITION).order_by("id")
    assert [(e.object_id, e.user_id) for e in entries] == [
        (str(ghost.pk), admin_user.pk),
        (str(model.pk), admin_user.pk),
    ]

    # Applying the same file again: the preview says "unchanged"; an edit says "updated".
    again = post_apply(console, GHOST_AND_MODEL.replace("Pasted in", "Re-pasted in"), preview="Preview")
    assert [row[3] for row in result_rows(again)] == ["would be updated", "would be unchanged"]
    confirmed = post_apply(
        console,
        GHOST_AND_MODEL.replace("Pasted in", "Re-pasted in"),
        confirm="Confirm",
        previewed=previewed_digest(again),
    )
    assert [row[3] for row in result_rows(confirmed)] == ["updated", "unchanged"]
    ghost.refresh_from_db()
    assert ghost.spec["systemPrompt"] == "Re-pasted in the console."
    assert len(logged(ghost, CHANGE)) == 1 and logged(model, CHANGE) == []


def test_confirm_needs_the_previewed_text(console, user):
    preview = post_apply(console, GHOST_AND_MODEL, preview="Preview")
    changed = GHOST_AND_MODEL.replace("pasted-ghost", "sneaked-in")
    response = post_apply(console, changed, confirm="Confirm", previewed=previewed_digest(preview))
    assert response.status_code == 200
    # Not written: the changed text is only previewed.
    assert "Preview (nothing written yet)" in body_of(response)
    assert not Kind.objects.filter(name__in=["sneaked-in", "pasted-ghost"]).exists()
    assert post_apply(console, GHOST_AND_MODEL, confirm="Confirm", previewed="0" * 64).status_code == 200
    assert not Kind.objects.filter(name="pasted-ghost").exists()


def test_preview_reports_errors_per_document(console, user, make_kind):
    text = """
kind: Bot
metadata: {name: broken-bot}
spec:
  ghostRef: {name: missing-ghost}
  shellRef: {name: missing-shell}
---
kind: Ghost
metadata: {name: fine-ghost}
spec: {systemPrompt: ok}
---
kind: Nonsense
metadata: {name: what}
---
- just a list
"""
    preview = post_apply(console, text, preview="Preview")
    rows = {(row[0], row[1]): row for row in result_rows(preview)}
    assert rows[("Ghost", "fine-ghost")][3] == "would be created"
    assert rows[("Bot", "broken-bot")][3] == "failed"
    assert "not found" in rows[("Bot", "broken-bot")][4]
    assert "Unsupported kind 'Nonsense'" in rows[("Nonsense", "what")][4]
    assert rows[("", "")][4] == "Each item must be a resource object"
    assert not Kind.objects.filter(name__in=["fine-ghost", "broken-bot"]).exists()
    # Confirming writes the good document only, each in its own savepoint.
    post_apply(console, text, confirm="Confirm", previewed=previewed_digest(preview))
    assert Kind.objects.filter(name="fine-ghost", owner=user).exists()
    assert not Kind.objects.filter(name="broken-bot").exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"documents": "kind: Ghost\nmetadata: {name: [\n"}, "Invalid YAML"),
        ({"documents": "---\n---\n"}, "No documents found."),
        ({"write_as": "nobody-here"}, "No active user named 'nobody-here'."),
        ({"namespace": "other"}, "name another namespace"),
        ({"action": "explode"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_shown_on_the_form(console, user, fields, message):
    text = "kind: Ghost\nmetadata: {name: g1, namespace: default}\nspec: {systemPrompt: x}\n"
    data = {"documents": text, "action": "apply", "namespace": "default", "write_as": "alice", "preview": "1"}
    response = console.post(reverse(APPLY_URL), {**data, **fields})
    assert response.status_code == 200
    assert message in body_of(response)
    assert 'id="outcome"' not in response.content.decode()
    assert not Kind.objects.filter(name="g1").exists()


def test_public_apply_and_the_namespace_rule(console, admin_user):
    text = "kind: Shell\nmetadata: {name: shared-shell}\nspec: {shellType: Chat}\n"
    preview = post_apply(console, text, write_as="", preview="Preview")
    post_apply(console, text, write_as="", confirm="Confirm", previewed=previewed_digest(preview))
    shell = Kind.objects.get(name="shared-shell")
    assert shell.owner is None


def test_group_apply_uses_the_writers_role(console, user, make_user):
    lead = make_user("lead")
    group = Group.objects.create(name="squad", owner=lead)
    GroupMember.objects.create(group=group, user=lead, role=GroupRole.OWNER)
    GroupMember.objects.create(group=group, user=user, role=GroupRole.REPORTER)
    text = "kind: Ghost\nmetadata: {name: squad-ghost}\nspec: {systemPrompt: x}\n"
    data = {"documents": text, "action": "apply", "namespace": "squad"}
    as_alice = console.post(reverse(APPLY_URL), {**data, "write_as": "alice", "preview": "1"})
    row = result_rows(as_alice)[0]
    assert row[3] == "failed" and "permission denied" in row[4]
    as_lead = console.post(reverse(APPLY_URL), {**data, "write_as": "lead", "preview": "1"})
    assert result_rows(as_lead)[0][3] == "would be created"


def test_delete_from_yaml_refuses_referenced_rows_and_logs_deletions(console, user, bot_stack, admin_user):
    rows = bot_stack(user, "d")
    text = dump_yaml(selectors.render(rows["ghost"]))
    preview = post_apply(console, text, action="delete", preview="Preview")
    [row] = result_rows(preview)
    assert row[3] == "failed" and "still referenced by Bot default/d-bot" in row[4]

    # The team, its bot and the ghost together: referrers go first, so all three can go.
    text = "---\n".join(dump_yaml(selectors.render(rows[key])) for key in ("ghost", "bot", "team"))
    preview = post_apply(console, text, action="delete", preview="Preview")
    assert sorted(row[3] for row in result_rows(preview)) == ["would be deleted"] * 3
    assert Kind.objects.filter(pk=rows["ghost"].pk).exists()
    done = post_apply(console, text, action="delete", confirm="Confirm", previewed=previewed_digest(preview))
    assert sorted(row[3] for row in result_rows(done)) == ["deleted"] * 3
    for key in ("ghost", "bot", "team"):
        assert not Kind.objects.filter(pk=rows[key].pk).exists()
        [entry] = logged(rows[key], DELETION)
        assert entry.user_id == admin_user.pk


def test_apply_a_workspace_through_its_backend_and_log_it(console, user):
    text = """
kind: Workspace
metadata: {name: repo-ws}
spec:
  repository:
    gitUrl: "https://example.com/org/repo.git"
    gitRepo: org/repo
    branchName: main
    gitDomain: example.com
"""
    preview = post_apply(console, text, preview="Preview")
    assert result_rows(preview)[0][3] == "would be created", result_rows(preview)
    post_apply(console, text, confirm="Confirm", previewed=previewed_digest(preview))
    entry = LogEntry.objects.get(action_flag=ADDITION)
    assert entry.content_type.model == "taskresource"
    assert entry.object_repr == "Workspace default/repo-ws"


# --- permissions ------------------------------------------------------------------------------------


def test_non_staff_get_no_console_pages(user, bot_stack):
    rows = bot_stack(user, "p")
    client = login(user)
    for target in (reverse(APPLY_URL), change_url(rows["ghost"])):
        response = client.get(target)
        assert response.status_code == 302 and "/login/" in response["Location"]
    response = client.post(
        reverse(APPLY_URL),
        {"documents": "kind: Ghost\nmetadata: {name: x}\nspec: {systemPrompt: y}", "action": "apply"},
    )
    assert response.status_code == 302
    assert not Kind.objects.filter(name="x").exists()
    assert Client().get(reverse(APPLY_URL)).status_code == 302


def test_staff_without_the_model_permission_get_403(admin_user, user, monkeypatch):
    """A staff member whose permissions leave out changing Kinds (or deleting them)."""
    held = {"kinds.view_kind", "kinds.add_kind", "kinds.change_kind"}
    monkeypatch.setattr(User, "has_perm", lambda self, perm, obj=None: self.is_staff and perm in held)
    monkeypatch.setattr(
        User, "has_perms", lambda self, perms, obj=None: all(self.has_perm(p, obj) for p in perms)
    )
    client = login(admin_user)
    text = "kind: Ghost\nmetadata: {name: gone-ghost}\nspec: {systemPrompt: y}\n"
    from kinds.tests.factories import make_kind

    make_kind(user, ghost_doc("gone-ghost"))
    data = {"documents": text, "action": "delete", "namespace": "default", "write_as": "alice"}
    data["preview"] = "1"
    assert client.post(reverse(APPLY_URL), data).status_code == 403
    assert client.get(reverse(APPLY_URL)).status_code == 200

    held.discard("kinds.change_kind")
    assert client.get(reverse(APPLY_URL)).status_code == 403
    assert client.post(reverse(APPLY_URL), {**data, "action": "apply"}).status_code == 403
    listing = client.get(reverse("admin:kinds_kind_changelist")).content.decode()
    assert reverse(APPLY_URL) not in listing
    assert Kind.objects.filter(name="gone-ghost").exists()


def test_model_secret_mask_kept_and_replaced_through_apply(console, user, make_kind):
    model = make_kind(user, model_doc("masked-model", api_key="sk-original-key-999"))
    document = selectors.render(model)
    masked = document["spec"]["modelConfig"]["env"]["api_key"]
    assert "sk-original-key-999" not in masked
    document["spec"]["contextWindow"] = 32000
    text = dump_yaml(document)
    preview = post_apply(console, text, preview="Preview")
    post_apply(console, text, confirm="Confirm", previewed=previewed_digest(preview))
    model.refresh_from_db()
    assert model.spec["contextWindow"] == 32000
    assert crypto.decrypt(model.spec["modelConfig"]["env"]["api_key"]) == "sk-original-key-999"

    document = selectors.render(model)
    document["spec"]["modelConfig"]["env"]["api_key"] = "sk-replaced-key-000"
    text = dump_yaml(document)
    preview = post_apply(console, text, preview="Preview")
    post_apply(console, text, confirm="Confirm", previewed=previewed_digest(preview))
    model.refresh_from_db()
    assert crypto.decrypt(model.spec["modelConfig"]["env"]["api_key"]) == "sk-replaced-key-000"
