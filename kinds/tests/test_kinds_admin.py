"""The Kinds operator console: lists, YAML editing through the services, secrets, deletion."""

from __future__ import annotations

import html
import re

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from accounts.tests.factories import PASSWORD
from kinds import selectors, skills
from kinds.init_data import INIT_DATA_DIR, dump_yaml
from kinds.models import Kind, SkillBinary
from kinds.services import Owner
from kinds.tests.factories import ghost_doc, model_doc
from wegent import crypto

pytestmark = pytest.mark.django_db

MODEL_KEY = "sk-admin-console-secret-4242"
RETRIEVER_PASSWORD = "es-password-never-shown-77"


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    assert client.login(username=admin_user.user_name, password=PASSWORD)
    return client


def url(view: str, *args: object) -> str:
    return reverse(f"admin:kinds_kind_{view}", args=args)


def retriever_doc(name: str) -> dict:
    return {
        "kind": "Retriever",
        "metadata": {"name": name},
        "spec": {
            "storageConfig": {
                "type": "elasticsearch",
                "url": "http://127.0.0.1:9200",
                "username": "elastic",
                "password": RETRIEVER_PASSWORD,
                "indexStrategy": {"mode": "per_user"},
            }
        },
    }


def device_doc(name: str) -> dict:
    return {"kind": "Device", "metadata": {"name": name}, "spec": {"deviceId": name, "isDefault": True}}


@pytest.fixture
def every_kind(user, admin_user, make_kind, bot_stack) -> dict[str, Kind]:
    rows = bot_stack(user, "a")
    rows = {key.capitalize(): row for key, row in rows.items()}
    rows["Model"] = make_kind(user, model_doc("secret-model", api_key=MODEL_KEY))
    rows["Retriever"] = make_kind(user, retriever_doc("es"))
    rows["Device"] = make_kind(user, device_doc("laptop"))
    rows["Skill"] = skills.store_skill(
        actor=admin_user,
        owner=Owner(None),
        namespace="default",
        name="browser",
        archive=skills.archive_folder(INIT_DATA_DIR / "skills" / "browser"),
        filename="browser.zip",
    )
    return rows


def textarea(response) -> str:  # type: ignore[no-untyped-def]
    match = re.search(
        r'<textarea name="document_yaml"[^>]*>(.*?)</textarea>', response.content.decode(), re.S
    )
    assert match, response.content.decode()[:3000]
    return html.unescape(match.group(1)).removeprefix("\n")


def save(console: Client, row: Kind, text: str):  # type: ignore[no-untyped-def]
    return console.post(url("change", row.pk), {"document_yaml": text, "_save": "Save"})


def edited(row: Kind, **spec) -> str:  # type: ignore[no-untyped-def]
    document = selectors.render(row)
    document["spec"] = {**document["spec"], **spec}
    return dump_yaml(document)


# --- pages ------------------------------------------------------------------------------------------


def test_changelist_and_change_page_for_each_kind(console, every_kind):
    listing = console.get(url("changelist"))
    assert listing.status_code == 200
    text = listing.content.decode()
    for row in every_kind.values():
        assert f">{row.name}<" in text
    assert ">public<" in text  # the public skill's owner column
    for kind, row in every_kind.items():
        filtered = console.get(url("changelist"), {"kind__exact": kind})
        assert filtered.status_code == 200, kind
        assert f">{row.name}<" in filtered.content.decode()
        page = console.get(url("change", row.pk))
        assert page.status_code == 200, kind
        body = page.content.decode()
        if kind == "Skill":
            # Read-only: the document is shown, the archive is never editable here.
            assert 'name="document_yaml"' not in body
            assert "Browser" in body
        else:
            assert yaml.safe_load(textarea(page))["metadata"]["name"] == row.name


def test_filters_and_search(console, every_kind, other_user, make_kind):
    make_kind(other_user, ghost_doc("bobs-ghost"))
    public = console.get(url("changelist"), {"scope": "public"}).content.decode()
    assert ">browser<" in public and ">a-ghost<" not in public
    personal = console.get(url("changelist"), {"scope": "personal"}).content.decode()
    assert ">a-ghost<" in personal and ">browser<" not in personal
    by_owner = console.get(url("changelist"), {"q": "bob"}).content.decode()
    assert ">bobs-ghost<" in by_owner and ">a-ghost<" not in by_owner
    by_name = console.get(url("changelist"), {"q": "laptop"}).content.decode()
    assert ">laptop<" in by_name and ">a-ghost<" not in by_name
    assert (
        console.get(url("changelist"), {"is_active__exact": "1", "namespace": "default"}).status_code == 200
    )
    Kind.objects.filter(name="browser").update(deactivated=True)
    switched_off = console.get(url("changelist"), {"deactivated__exact": "1"}).content.decode()
    assert ">browser<" in switched_off and ">a-ghost<" not in switched_off


def test_rows_are_not_added_here(console):
    assert console.get(url("add")).status_code == 403


# --- editing ----------------------------------------------------------------------------------------


def test_yaml_edit_saves_through_the_service_and_bumps_the_version(console, every_kind):
    ghost = every_kind["Ghost"]
    page = console.get(url("change", ghost.pk))
    document = yaml.safe_load(textarea(page))
    document["spec"]["systemPrompt"] = "Edited in the console.\nSecond line."
    response = save(console, ghost, dump_yaml(document))
    assert response.status_code == 302, response.content.decode()[:3000]
    ghost.refresh_from_db()
    assert ghost.spec["systemPrompt"] == "Edited in the console.\nSecond line."
    assert ghost.resource_version == 2
    assert ghost.owner.user_name == "alice"  # the owner does not change

    # Saving the same document again changes nothing.
    same = save(console, ghost, textarea(console.get(url("change", ghost.pk))))
    assert same.status_code == 302
    ghost.refresh_from_db()
    assert ghost.resource_version == 2


def test_edit_updates_references(console, every_kind, user, make_kind):
    make_kind(user, ghost_doc("other-ghost"))
    bot = every_kind["Bot"]
    response = save(console, bot, edited(bot, ghostRef={"name": "other-ghost", "namespace": "default"}))
    assert response.status_code == 302
    assert [r.name for r in selectors.referrers(Kind.objects.get(name="other-ghost"))] == ["a-bot"]
    assert selectors.referrers(every_kind["Ghost"]) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda row: "kind: Ghost\nmetadata: {name: [\n", "Invalid YAML"),
        (lambda row: "- a\n- b\n", "The document must be one YAML mapping"),
        (lambda row: edited(row, systemPrompt=None), "Invalid Ghost resource"),
        (
            lambda row: edited(row, skills=["no-such-skill"]),
            "The following Skills do not exist: no-such-skill",
        ),
        (lambda row: dump_yaml({**selectors.render(row), "kind": "Bot"}), "Kind mismatch"),
        (
            lambda row: dump_yaml({**selectors.render(row), "metadata": {"name": "renamed"}}),
            "metadata.name cannot be changed here",
        ),
        (
            lambda row: dump_yaml(
                {**selectors.render(row), "metadata": {"name": row.name, "resourceVersion": "7"}}
            ),
            "resourceVersion 7 is stale",
        ),
    ],
)
def test_invalid_edit_is_shown_on_the_form_and_changes_nothing(console, every_kind, change, message):
    ghost = every_kind["Ghost"]
    before = (ghost.document, ghost.resource_version)
    response = save(console, ghost, change(ghost))
    assert response.status_code == 200
    body = html.unescape(response.content.decode())
    assert message in body
    assert "errorlist" in body
    ghost.refresh_from_db()
    assert (ghost.document, ghost.resource_version) == before


def test_missing_reference_is_shown_on_the_form(console, every_kind):
    bot = every_kind["Bot"]
    response = save(console, bot, edited(bot, shellRef={"name": "gone", "namespace": "default"}))
    assert response.status_code == 200
    assert "Shell &#x27;gone&#x27; not found in namespace &#x27;default&#x27;" in response.content.decode()
    bot.refresh_from_db()
    assert bot.spec["shellRef"]["name"] == "a-shell"


def test_model_secret_is_masked_and_kept_on_save(console, every_kind):
    model = every_kind["Model"]
    page = console.get(url("change", model.pk))
    body = page.content.decode()
    stored = model.spec["modelConfig"]["env"]["api_key"]
    assert MODEL_KEY not in body
    assert stored not in body
    assert crypto.mask(stored) in body
    document = yaml.safe_load(textarea(page))
    document["spec"]["contextWindow"] = 64000
    response = save(console, model, dump_yaml(document))
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.spec["contextWindow"] == 64000
    assert crypto.decrypt(model.spec["modelConfig"]["env"]["api_key"]) == MODEL_KEY
    assert model.resource_version == 2

    # A new key typed into the form is stored encrypted.
    document["spec"]["modelConfig"]["env"]["api_key"] = "sk-brand-new-key-000111"
    document["metadata"]["resourceVersion"] = "2"
    assert save(console, model, dump_yaml(document)).status_code == 302
    model.refresh_from_db()
    new_value = model.spec["modelConfig"]["env"]["api_key"]
    assert crypto.is_encrypted(new_value)
    assert crypto.decrypt(new_value) == "sk-brand-new-key-000111"


def test_retriever_password_is_masked_and_kept(console, every_kind):
    retriever = every_kind["Retriever"]
    page = console.get(url("change", retriever.pk))
    assert RETRIEVER_PASSWORD not in page.content.decode()
    document = yaml.safe_load(textarea(page))
    document["spec"]["description"] = "shared search cluster"
    assert save(console, retriever, dump_yaml(document)).status_code == 302
    retriever.refresh_from_db()
    assert retriever.spec["description"] == "shared search cluster"
    assert crypto.decrypt(retriever.spec["storageConfig"]["password"]) == RETRIEVER_PASSWORD


def test_public_row_is_edited_as_public(console, admin_user, make_kind):
    shell = make_kind(
        admin_user, {"kind": "Shell", "metadata": {"name": "Pub"}, "spec": {"shellType": "Chat"}}, public=True
    )
    response = save(console, shell, edited(shell, supportModel=["openai"]))
    assert response.status_code == 302
    shell.refresh_from_db()
    assert shell.owner is None
    assert shell.spec["supportModel"] == ["openai"]


def test_group_row_edit(console, user, make_user, make_kind):
    owner = make_user("lead")
    group = Group.objects.create(name="squad", owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)
    membership = GroupMember.objects.create(group=group, user=user, role=GroupRole.DEVELOPER)
    ghost = make_kind(user, ghost_doc("squad-ghost"), "squad")
    # The operator is no member: the edit is written with the creating member's role.
    assert save(console, ghost, edited(ghost, systemPrompt="Group edit.")).status_code == 302
    ghost.refresh_from_db()
    assert ghost.spec["systemPrompt"] == "Group edit."
    assert ghost.namespace == "squad"

    # Once the creator has no writing role, the operator is told what to do.
    membership.role = GroupRole.REPORTER
    membership.save()
    response = save(console, ghost, edited(ghost, systemPrompt="Again."))
    assert response.status_code == 200
    assert "needs the Developer role or higher" in html.unescape(response.content.decode())
    ghost.refresh_from_db()
    assert ghost.spec["systemPrompt"] == "Group edit."


def test_skill_document_is_not_edited_as_yaml(console, every_kind):
    # A skill's document is read from its archive: only a new archive changes it
    # (test_kinds_console.py).
    skill = every_kind["Skill"]
    before = (skill.document, skill.resource_version)
    response = console.post(url("change", skill.pk), {"document_yaml": "kind: Skill\n", "_save": "Save"})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    skill.refresh_from_db()
    assert (skill.document, skill.resource_version) == before


# --- deletion ---------------------------------------------------------------------------------------


def test_delete_refused_while_referenced(console, every_kind):
    ghost = every_kind["Ghost"]
    page = console.get(url("delete", ghost.pk))
    assert page.status_code == 200
    body = html.unescape(page.content.decode())
    assert "Bot default/a-bot refers to Ghost 'a-ghost'" in body
    refused = console.post(url("delete", ghost.pk), {"post": "yes"})
    assert refused.status_code == 200
    assert Kind.objects.filter(pk=ghost.pk).exists()

    # A public skill used by nobody can be deleted (its archive goes with it).
    skill = every_kind["Skill"]
    assert console.post(url("delete", skill.pk), {"post": "yes"}).status_code == 302
    assert not SkillBinary.objects.filter(kind_id=skill.pk).exists()


def test_delete_unreferenced_row(console, every_kind):
    team = every_kind["Team"]
    response = console.post(url("delete", team.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Kind.objects.filter(pk=team.pk).exists()
    # The bot is no longer referenced and can go now.
    bot = every_kind["Bot"]
    assert console.post(url("delete", bot.pk), {"post": "yes"}).status_code == 302
    assert not Kind.objects.filter(pk=bot.pk).exists()


def test_bulk_delete_is_not_offered(console, every_kind):
    page = console.get(url("changelist")).content.decode()
    assert "delete_selected" not in page


# --- skill archives ---------------------------------------------------------------------------------


def test_skill_binary_pages_hide_the_archive(console, every_kind):
    binary = SkillBinary.objects.get(kind=every_kind["Skill"])
    listing = console.get(reverse("admin:kinds_skillbinary_changelist"))
    assert listing.status_code == 200
    assert binary.file_hash in listing.content.decode()
    page = console.get(reverse("admin:kinds_skillbinary_change", args=[binary.pk]))
    assert page.status_code == 200
    assert "binary_data" not in page.content.decode()
    assert console.get(reverse("admin:kinds_skillbinary_add")).status_code == 403
    assert (
        console.post(reverse("admin:kinds_skillbinary_delete", args=[binary.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert SkillBinary.objects.filter(pk=binary.pk).exists()
