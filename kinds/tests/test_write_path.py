"""The Kind write path's costs: statements per create and delete, the fixed statements' rules,
one list-cache bump per transaction, and writers on SQLite queueing instead of failing."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models import signals
from django.test.utils import CaptureQueriesContext

from accounts.models import Group, GroupMember, GroupRole
from kinds import list_cache, references, rows, selectors
from kinds.models import Kind, KindReference, SkillBinary
from kinds.tests.factories import bot_doc, ghost_doc

GHOSTS = "/api/v1/namespaces/default/ghosts"
_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def _statements(captured: CaptureQueriesContext) -> list[str]:
    """The data statements run (transaction control left out: it differs between databases; the
    audit trail's one INSERT after the response too: it is the trail's cost, not the write's)."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].upper().startswith(_CONTROL) and "audit_auditentry" not in q["sql"]
    ]


def _ghost(name: str) -> dict[str, Any]:
    return ghost_doc(name)


@pytest.mark.django_db
def test_a_create_is_one_insert_and_a_delete_five_statements(api):
    api.post(GHOSTS, _ghost("warm"), format="json")  # the caller's first request loads the user
    with CaptureQueriesContext(connection) as created:
        response = api.post(GHOSTS, _ghost("g1"), format="json")
    assert response.status_code == 201
    # No look-up before the insert (the unique key answers "exists"), no edges to clear.
    assert [sql.split()[0] for sql in _statements(created)] == ["INSERT"]

    with CaptureQueriesContext(connection) as deleted:
        response = api.delete(f"{GHOSTS}/g1")
    assert response.status_code == 200
    # The row (locked), whether anything refers to it, its edges, its archive, the row; on
    # PostgreSQL all of that in one statement (rows.delete_unreferenced).
    expected = ["SELECT", "SELECT", "DELETE", "DELETE", "DELETE"]
    if connection.vendor == "postgresql":
        expected = ["WITH"]
    assert [sql.split()[0] for sql in _statements(deleted)] == expected
    assert not Kind.objects.filter(name="g1").exists()


@pytest.mark.django_db
def test_a_duplicate_is_409_before_its_references_are_checked(api, make_kind, user):
    make_kind(user, ghost_doc("g"))
    make_kind(user, {"kind": "Shell", "metadata": {"name": "sh"}, "spec": {"shellType": "Chat"}})
    assert (
        api.post("/api/v1/namespaces/default/bots", bot_doc("b", "g", "sh", "m"), format="json").status_code
        == 201
    )
    again = api.post("/api/v1/namespaces/default/bots", bot_doc("b", "missing", "sh", "m"), format="json")
    assert again.status_code == 409, again.content
    other = api.post("/api/v1/namespaces/default/bots", bot_doc("b2", "missing", "sh", "m"), format="json")
    assert other.status_code == 404, other.content
    # The refused create left nothing behind.
    assert not Kind.objects.filter(name="b2").exists()


def _group(name: str, owner, **members: str) -> Group:  # type: ignore[no-untyped-def]
    group = Group.objects.create(name=name, owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER, invited_by=owner)
    for member, role in members.items():
        GroupMember.objects.create(group=group, user=member, role=role, invited_by=owner)
    return group


@pytest.mark.django_db
def test_has_referrers_agrees_with_selectors_referrers(make_kind, user, other_user, bot_stack):
    """The fixed statement and the ORM rule it stands for give the same answer in each case."""
    mine = bot_stack(user, "a")
    lone = make_kind(user, ghost_doc("lone"))
    # Another user's bot naming a ghost of the same name does not refer to alice's ghost.
    theirs = bot_stack(other_user, "a")
    _group("team-x", user)
    grouped = bot_stack(user, "x", namespace="team-x")
    inactive_target = make_kind(user, ghost_doc("gone-ref"))
    inactive_bot = make_kind(user, bot_doc("old-bot", "gone-ref", "a-shell", "a-model"))
    Kind.objects.filter(pk=inactive_bot.pk).update(is_active=False, live=None)

    cases = [
        mine["ghost"],
        mine["bot"],
        mine["team"],
        lone,
        theirs["ghost"],
        grouped["ghost"],
        grouped["team"],
        inactive_target,
    ]
    answers = [references.has_referrers(row) for row in cases]
    assert answers == [bool(selectors.referrers(row)) for row in cases]
    assert answers == [True, True, False, False, True, True, False, False]
    if rows.one_statement_delete():
        # The one-statement delete refuses exactly these (each tried, then rolled back).
        for row, referenced in zip(cases, answers, strict=True):
            with transaction.atomic():
                found, deleted = rows.delete_unreferenced(row.kind, row.namespace, row.scope, row.name)
                assert found is not None
                assert deleted is not referenced
                assert Kind.objects.filter(pk=row.pk).exists() is referenced
                transaction.set_rollback(True)
        assert rows.delete_unreferenced("Ghost", "default", lone.scope, "no-such-ghost") == (None, False)


@pytest.mark.django_db
def test_rows_delete_removes_the_cascaded_rows_and_sends_the_signals(make_kind, user, bot_stack):
    stack = bot_stack(user, "d")
    team = stack["team"]
    SkillBinary.objects.create(kind=team, binary_data=b"zip", file_size=3, file_hash="h")
    seen: list[tuple[str, int]] = []

    def record(sender: type, instance: Kind, **kwargs: Any) -> None:
        seen.append(("pre" if kwargs["signal"] is signals.pre_delete else "post", instance.pk))

    pk = team.pk
    signals.pre_delete.connect(record, sender=Kind, dispatch_uid="test-pre")
    signals.post_delete.connect(record, sender=Kind, dispatch_uid="test-post")
    try:
        rows.delete(team)
    finally:
        signals.pre_delete.disconnect(dispatch_uid="test-pre", sender=Kind)
        signals.post_delete.disconnect(dispatch_uid="test-post", sender=Kind)
    assert seen == [("pre", pk), ("post", pk)]
    assert team.pk is None
    assert not Kind.objects.filter(pk=pk).exists()
    assert not KindReference.objects.filter(source_id=pk).exists()
    assert not SkillBinary.objects.filter(kind_id=pk).exists()


@pytest.mark.django_db
def test_the_one_statement_delete_removes_the_cascaded_rows_and_sends_post_delete(user, bot_stack):
    if not rows.one_statement_delete():
        pytest.skip("PostgreSQL only")
    team = bot_stack(user, "o")["team"]
    SkillBinary.objects.create(kind=team, binary_data=b"zip", file_size=3, file_hash="h")
    seen: list[int] = []

    def record(sender: type, instance: Kind, **kwargs: Any) -> None:
        seen.append(instance.pk)

    pk = team.pk
    signals.post_delete.connect(record, sender=Kind, dispatch_uid="test-post")
    try:
        found, deleted = rows.delete_unreferenced("Team", team.namespace, team.scope, team.name)
    finally:
        signals.post_delete.disconnect(dispatch_uid="test-post", sender=Kind)
    assert deleted and found is not None and found.pk is None
    assert seen == [pk]
    assert not Kind.objects.filter(pk=pk).exists()
    assert not KindReference.objects.filter(source_id=pk).exists()
    assert not SkillBinary.objects.filter(kind_id=pk).exists()


@pytest.mark.django_db
def test_rows_delete_leaves_rows_with_receivers_to_the_collector(make_kind, user, bot_stack):
    """A receiver on a cascaded model needs its rows loaded: then Django's collector deletes."""
    bot = bot_stack(user, "c")["bot"]
    deleted_edges: list[int] = []

    def record(sender: type, instance: KindReference, **kwargs: Any) -> None:
        deleted_edges.append(instance.source_id)

    signals.post_delete.connect(record, sender=KindReference, dispatch_uid="test-edges")
    try:
        rows.delete(bot)
    finally:
        signals.post_delete.disconnect(dispatch_uid="test-edges", sender=KindReference)
    assert len(deleted_edges) == 3  # ghost, shell, model edges, each seen by the receiver
    assert not Kind.objects.filter(name="c-bot").exists()


@pytest.mark.django_db(transaction=True)
def test_one_list_cache_bump_per_transaction_after_commit(make_kind, user, settings, monkeypatch):
    settings.LIST_CACHE_SECONDS = 60
    bumps: list[int] = []
    bump_now = list_cache._bump_now

    def counting() -> None:
        bumps.append(1)
        bump_now()

    monkeypatch.setattr(list_cache, "_bump_now", counting)
    builds: list[int] = []

    def build() -> int:
        builds.append(1)
        return len(builds)

    assert list_cache.cached(("probe",), build) == 1
    with transaction.atomic():
        make_kind(user, ghost_doc("t1"))
        make_kind(user, ghost_doc("t2"))
        assert bumps == []  # nobody else can see the writes yet
        # This transaction's own reads see its writes: built afresh, not served from the cache.
        assert list_cache.cached(("probe",), build) == 2
    assert bumps == [1]
    assert list_cache.cached(("probe",), build) == 3  # the bump retired the old entry
    assert list_cache.cached(("probe",), build) == 3

    with transaction.atomic():
        make_kind(user, ghost_doc("t3"))
        transaction.set_rollback(True)
    assert bumps == [1]  # nothing changed: no bump
    assert list_cache.cached(("probe",), build) == 3


@pytest.mark.django_db(transaction=True)
def test_a_write_whose_cache_bump_fails_still_answers_201(api, settings, monkeypatch):
    """A cache outage after commit (a Redis restart) must not turn a saved write into a 500."""
    settings.LIST_CACHE_SECONDS = 60
    assert list_cache.cached(("probe",), lambda: "old") == "old"

    def unreachable() -> None:
        raise ConnectionError("Error 111 connecting to the cache")

    monkeypatch.setattr(list_cache, "_bump_now", unreachable)
    response = api.post("/api/v1/namespaces/default/ghosts", ghost_doc("saved"), format="json")

    assert response.status_code == 201, response.content
    assert Kind.objects.filter(kind="Ghost", name="saved", is_active=True).exists()
    # This process dropped its rendered lists, so it cannot serve the one without the write.
    assert list_cache.cached(("probe",), lambda: "new") == "new"


def _commits(captured: CaptureQueriesContext) -> int:
    return sum(1 for q in captured.captured_queries if q["sql"].upper().startswith("COMMIT"))


@pytest.mark.django_db(transaction=True)
def test_a_create_without_references_is_its_own_transaction(api, make_kind, user):
    """A reference-free create is one INSERT in autocommit (no BEGIN / COMMIT round trips) on
    PostgreSQL and MySQL; a create with references keeps its transaction, so a reference that
    does not resolve leaves no row; SQLite always takes the write lock's transaction."""
    make_kind(user, ghost_doc("g"))
    make_kind(user, {"kind": "Shell", "metadata": {"name": "sh"}, "spec": {"shellType": "Chat"}})
    # The service's own statements (the API adds the audit entry's, with their own commit).
    with CaptureQueriesContext(connection) as plain:
        make_kind(user, ghost_doc("plain"))
    with CaptureQueriesContext(connection) as referring:
        make_kind(user, bot_doc("b", "g", "sh", "m"))
    assert [sql.split()[0] for sql in _statements(plain)] == ["INSERT"]
    assert _commits(plain) == (1 if connection.vendor == "sqlite" else 0), plain.captured_queries
    assert _commits(referring) == 1
    assert KindReference.objects.filter(source__name="b").count() == 3

    refused = api.post("/api/v1/namespaces/default/bots", bot_doc("b2", "missing", "sh", "m"), format="json")
    assert refused.status_code == 404, refused.content
    assert not Kind.objects.filter(name="b2").exists()
    again = api.post(GHOSTS, _ghost("plain"), format="json")
    assert again.status_code == 409, again.content
    assert Kind.objects.filter(name="plain", is_active=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_create_inside_a_callers_transaction_leaves_it_usable(make_kind, user):
    """Inside a caller's transaction the insert keeps its savepoint: a duplicate is refused and
    the caller's transaction goes on."""
    from kinds.exceptions import AlreadyExists

    make_kind(user, ghost_doc("dup"))
    with transaction.atomic():
        with pytest.raises(AlreadyExists):
            make_kind(user, ghost_doc("dup"))
        make_kind(user, ghost_doc("after"))
    assert Kind.objects.filter(name="after").exists()


@pytest.mark.django_db
def test_rows_insert_and_live_for_update_store_and_read_what_the_orm_does(user, bot_stack):
    """The fixed INSERT stores what save() stores, sends save()'s signals; the fixed SELECT
    reads a row as the ORM reads it (JSON, booleans, dates converted on every database)."""
    stack = bot_stack(user, "f")
    seen: list[tuple[str, bool]] = []

    def record(sender: type, instance: Kind, **kwargs: Any) -> None:
        seen.append(("pre", False) if kwargs["signal"] is signals.pre_save else ("post", kwargs["created"]))

    signals.pre_save.connect(record, sender=Kind, dispatch_uid="test-pre-save")
    signals.post_save.connect(record, sender=Kind, dispatch_uid="test-post-save")
    try:
        row = Kind(owner=user, kind="Ghost", namespace="default", name="fixed", document=ghost_doc("fixed"))
        rows.insert(row)
    finally:
        signals.pre_save.disconnect(dispatch_uid="test-pre-save", sender=Kind)
        signals.post_save.disconnect(dispatch_uid="test-post-save", sender=Kind)
    assert seen == [("pre", False), ("post", True)]
    assert row.pk is not None and not row._state.adding

    fields = [field.attname for field in Kind._meta.concrete_fields]
    for expected in (Kind.objects.get(pk=row.pk), Kind.objects.get(pk=stack["bot"].pk)):
        locked = rows.live_for_update(expected.kind, expected.namespace, expected.scope, expected.name)
        assert locked is not None
        assert {f: getattr(locked, f) for f in fields} == {f: getattr(expected, f) for f in fields}
        assert isinstance(locked.document, dict) and locked.is_active is True and locked.live is True
    assert rows.live_for_update("Ghost", "default", stack["ghost"].scope, "no-such-ghost") is None


# --- SQLite: writers queue in the process ------------------------------------------------------


def _sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the process write lock is SQLite's")


def _write_lock():  # type: ignore[no-untyped-def]
    from wegent.sqlite.base import _write_lock

    return _write_lock(str(connection.settings_dict["NAME"]))


@pytest.mark.django_db(transaction=True)
def test_sqlite_transactions_hold_the_process_write_lock_until_they_end(user):
    _sqlite_only()
    lock = _write_lock()
    assert not lock.locked()
    with transaction.atomic():
        assert lock.locked()
        with transaction.atomic():  # a savepoint: the same transaction, the same lock
            assert lock.locked()
    assert not lock.locked()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert lock.locked()
        raise RuntimeError("rolled back")
    assert not lock.locked()


@pytest.mark.django_db(transaction=True)
def test_sqlite_a_second_writer_waits_for_the_first_to_commit(user, make_kind):
    _sqlite_only()
    inside, release, done = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                make_kind(user, ghost_doc("first"))
                inside.set()
                release.wait(10)
                order.append("first commits")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            inside.wait(10)
            with transaction.atomic():
                order.append("second begins")
                make_kind(user, ghost_doc("second"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inside.wait(10)
    # The second writer blocks while the first holds the transaction (it cannot finish).
    assert not done.wait(0.2)
    release.set()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert order == ["first commits", "second begins"]
    assert set(Kind.objects.filter(name__in=["first", "second"]).values_list("name", flat=True)) == {
        "first",
        "second",
    }


@pytest.mark.django_db(transaction=True)
def test_sqlite_concurrent_writers_never_see_database_is_locked(user, make_kind):
    """Ten threads creating and deleting at once, as the write bench does: every write lands."""
    from kinds import registry, services

    ghost_type = registry.by_kind("Ghost")
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def writer(index: int) -> None:
        try:
            start.wait(10)
            for step in range(15):
                name = f"w{index}-{step}"
                services.create_resource(
                    actor=user, kind_type=ghost_type, namespace="default", body=_ghost(name)
                )
                services.delete_resource(actor=user, kind_type=ghost_type, namespace="default", name=name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert not Kind.objects.filter(name__startswith="w", kind="Ghost").exists()


def _wait_for(condition) -> None:  # type: ignore[no-untyped-def]
    """Waits (up to 10 s) until ``condition()`` holds; a progress poll, not a timing assertion."""
    import time

    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_the_sqlite_write_lock_is_handed_on_in_arrival_order():
    from wegent.sqlite.base import _WriteLock

    lock = _WriteLock()
    assert lock.acquire(timeout=1)
    order: list[str] = []

    def waiter(name: str) -> None:
        assert lock.acquire(timeout=10)
        order.append(name)
        lock.release()

    threads = []
    for index, name in enumerate(["first", "second", "third"]):
        thread = threading.Thread(target=waiter, args=(name,))
        thread.start()
        threads.append(thread)
        _wait_for(lambda count=index + 1: len(lock._waiters) == count)
    lock.release()
    for thread in threads:
        thread.join(10)
    assert order == ["first", "second", "third"]
    assert not lock.locked()


def test_a_sqlite_write_lock_wait_that_times_out_leaves_the_queue():
    from wegent.sqlite.base import _WriteLock

    lock = _WriteLock()
    assert lock.acquire(timeout=1)
    assert lock.acquire(timeout=0.01) is False
    assert len(lock._waiters) == 0
    lock.release()
    assert not lock.locked()
    assert lock.acquire(timeout=0.01)
