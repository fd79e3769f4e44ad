"""The Skills API (/api/v1/kinds/skills/*) and the skills service, with real ZIPs built in memory."""

from __future__ import annotations

import hashlib
import io
import stat
import warnings
import zipfile
from typing import Any

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from accounts.services import api_keys
from kinds import services, skills
from kinds.models import Kind, KindReference, SkillBinary
from kinds.tests.factories import ghost_doc
from kinds.tests.openapi import body_schema, errors_against, served_schema
from wegent.errors import Forbidden
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

BASE = "/api/v1/kinds/skills"
MB = 1024 * 1024


# --- building archives ----------------------------------------------------------------------


def skill_md(description: Any = "Does useful things", body: str = "Follow these steps.", **front: Any) -> str:
    meta = {"description": description, **front} if description is not None else dict(front)
    return f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n{body}\n"


def make_zip(
    folder: str = "my-skill",
    md: str | None = None,
    *,
    files: dict[str, bytes | str] | None = None,
    entries: list[tuple[zipfile.ZipInfo | str, bytes | str]] | None = None,
) -> bytes:
    """A skill ZIP: ``folder/SKILL.md`` (unless md is "") plus ``files``; ``entries`` are raw."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if entries is None:
            archive.writestr(f"{folder}/", b"")
            if md != "":
                archive.writestr(f"{folder}/SKILL.md", md if md is not None else skill_md())
            for name, content in (files or {}).items():
                archive.writestr(f"{folder}/{name}", content)
        else:
            for info, content in entries:
                archive.writestr(info, content)
    return buffer.getvalue()


def zip_file(data: bytes, filename: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(filename, data, content_type="application/zip")


def upload(
    client,
    data: bytes | None = None,
    *,
    filename: str = "my-skill.zip",
    name: str = "my-skill",
    namespace=None,
):  # type: ignore[no-untyped-def]
    form: dict[str, Any] = {
        "file": zip_file(data if data is not None else make_zip(), filename),
        "name": name,
    }
    if namespace is not None:
        form["namespace"] = namespace
    return client.post(f"{BASE}/upload", form, format="multipart")


def replace(client, skill_id: int, data: bytes, filename: str = "my-skill.zip"):  # type: ignore[no-untyped-def]
    return client.put(f"{BASE}/{skill_id}", {"file": zip_file(data, filename)}, format="multipart")


def counts() -> tuple[int, int]:
    return Kind.objects.filter(kind="Skill").count(), SkillBinary.objects.count()


@pytest.fixture
def uploaded(api):  # type: ignore[no-untyped-def]
    response = upload(api)
    assert response.status_code == 201, response.content
    return Kind.objects.get(pk=int(response.json()["metadata"]["labels"]["id"]))


@pytest.fixture
def public_skill(admin_user):  # type: ignore[no-untyped-def]
    def _make(name: str = "pub-skill", **front: Any) -> Kind:
        data = make_zip(name, skill_md("A public skill", "Public prompt.", **front))
        return skills.store_skill(
            actor=admin_user,
            owner=services.Owner(None),
            namespace="default",
            name=name,
            archive=data,
            filename=f"{name}.zip",
        )

    return _make


def make_group(name: str, owner, **members: str) -> Group:  # type: ignore[no-untyped-def]
    group = Group.objects.create(name=name, owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER, invited_by=owner)
    return group


def join(group: Group, user, role: str) -> None:  # type: ignore[no-untyped-def]
    GroupMember.objects.create(group=group, user=user, role=role, invited_by=group.owner)


# --- upload ---------------------------------------------------------------------------------


def test_upload_creates_skill_row_binary_and_crd(api, user):
    data = make_zip(
        md=skill_md(
            "Summarises repositories",
            "# Steps\n\nRead the README first.",
            displayName="Repo summary",
            version=1.0,
            author="Alice",
            tags=["git", "docs"],
            config={"created": "2024-01-01", "depth": 2},
            tools=[{"name": "reader", "provider": "files", "config": {"max": 3}}],
            provider={"module": "provider", "class": "RepoProvider"},
            mcpServers={"fs": {"command": "mcp-fs"}},
            preload=True,
        ),
        files={"scripts/run.sh": "echo hi\n"},
    )
    response = upload(api, data)
    assert response.status_code == 201, response.content
    body = response.json()
    row = Kind.objects.get(kind="Skill", name="my-skill")
    assert body["apiVersion"] == "agent.wecode.io/v1"
    assert body["kind"] == "Skill"
    assert body["metadata"]["name"] == "my-skill"
    assert body["metadata"]["namespace"] == "default"
    assert body["metadata"]["labels"] == {"id": str(row.pk), "user_id": str(user.pk)}
    spec = body["spec"]
    assert spec["description"] == "Summarises repositories"
    assert spec["displayName"] == "Repo summary"
    assert spec["prompt"] == "# Steps\n\nRead the README first."
    assert spec["version"] == "1.0"
    assert spec["author"] == "Alice"
    assert spec["tags"] == ["git", "docs"]
    assert spec["bindShells"] == ["ClaudeCode"]
    assert spec["config"] == {"created": "2024-01-01", "depth": 2}
    assert spec["tools"] == [{"name": "reader", "provider": "files", "config": {"max": 3}}]
    assert spec["provider"] == {"module": "provider", "class": "RepoProvider"}
    assert spec["mcpServers"] == {"fs": {"command": "mcp-fs"}}
    assert spec["source"]["type"] == "upload"
    assert body["status"]["state"] == "Available"
    assert body["status"]["fileSize"] == len(data)
    assert body["status"]["fileHash"] == hashlib.sha256(data).hexdigest()
    assert row.owner == user and row.is_active
    assert row.document["metadata"]["labels"] == {"id": str(row.pk), "user_id": str(user.pk)}
    assert row.spec["preload"] is True
    assert bytes(row.binary.binary_data) == data
    assert row.binary.file_hash == hashlib.sha256(data).hexdigest()


def test_upload_defaults_and_bind_shells_and_yaml_dates(api):
    md = "---\ndescription: Dated\nbindShells: Chat\nreleased: 2024-05-01\nconfig:\n  at: 2024-05-01\n---\n"
    response = upload(api, make_zip(md=md))
    assert response.status_code == 201, response.content
    spec = response.json()["spec"]
    assert spec["bindShells"] == ["Chat"]
    assert spec["config"] == {"at": "2024-05-01"}
    assert spec["prompt"] is None


def test_upload_duplicate_name_is_refused(api, uploaded):
    response = upload(api)
    assert response.status_code == 400
    assert response.json() == {"detail": "Skill name 'my-skill' already exists in namespace 'default'"}
    assert counts() == (1, 1)


def test_same_name_for_two_users_is_allowed(api, uploaded, client_for, other_user):
    response = upload(client_for(other_user))
    assert response.status_code == 201
    assert response.json()["metadata"]["labels"]["user_id"] == str(other_user.pk)
    assert counts() == (2, 2)


def test_upload_name_is_validated_by_the_schema(api):
    response = upload(api, name="bad name!")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid Skill resource:")
    assert counts() == (0, 0)


def test_upload_requires_file_and_name(api):
    response = api.post(f"{BASE}/upload", {"name": "x"}, format="multipart")
    assert_validation_error(response, "file")
    response = api.post(f"{BASE}/upload", {"file": zip_file(make_zip(), "my-skill.zip")}, format="multipart")
    assert_validation_error(response, "name")
    assert counts() == (0, 0)


def _bomb_entries() -> list[tuple[str, bytes]]:
    return [("my-skill/SKILL.md", skill_md().encode()), ("my-skill/zeros.bin", b"\0" * (60 * MB))]


def _ratio_entries() -> list[tuple[str, bytes]]:
    return [("my-skill/SKILL.md", skill_md().encode()), ("my-skill/zeros.bin", b"\0" * (5 * MB))]


def _symlink_entries() -> list[tuple[zipfile.ZipInfo | str, bytes]]:
    link = zipfile.ZipInfo("my-skill/link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return [("my-skill/SKILL.md", skill_md().encode()), (link, b"/etc/passwd")]


def _encrypted() -> bytes:
    data = bytearray(make_zip(files={"secret.txt": "xx"}))
    # zipfile cannot write encrypted entries: set the "encrypted" flag in the central directory.
    entry = data.rfind(b"PK\x01\x02")
    data[entry + 8] |= 0x1
    return bytes(data)


def _duplicates() -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return make_zip(entries=[("my-skill/SKILL.md", skill_md()), ("my-skill/SKILL.md", skill_md("b"))])


def _corrupted_member() -> bytes:
    data = bytearray(make_zip(files={"notes.txt": "hello world " * 200}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("my-skill/notes.txt")
    # Damage the member's compressed bytes (the directory stays intact; the CRC no longer matches).
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    data[middle : middle + 4] = bytes(255 - b for b in data[middle : middle + 4])
    return bytes(data)


ALIAS_BOMB = (
    "---\ndescription: boom\n"
    'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "---\n"
)

BAD_ARCHIVES = {
    "not a zip name": (lambda: make_zip(), "my-skill.tar", 400, "File must be a ZIP package (.zip)"),
    "oversize": (
        lambda: b"PK" + b"\0" * (10 * MB),
        "my-skill.zip",
        413,
        "File size exceeds the maximum of 10 MB",
    ),
    "not a zip": (lambda: b"this is not a zip file", "my-skill.zip", 400, "Invalid or corrupted ZIP file"),
    "truncated": (lambda: make_zip()[:-30], "my-skill.zip", 400, "Invalid or corrupted ZIP file"),
    "corrupted member": (_corrupted_member, "my-skill.zip", 400, "Invalid or corrupted ZIP file"),
    "empty zip": (lambda: make_zip(entries=[]), "my-skill.zip", 400, "ZIP archive is empty"),
    "two top folders": (
        lambda: make_zip(entries=[("my-skill/SKILL.md", skill_md()), ("other/readme.txt", "x")]),
        "my-skill.zip",
        400,
        "exactly one top-level folder (found 2)",
    ),
    "file at top level": (
        lambda: make_zip(entries=[("SKILL.md", skill_md())]),
        "my-skill.zip",
        400,
        "exactly one top-level folder",
    ),
    "folder name mismatch": (
        lambda: make_zip("other-name"),
        "my-skill.zip",
        400,
        "Folder name 'other-name' must match the ZIP file name 'my-skill'",
    ),
    "missing SKILL.md": (lambda: make_zip(md=""), "my-skill.zip", 400, "SKILL.md not found in skill folder"),
    "SKILL.md too deep": (
        lambda: make_zip(entries=[("my-skill/docs/SKILL.md", skill_md())]),
        "my-skill.zip",
        400,
        "SKILL.md not found in skill folder",
    ),
    "no front matter": (
        lambda: make_zip(md="# Just markdown\n"),
        "my-skill.zip",
        400,
        "SKILL.md must start with YAML front matter between '---' lines",
    ),
    "unterminated front matter": (
        lambda: make_zip(md="---\ndescription: x\n"),
        "my-skill.zip",
        400,
        "SKILL.md must start with YAML front matter",
    ),
    "no description": (
        lambda: make_zip(md=skill_md(None, version="1")),
        "my-skill.zip",
        400,
        "SKILL.md front matter must contain a 'description'",
    ),
    "empty description": (
        lambda: make_zip(md="---\ndescription: '  '\n---\n"),
        "my-skill.zip",
        400,
        "must contain a 'description'",
    ),
    "bad yaml": (
        lambda: make_zip(md="---\ndescription: [unclosed\n---\n"),
        "my-skill.zip",
        400,
        "Invalid YAML front matter in SKILL.md",
    ),
    "front matter not a mapping": (
        lambda: make_zip(md="---\n- a\n- b\n---\n"),
        "my-skill.zip",
        400,
        "front matter must be a YAML mapping",
    ),
    "alias bomb": (lambda: make_zip(md=ALIAS_BOMB), "my-skill.zip", 400, "front matter is too large"),
    "wrong field type": (
        lambda: make_zip(md=skill_md(tools="not-a-list")),
        "my-skill.zip",
        400,
        "Invalid Skill resource:",
    ),
    "not utf-8": (
        lambda: make_zip(md=None, entries=[("my-skill/SKILL.md", b"---\ndescription: \xff\xfe\n---\n")]),
        "my-skill.zip",
        400,
        "SKILL.md must be UTF-8 text",
    ),
    "NUL in the prompt": (
        lambda: make_zip(md="---\ndescription: x\n---\nbody\x00more\n"),
        "my-skill.zip",
        400,
        "text contains NUL characters",
    ),
    "NUL escape in the front matter": (
        lambda: make_zip(md='---\ndescription: "a\\0b"\n---\n'),
        "my-skill.zip",
        400,
        "text contains NUL characters",
    ),
    "unpaired surrogate in the front matter": (
        lambda: make_zip(md='---\ndescription: "a\\ud800b"\n---\n'),
        "my-skill.zip",
        400,
        "text contains unpaired surrogates",
    ),
    "path traversal": (
        lambda: make_zip(entries=[("my-skill/SKILL.md", skill_md()), ("my-skill/../x", "evil")]),
        "my-skill.zip",
        400,
        "Unsafe path in ZIP archive: 'my-skill/../x'",
    ),
    "top-level traversal": (
        lambda: make_zip(entries=[("my-skill/SKILL.md", skill_md()), ("../x", "evil")]),
        "my-skill.zip",
        400,
        "Unsafe path in ZIP archive: '../x'",
    ),
    "absolute path": (
        lambda: make_zip(entries=[("my-skill/SKILL.md", skill_md()), ("/etc/cron.d/x", "evil")]),
        "my-skill.zip",
        400,
        "Unsafe path in ZIP archive: '/etc/cron.d/x'",
    ),
    "backslash path": (
        lambda: make_zip(entries=[("my-skill/SKILL.md", skill_md()), ("my-skill\\..\\x", "evil")]),
        "my-skill.zip",
        400,
        "Unsafe path in ZIP archive",
    ),
    "symlink": (
        lambda: make_zip(entries=_symlink_entries()),
        "my-skill.zip",
        400,
        "ZIP archive contains a symbolic link: 'my-skill/link'",
    ),
    "encrypted": (
        _encrypted,
        "my-skill.zip",
        400,
        "Encrypted ZIP entries are not supported",
    ),
    "duplicate entries": (
        _duplicates,
        "my-skill.zip",
        400,
        "Duplicate entry in ZIP archive",
    ),
    "zip bomb (expanded size)": (
        lambda: make_zip(entries=_bomb_entries()),
        "my-skill.zip",
        400,
        "ZIP archive expands to more than 50 MB",
    ),
    "zip bomb (ratio)": (
        lambda: make_zip(entries=_ratio_entries()),
        "my-skill.zip",
        400,
        "compressed suspiciously well (possible ZIP bomb)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ARCHIVES))
def test_bad_archive_is_refused_and_nothing_is_written(api, case):
    build, filename, status, detail = BAD_ARCHIVES[case]
    data = build()
    response = upload(api, data, filename=filename)
    assert response.status_code == status, response.content
    assert detail in response.json()["detail"]
    assert counts() == (0, 0)
    assert KindReference.objects.count() == 0


def test_bomb_archives_are_small(api):
    # The bombs really are small uploads that would expand hugely.
    assert len(make_zip(entries=_bomb_entries())) < 200 * 1024
    assert len(make_zip(entries=_ratio_entries())) < 50 * 1024


def test_macos_metadata_folder_is_ignored(api):
    data = make_zip(entries=[("my-skill/SKILL.md", skill_md()), ("__MACOSX/my-skill/._SKILL.md", "junk")])
    assert upload(api, data).status_code == 201


def test_windows_style_filename_is_reduced_to_its_base_name(api):
    response = upload(api, filename="C:\\Users\\alice\\my-skill.zip")
    assert response.status_code == 201, response.content


# --- unauthenticated ------------------------------------------------------------------------

ROUTES = [
    ("get", ""),
    ("post", "/upload"),
    ("get", "/unified"),
    ("post", "/invoke"),
    ("get", "/1"),
    ("put", "/1"),
    ("delete", "/1"),
    ("get", "/1/download"),
    ("post", "/1/remove-references"),
    ("post", "/1/remove-reference/2"),
    ("get", "/public/list"),
    ("post", "/public"),
    ("put", "/public/1"),
    ("delete", "/public/1"),
    ("post", "/public/upload"),
    ("put", "/public/1/upload"),
    ("get", "/public/1/download"),
    ("get", "/public/1/content"),
]


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_every_route_needs_credentials(anon_client, method, suffix):
    response = getattr(anon_client, method)(f"{BASE}{suffix}")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


def test_git_routes_are_not_served(api):
    assert api.get(f"{BASE}/git/scan", {"repo_url": "https://example.com/r.git"}).status_code == 404
    assert api.post(f"{BASE}/git/import", {}, format="json").status_code == 404


# --- get / list -----------------------------------------------------------------------------


def test_get_own_skill(api, uploaded, user):
    response = api.get(f"{BASE}/{uploaded.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["metadata"]["labels"] == {"id": str(uploaded.pk), "user_id": str(user.pk)}
    assert body["spec"]["description"] == "Does useful things"


def test_another_users_skill_is_not_found_on_every_item_route(uploaded, client_for, other_user):
    bob = client_for(other_user)
    for response in (
        bob.get(f"{BASE}/{uploaded.pk}"),
        replace(bob, uploaded.pk, make_zip()),
        bob.delete(f"{BASE}/{uploaded.pk}"),
        bob.get(f"{BASE}/{uploaded.pk}/download"),
        bob.post(f"{BASE}/{uploaded.pk}/remove-references"),
        bob.post(f"{BASE}/{uploaded.pk}/remove-reference/1"),
    ):
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": "Skill not found"}
    uploaded.refresh_from_db()
    assert uploaded.is_active and uploaded.resource_version == 1


@pytest.mark.parametrize("skill_id", [0, 987654, 99999999999999999999])
def test_unknown_ids_are_not_found(api, skill_id):
    response = api.get(f"{BASE}/{skill_id}")
    assert response.status_code == 404
    assert api.get(f"{BASE}/public/{skill_id}/download").status_code == 404


def test_list_own_skills_only_with_paging(api, client_for, other_user):
    for name in ("s-one", "s-two", "s-three"):
        assert upload(api, make_zip(name), filename=f"{name}.zip", name=name).status_code == 201
    assert (
        upload(
            client_for(other_user), make_zip("b-skill"), filename="b-skill.zip", name="b-skill"
        ).status_code
        == 201
    )
    body = api.get(BASE).json()
    assert body["apiVersion"] == "agent.wecode.io/v1"
    assert body["kind"] == "SkillList"
    assert [item["metadata"]["name"] for item in body["items"]] == ["s-one", "s-two", "s-three"]
    paged = api.get(BASE, {"skip": 1, "limit": 1}).json()
    assert [item["metadata"]["name"] for item in paged["items"]] == ["s-two"]


def test_list_rejects_bad_paging(api):
    assert_validation_error(api.get(BASE, {"limit": 101}), "limit")
    assert_validation_error(api.get(BASE, {"skip": -1}), "skip")


def test_list_by_name_falls_back_personal_then_public(api, user, public_skill):
    public = public_skill("shared")
    items = api.get(BASE, {"name": "shared"}).json()["items"]
    assert [item["metadata"]["labels"]["id"] for item in items] == [str(public.pk)]
    assert items[0]["metadata"]["labels"]["user_id"] == "0"
    # exact_match looks only in the namespace asked for (own skills there).
    assert api.get(BASE, {"name": "shared", "exact_match": "true"}).json()["items"] == []
    own = upload(api, make_zip("shared"), filename="shared.zip", name="shared").json()
    items = api.get(BASE, {"name": "shared"}).json()["items"]
    assert [item["metadata"]["labels"]["id"] for item in items] == [own["metadata"]["labels"]["id"]]
    assert api.get(BASE, {"name": "missing"}).json()["items"] == []


def test_list_by_name_uses_the_group_namespace_before_public(api, user, make_user, client_for, public_skill):
    carol = make_user("carol")
    group = make_group("team", carol)
    join(group, user, GroupRole.REPORTER)
    public_skill("tool")
    group_row = upload(
        client_for(carol), make_zip("tool"), filename="tool.zip", name="tool", namespace="team"
    )
    assert group_row.status_code == 201, group_row.content
    items = api.get(BASE, {"name": "tool", "namespace": "team"}).json()["items"]
    assert [i["metadata"]["namespace"] for i in items] == ["team"]
    items = api.get(BASE, {"name": "tool", "namespace": "team", "exact_match": "true"}).json()["items"]
    assert [i["metadata"]["namespace"] for i in items] == ["team"]
    # Listing a group namespace shows the group's skills to members only.
    assert [i["metadata"]["name"] for i in api.get(BASE, {"namespace": "team"}).json()["items"]] == ["tool"]
    outsider = client_for(make_user("dave"))
    assert outsider.get(BASE, {"namespace": "team"}).json()["items"] == []
    items = outsider.get(BASE, {"name": "tool", "namespace": "team"}).json()["items"]
    assert [i["metadata"]["labels"]["user_id"] for i in items] == ["0"]


def test_crd_route_renders_skills_with_labels(api, uploaded, user):
    body = api.get("/api/v1/namespaces/default/skills").json()
    assert body["kind"] == "SkillList"
    assert [item["metadata"]["labels"] for item in body["items"]] == [
        {"id": str(uploaded.pk), "user_id": str(user.pk)}
    ]
    one = api.get("/api/v1/namespaces/default/skills/my-skill").json()
    assert one["metadata"]["labels"]["id"] == str(uploaded.pk)
    assert one["spec"]["description"] == "Does useful things"
    assert one["status"]["fileHash"] == uploaded.binary.file_hash


def test_crd_skill_bodies_fit_the_openapi_document(api, uploaded):
    schema = served_schema()
    path = "/api/v1/namespaces/{namespace}/skills"
    for route, answer in (
        (path, api.get("/api/v1/namespaces/default/skills")),
        (f"{path}/{{name}}", api.get("/api/v1/namespaces/default/skills/my-skill")),
    ):
        assert errors_against(schema, body_schema(schema, route, "get", "200"), answer.json()) == []


# --- update ---------------------------------------------------------------------------------


def test_put_replaces_the_archive_but_not_the_name(api, uploaded):
    data = make_zip("renamed-folder", skill_md("New description", "New prompt", version="2.0"))
    response = replace(api, uploaded.pk, data, filename="renamed-folder.zip")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["metadata"]["name"] == "my-skill"
    assert body["spec"]["description"] == "New description"
    assert body["spec"]["prompt"] == "New prompt"
    assert body["status"]["fileHash"] == hashlib.sha256(data).hexdigest()
    uploaded.refresh_from_db()
    assert uploaded.resource_version == 2
    assert bytes(uploaded.binary.binary_data) == data
    assert counts() == (1, 1)


def test_put_with_a_bad_archive_changes_nothing(api, uploaded):
    before = (dict(uploaded.document), bytes(uploaded.binary.binary_data))
    response = replace(api, uploaded.pk, make_zip(md="no front matter"))
    assert response.status_code == 400
    response = replace(api, uploaded.pk, make_zip(), filename="my-skill.rar")
    assert response.json() == {"detail": "File must be a ZIP package (.zip)"}
    uploaded.refresh_from_db()
    assert (uploaded.document, bytes(uploaded.binary.binary_data)) == before
    assert uploaded.resource_version == 1
    assert_validation_error(api.put(f"{BASE}/{uploaded.pk}", {}, format="multipart"), "file")


# --- delete and references ------------------------------------------------------------------


def test_delete_soft_deletes_row_and_drops_binary_then_upload_revives(api, uploaded):
    response = api.delete(f"{BASE}/{uploaded.pk}")
    assert response.status_code == 204
    uploaded.refresh_from_db()
    assert uploaded.is_active is False
    assert SkillBinary.objects.count() == 0
    assert api.get(f"{BASE}/{uploaded.pk}").status_code == 404
    assert api.delete(f"{BASE}/{uploaded.pk}").status_code == 404
    assert api.get(BASE).json()["items"] == []
    data = make_zip(md=skill_md("Revived"))
    response = upload(api, data)
    assert response.status_code == 201
    assert response.json()["metadata"]["labels"]["id"] == str(uploaded.pk)
    assert response.json()["spec"]["description"] == "Revived"
    uploaded.refresh_from_db()
    assert uploaded.is_active and bytes(uploaded.binary.binary_data) == data
    assert counts() == (1, 1)


def test_delete_is_refused_while_a_ghost_uses_the_skill(api, user, uploaded, make_kind):
    ghost = make_kind(user, ghost_doc("g1", skills=["my-skill"]))
    response = api.delete(f"{BASE}/{uploaded.pk}")
    assert response.status_code == 400
    assert response.json() == {
        "detail": {
            "code": "SKILL_REFERENCED",
            "message": (
                "Skill 'my-skill' is referenced by 1 Ghost(s); remove the references before deleting it"
            ),
            "skill_name": "my-skill",
            "referenced_ghosts": [{"id": ghost.pk, "name": "g1", "namespace": "default"}],
        }
    }
    uploaded.refresh_from_db()
    assert uploaded.is_active and SkillBinary.objects.count() == 1


def test_admin_deletes_any_users_skill_but_cannot_read_it(api, admin_api, uploaded, other_user, client_for):
    # The reference lets a system admin delete any skill; reads stay private to owners.
    assert admin_api.get(f"{BASE}/{uploaded.pk}").status_code == 404
    assert admin_api.get(f"{BASE}/{uploaded.pk}/download").status_code == 404
    assert client_for(other_user).delete(f"{BASE}/{uploaded.pk}").status_code == 404
    response = admin_api.delete(f"{BASE}/{uploaded.pk}")
    assert response.status_code == 204
    uploaded.refresh_from_db()
    assert uploaded.is_active is False and SkillBinary.objects.count() == 0
    assert api.get(f"{BASE}/{uploaded.pk}").status_code == 404
    assert admin_api.delete(f"{BASE}/{uploaded.pk}").status_code == 404
    assert admin_api.delete(f"{BASE}/999999").status_code == 404


def test_admin_delete_of_a_group_skill_and_referrers_still_block(
    admin_api, user, make_user, client_for, make_kind
):
    carol = make_user("carol")
    make_group("team", carol)
    carol_api = client_for(carol)
    group_skill = upload(
        carol_api, make_zip("g-skill"), filename="g-skill.zip", name="g-skill", namespace="team"
    )
    group_id = int(group_skill.json()["metadata"]["labels"]["id"])
    assert admin_api.delete(f"{BASE}/{group_id}").status_code == 204
    assert not Kind.objects.get(pk=group_id).is_active

    mine = Kind.objects.get(pk=int(upload(client_for(user)).json()["metadata"]["labels"]["id"]))
    make_kind(user, ghost_doc("g1", skills=["my-skill"]))
    refused = admin_api.delete(f"{BASE}/{mine.pk}")
    assert refused.status_code == 400
    assert refused.json()["detail"]["code"] == "SKILL_REFERENCED"
    mine.refresh_from_db()
    assert mine.is_active and SkillBinary.objects.filter(kind=mine).exists()


def test_remove_references_then_delete(api, user, uploaded, make_kind, other_user, client_for):
    make_kind(user, ghost_doc("g1", skills=["my-skill", "my-skill"], preload_skills=["my-skill"]))
    make_kind(user, ghost_doc("g2", skills=["my-skill"]))
    make_kind(user, ghost_doc("g3"))
    # Bob's ghost naming a skill of his own with the same name is not a reference to Alice's.
    upload(client_for(other_user))
    make_kind(other_user, ghost_doc("bob-ghost", skills=["my-skill"]))
    response = api.post(f"{BASE}/{uploaded.pk}/remove-references")
    assert response.status_code == 200
    assert response.json() == {"removed_count": 2, "affected_ghosts": ["g1", "g2"]}
    g1 = Kind.objects.get(kind="Ghost", name="g1")
    assert g1.spec["skills"] == [] and g1.spec["preload_skills"] == []
    assert g1.resource_version == 2
    assert not KindReference.objects.filter(source=g1).exists()
    bob_ghost = Kind.objects.get(kind="Ghost", name="bob-ghost")
    assert bob_ghost.spec["skills"] == ["my-skill"]
    assert api.delete(f"{BASE}/{uploaded.pk}").status_code == 204


def test_remove_single_reference(api, user, uploaded, make_kind, other_user):
    g1 = make_kind(user, ghost_doc("g1", skills=["my-skill"]))
    g2 = make_kind(user, ghost_doc("g2", skills=["my-skill"]))
    other = make_kind(user, ghost_doc("g3"))
    response = api.post(f"{BASE}/{uploaded.pk}/remove-reference/{g1.pk}")
    assert response.status_code == 200
    assert response.json() == {"success": True, "ghost_name": "g1"}
    g1.refresh_from_db()
    assert g1.spec["skills"] == []
    response = api.post(f"{BASE}/{uploaded.pk}/remove-reference/{other.pk}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Ghost {other.pk} does not reference Skill 'my-skill'"}
    delete = api.delete(f"{BASE}/{uploaded.pk}")
    assert delete.status_code == 400
    assert [g["id"] for g in delete.json()["detail"]["referenced_ghosts"]] == [g2.pk]


# --- download -------------------------------------------------------------------------------


def test_download_returns_the_uploaded_bytes(api, user):
    data = make_zip(files={"a.txt": "alpha"})
    skill_id = upload(api, data).json()["metadata"]["labels"]["id"]
    response = api.get(f"{BASE}/{skill_id}/download")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == "attachment; filename=my-skill.zip"
    assert response.content == data


def test_download_with_a_personal_api_key(anon_client, user, uploaded):
    _, raw = api_keys.create_key(owner=user, name="executor")
    response = anon_client.get(f"{BASE}/{uploaded.pk}/download", HTTP_X_API_KEY=raw)
    assert response.status_code == 200
    assert response.content == bytes(uploaded.binary.binary_data)


def test_download_falls_back_to_group_and_public_skills(api, user, make_user, client_for, public_skill):
    public = public_skill()
    response = api.get(f"{BASE}/{public.pk}/download")
    assert response.status_code == 200 and response.content == bytes(public.binary.binary_data)
    carol = make_user("carol")
    group = make_group("team", carol)
    row = upload(
        client_for(carol), make_zip("g-skill"), filename="g-skill.zip", name="g-skill", namespace="team"
    )
    skill_id = row.json()["metadata"]["labels"]["id"]
    assert api.get(f"{BASE}/{skill_id}/download", {"namespace": "team"}).status_code == 404
    join(group, user, GroupRole.REPORTER)
    assert api.get(f"{BASE}/{skill_id}/download", {"namespace": "team"}).status_code == 200


def test_download_of_a_skill_without_archive(api, admin_api):
    skill_id = admin_api.post(f"{BASE}/public", {"name": "bare", "description": "d"}, format="json").json()[
        "id"
    ]
    response = api.get(f"{BASE}/{skill_id}/download")
    assert response.status_code == 404
    assert response.json() == {"detail": "Skill binary not found"}
    response = api.get(f"{BASE}/public/{skill_id}/download")
    assert response.json() == {"detail": "Public skill binary not found"}
    assert api.get(f"{BASE}/public/{skill_id}/content").status_code == 404


# --- unified --------------------------------------------------------------------------------


def test_unified_lists_own_then_public_and_own_names_win(api, user, public_skill):
    public_alpha = public_skill("alpha")
    public_skill("beta")
    first = upload(api, make_zip("alpha"), filename="alpha.zip", name="alpha").json()
    second = upload(api, make_zip("gamma"), filename="gamma.zip", name="gamma").json()
    items = api.get(f"{BASE}/unified").json()
    assert [(i["name"], i["is_public"]) for i in items] == [
        ("gamma", False),
        ("alpha", False),
        ("beta", True),
    ]
    assert public_alpha.pk not in [i["id"] for i in items]
    assert items[1]["id"] == int(first["metadata"]["labels"]["id"])
    assert items[0]["id"] == int(second["metadata"]["labels"]["id"])
    assert set(items[0]) == {
        "id",
        "name",
        "namespace",
        "description",
        "displayName",
        "prompt",
        "version",
        "author",
        "tags",
        "bindShells",
        "is_active",
        "is_public",
        "user_id",
        "source",
        "created_at",
        "updated_at",
    }
    assert items[0]["user_id"] == user.pk and items[2]["user_id"] == 0
    assert items[0]["prompt"] == "Follow these steps."
    assert [i["name"] for i in api.get(f"{BASE}/unified", {"skip": 1, "limit": 1}).json()] == ["alpha"]


def test_unified_group_and_all_scopes(api, user, make_user, client_for, public_skill):
    carol = make_user("carol")
    group = make_group("team", carol)
    join(group, user, GroupRole.REPORTER)
    make_group("private", carol)
    public_skill("shared")
    upload(client_for(carol), make_zip("shared"), filename="shared.zip", name="shared", namespace="team")
    upload(client_for(carol), make_zip("secret"), filename="secret.zip", name="secret", namespace="private")
    upload(api, make_zip("mine"), filename="mine.zip", name="mine")
    group_items = api.get(f"{BASE}/unified", {"scope": "group", "group_name": "team"}).json()
    assert [(i["name"], i["namespace"], i["is_public"]) for i in group_items] == [("shared", "team", False)]
    private = api.get(f"{BASE}/unified", {"scope": "group", "group_name": "private"}).json()
    assert [(i["name"], i["is_public"]) for i in private] == [("shared", True)]
    all_items = api.get(f"{BASE}/unified", {"scope": "all"}).json()
    assert [(i["name"], i["namespace"], i["is_public"]) for i in all_items] == [
        ("mine", "default", False),
        ("shared", "team", False),
    ]
    personal = api.get(f"{BASE}/unified").json()
    assert [(i["name"], i["is_public"]) for i in personal] == [("mine", False), ("shared", True)]
    assert_validation_error(api.get(f"{BASE}/unified", {"scope": "everything"}), "scope")


# --- invoke ---------------------------------------------------------------------------------


def test_invoke_returns_own_prompt_then_public(api, user, public_skill, admin_api):
    public_skill("pub")
    assert api.post(f"{BASE}/invoke", {"skill_name": "pub"}, format="json").json() == {
        "prompt": "Public prompt."
    }
    upload(api, make_zip("pub", skill_md("mine", "My prompt.")), filename="pub.zip", name="pub")
    assert api.post(f"{BASE}/invoke", {"skill_name": "pub"}, format="json").json() == {"prompt": "My prompt."}
    response = api.post(f"{BASE}/invoke", {"skill_name": "nope"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Skill 'nope' not found"}
    admin_api.post(f"{BASE}/public", {"name": "empty", "description": "d"}, format="json")
    response = api.post(f"{BASE}/invoke", {"skill_name": "empty"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Skill 'empty' has no prompt content"}
    assert_validation_error(api.post(f"{BASE}/invoke", {}, format="json"), "skill_name")


# --- public skills --------------------------------------------------------------------------


def test_public_skill_lifecycle(api, admin_api, make_kind, user):
    response = admin_api.post(
        f"{BASE}/public",
        {"name": "helper", "description": "Helps", "prompt": "Be helpful", "tags": ["a"], "version": "1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "namespace",
        "description",
        "prompt",
        "version",
        "author",
        "tags",
        "bindShells",
        "is_active",
        "is_public",
        "created_at",
        "updated_at",
    }
    assert body["name"] == "helper" and body["namespace"] == "default"
    assert body["is_public"] is True and body["prompt"] == "Be helpful" and body["tags"] == ["a"]
    row = Kind.objects.get(pk=body["id"])
    assert row.owner is None
    assert row.document["metadata"]["labels"] == {"id": str(row.pk), "user_id": "0"}
    duplicate = admin_api.post(f"{BASE}/public", {"name": "helper", "description": "x"}, format="json")
    assert duplicate.json() == {"detail": "Skill name 'helper' already exists in namespace 'default'"}
    listed = api.get(f"{BASE}/public/list").json()
    assert [item["name"] for item in listed] == ["helper"]
    response = admin_api.put(
        f"{BASE}/public/{row.pk}", {"description": "Helps more", "author": "ops"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["description"] == "Helps more"
    assert response.json()["prompt"] == "Be helpful"
    assert response.json()["author"] == "ops"
    ghost = make_kind(user, ghost_doc("uses-helper", skills=["helper"]))
    refused = admin_api.delete(f"{BASE}/public/{row.pk}")
    assert refused.status_code == 400
    assert refused.json()["detail"]["referenced_ghosts"] == [
        {"id": ghost.pk, "name": "uses-helper", "namespace": "default"}
    ]
    services.delete_resource(
        actor=user, kind_type=services.kind_type_for_plural("ghosts"), namespace="default", name="uses-helper"
    )
    assert admin_api.delete(f"{BASE}/public/{row.pk}").status_code == 204
    row.refresh_from_db()
    assert row.is_active is False
    assert api.get(f"{BASE}/public/list").json() == []
    assert admin_api.delete(f"{BASE}/public/{row.pk}").json() == {"detail": "Public skill not found"}


def test_public_writes_are_admin_only(api, public_skill):
    row = public_skill()
    forbidden = {"detail": "Permission denied. Admin access required."}
    for response in (
        api.post(f"{BASE}/public", {"name": "x", "description": "d"}, format="json"),
        api.put(f"{BASE}/public/{row.pk}", {"description": "d"}, format="json"),
        api.delete(f"{BASE}/public/{row.pk}"),
        api.post(
            f"{BASE}/public/upload",
            {"file": zip_file(make_zip("x"), "x.zip"), "name": "x"},
            format="multipart",
        ),
        api.put(
            f"{BASE}/public/{row.pk}/upload", {"file": zip_file(make_zip("x"), "x.zip")}, format="multipart"
        ),
    ):
        assert response.status_code == 403, response.content
        assert response.json() == forbidden
    # The generic item routes refuse writes to public skills for non-admins too.
    assert replace(api, row.pk, make_zip("pub-skill"), "pub-skill.zip").status_code == 403
    assert api.delete(f"{BASE}/{row.pk}").status_code == 403
    assert api.post(f"{BASE}/{row.pk}/remove-references").status_code == 403
    row.refresh_from_db()
    assert row.is_active and row.resource_version == 1
    assert counts() == (1, 1)


def test_public_upload_replace_download_and_content(api, admin_api):
    md = skill_md("Public tool", "Use the tool.", version="1.0")
    data = make_zip("pub-tool", md)
    response = admin_api.post(
        f"{BASE}/public/upload",
        {"file": zip_file(data, "pub-tool.zip"), "name": "pub-tool"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["is_public"] is True and body["version"] == "1.0" and body["bindShells"] == ["ClaudeCode"]
    skill_id = body["id"]
    download = api.get(f"{BASE}/public/{skill_id}/download")
    assert download.status_code == 200 and download.content == data
    assert download["Content-Disposition"] == "attachment; filename=pub-tool.zip"
    assert api.get(f"{BASE}/public/{skill_id}/content").json() == {"content": md}
    new = make_zip("pub-tool", skill_md("Public tool v2", "Use it better."))
    response = admin_api.put(
        f"{BASE}/public/{skill_id}/upload", {"file": zip_file(new, "pub-tool.zip")}, format="multipart"
    )
    assert response.status_code == 200
    assert response.json()["description"] == "Public tool v2"
    assert api.get(f"{BASE}/public/{skill_id}/download").content == new
    bad = admin_api.put(
        f"{BASE}/public/{skill_id}/upload", {"file": zip_file(b"junk", "pub-tool.zip")}, format="multipart"
    )
    assert bad.status_code == 400
    assert api.get(f"{BASE}/public/{skill_id}/download").content == new


def test_public_routes_ignore_personal_skills(api, admin_api, uploaded):
    assert api.get(f"{BASE}/public/{uploaded.pk}/download").json() == {"detail": "Public skill not found"}
    assert api.get(f"{BASE}/public/{uploaded.pk}/content").status_code == 404
    assert (
        admin_api.put(f"{BASE}/public/{uploaded.pk}", {"description": "x"}, format="json").status_code == 404
    )
    assert admin_api.delete(f"{BASE}/public/{uploaded.pk}").status_code == 404
    response = admin_api.put(
        f"{BASE}/public/{uploaded.pk}/upload",
        {"file": zip_file(make_zip(), "my-skill.zip")},
        format="multipart",
    )
    assert response.json() == {"detail": "Public skill not found"}
    uploaded.refresh_from_db()
    assert uploaded.is_active and uploaded.resource_version == 1


def test_public_input_is_validated(admin_api, public_skill):
    assert_validation_error(admin_api.post(f"{BASE}/public", {"name": "x"}, format="json"), "description")
    row = public_skill()
    response = admin_api.put(f"{BASE}/public/{row.pk}", {"tags": "not-a-list"}, format="json")
    assert_validation_error(response, "tags")
    assert_validation_error(admin_api.get(f"{BASE}/public/list", {"limit": 0}), "limit")


def test_public_text_that_databases_refuse_is_refused(admin_api):
    body = '{"name": "odd", "description": "bad \\ud800 text"}'
    response = admin_api.post(f"{BASE}/public", body, content_type="application/json")
    assert_validation_error(response, "description")
    assert counts() == (0, 0)


def test_public_skill_shadowed_by_a_personal_one_can_be_deleted(
    api, admin_api, user, make_kind, public_skill
):
    row = public_skill("dual")
    upload(api, make_zip("dual"), filename="dual.zip", name="dual")
    make_kind(user, ghost_doc("uses-dual", skills=["dual"]))
    assert admin_api.delete(f"{BASE}/public/{row.pk}").status_code == 204


# --- group namespaces -----------------------------------------------------------------------


def test_group_upload_follows_the_role_table(user, other_user, make_user, client_for):
    owner = make_user("carol")
    maintainer = make_user("mallory")
    group = make_group("team", owner)
    join(group, user, GroupRole.REPORTER)
    join(group, other_user, GroupRole.DEVELOPER)
    join(group, maintainer, GroupRole.MAINTAINER)
    reporter, developer = client_for(user), client_for(other_user)

    denied = upload(reporter, namespace="team")
    assert denied.status_code == 404
    assert denied.json() == {"detail": "Namespace 'team' not found or permission denied"}
    assert counts() == (0, 0)
    assert upload(client_for(make_user("dave")), namespace="team").status_code == 404
    assert upload(developer, namespace="no-such-group").status_code == 404

    created = upload(developer, namespace="team")
    assert created.status_code == 201, created.content
    labels = created.json()["metadata"]["labels"]
    assert labels["user_id"] == str(other_user.pk)
    skill_id = int(labels["id"])
    assert created.json()["metadata"]["namespace"] == "team"

    assert reporter.get(f"{BASE}/{skill_id}").status_code == 200
    assert client_for(make_user("eve")).get(f"{BASE}/{skill_id}").status_code == 404
    refused = replace(reporter, skill_id, make_zip())
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You don't have permission to update this skill"}
    assert replace(developer, skill_id, make_zip(md=skill_md("v2"))).status_code == 200
    refused = developer.delete(f"{BASE}/{skill_id}")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You don't have permission to delete this skill"}
    assert client_for(maintainer).delete(f"{BASE}/{skill_id}").status_code == 204


def test_group_ghost_reference_blocks_group_skill_delete(user, make_user, client_for, make_kind):
    owner = make_user("carol")
    make_group("team", owner)
    carol = client_for(owner)
    skill_id = upload(carol, namespace="team").json()["metadata"]["labels"]["id"]
    ghost = make_kind(owner, ghost_doc("team-ghost", skills=["my-skill"]), namespace="team")
    refused = carol.delete(f"{BASE}/{skill_id}")
    assert refused.status_code == 400
    assert refused.json()["detail"]["referenced_ghosts"] == [
        {"id": ghost.pk, "name": "team-ghost", "namespace": "team"}
    ]
    assert carol.post(f"{BASE}/{skill_id}/remove-references").json() == {
        "removed_count": 1,
        "affected_ghosts": ["team-ghost"],
    }
    assert carol.delete(f"{BASE}/{skill_id}").status_code == 204


# --- the service used by init data ----------------------------------------------------------


def test_archive_folder_round_trips_through_store_skill(tmp_path, admin_user, user):
    folder = tmp_path / "folder-skill"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(skill_md("From a folder", "Prompt from folder."))
    (folder / "scripts" / "run.py").write_text("print('hi')\n")
    data = skills.archive_folder(folder)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == [
            "folder-skill/",
            "folder-skill/SKILL.md",
            "folder-skill/scripts/",
            "folder-skill/scripts/run.py",
        ]
    row = skills.store_skill(
        actor=admin_user,
        owner=services.Owner(None),
        namespace="default",
        name="folder-skill",
        archive=data,
        filename="folder-skill.zip",
    )
    assert row.owner is None and row.spec["prompt"] == "Prompt from folder."
    assert row.document["metadata"]["labels"] == {"id": str(row.pk), "user_id": "0"}
    with pytest.raises(Forbidden):
        skills.store_skill(
            actor=user,
            owner=services.Owner(None),
            namespace="default",
            name="other",
            archive=data,
            filename="folder-skill.zip",
        )
    with pytest.raises(skills.SkillExists):
        skills.store_skill(
            actor=admin_user,
            owner=services.Owner(None),
            namespace="default",
            name="folder-skill",
            archive=data,
            filename="folder-skill.zip",
        )
    assert counts() == (1, 1)


def test_ghost_can_reference_uploaded_and_public_skills(user, uploaded, public_skill, make_kind):
    public_skill("pub-skill")
    ghost = make_kind(user, ghost_doc("g", skills=["my-skill", "pub-skill"]))
    assert sorted(KindReference.objects.filter(source=ghost).values_list("target_name", flat=True)) == [
        "my-skill",
        "pub-skill",
    ]


def test_damaged_archives_never_escape_as_unexpected_errors():
    """Random byte damage to a valid archive gives a 400-class error or a valid skill, nothing else."""
    import random

    base = make_zip(files={"a.txt": "hello " * 300, "b/c.txt": "x"})
    rng = random.Random(7)
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        try:
            skills.validate_archive(bytes(data), "my-skill.zip")
        except (skills.InvalidSkillArchive, skills.SkillArchiveTooLarge):
            pass
