"""The Kind write path's row statements, as fixed SQL instead of ORM-built queries.

Building a query through the ORM costs more CPU than running it (about half of a create +
delete went to compiling filters and SQL, profiled), so the statements every update and
delete runs are written once here, portable across SQLite, PostgreSQL and MySQL.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection, models, transaction
from django.db.models import signals

from kinds.models import DEFAULT_NAMESPACE, Kind, KindReference
from wegent import inserts


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def live_for_update(kind: str, namespace: str, scope: str, name: str) -> Kind | None:
    """The live row with this identity (the unique key), locked where the database can.

    The same row as ``selectors.scoped_rows(...).filter(name=name)``: ``scope`` is what the
    scoping by owner means (see ``kinds.models.scope_for``), and one row at most is live.
    """
    with connection.cursor() as cursor:
        cursor.execute(_live_for_update_sql(), [kind, namespace, scope, name, True])
        found = cursor.fetchone()
    return _row_from(found) if found is not None else None


@cache
def _live_for_update_sql() -> str:
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _row_fields())
    return (
        f"SELECT {columns} FROM {_table(Kind)} "
        f"WHERE kind = %s AND namespace = %s AND scope = %s AND name = %s AND is_active = %s{lock}"
    )


@cache
def _row_fields() -> tuple[models.Field, ...]:
    return tuple(Kind._meta.concrete_fields)


@cache
def _row_columns() -> tuple[Any, ...]:
    return tuple(field.get_col(Kind._meta.db_table) for field in _row_fields())


def _row_from(values: tuple[Any, ...]) -> Kind:
    """A Kind from the values of ``_row_fields``' columns, as the ORM reads one (the converters
    ``RawQuerySet`` applies: JSON text into objects on MySQL and SQLite, booleans and dates on
    SQLite)."""
    converted = []
    for column, value in zip(_row_columns(), values, strict=True):
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            value = converter(value, column, connection)
        converted.append(value)
    return Kind.from_db(connection.alias, [field.attname for field in _row_fields()], converted)


def insert(row: Kind) -> None:
    """``row.save(force_insert=True)`` as one fixed statement (``wegent.inserts``)."""
    row.derive_keys()
    inserts.insert(row)


@cache
def _cascades() -> tuple[tuple[type[models.Model], str], ...] | None:
    """(model, column) of every row that goes with a Kind, when each is one plain DELETE.

    None when any relation needs more than that (not CASCADE, or rows with relations of their
    own), so ``delete`` leaves such a schema to Django's collector.
    """
    found = []
    for relation in Kind._meta.related_objects:
        related = relation.related_model
        if (
            relation.many_to_many
            or relation.on_delete is not models.CASCADE
            or related._meta.related_objects
            or related._meta.parents
        ):
            return None
        found.append((related, relation.field.column))
    return tuple(found)


def _plain_deletes_allowed(cascades: tuple[tuple[type[models.Model], str], ...] | None) -> bool:
    if cascades is None:
        return False
    # Receivers of the cascaded rows' signals need the collector to load those rows.
    return not any(
        signals.pre_delete.has_listeners(model) or signals.post_delete.has_listeners(model)
        for model, _ in cascades
    )


def delete(row: Kind) -> None:
    """``row.delete()``: the cascaded rows and the row in one DELETE each, Kind's signals sent.

    Django's collector builds a query per relation to find what to delete; here the relations
    are read once from the models (see ``_cascades``), and the collector still does the work
    whenever they are not plain.
    """
    cascades = _cascades()
    if not _plain_deletes_allowed(cascades):
        row.delete()
        return
    assert cascades is not None
    using = row._state.db or "default"
    signals.pre_delete.send(sender=Kind, instance=row, using=using, origin=row)
    quote = connection.ops.quote_name
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for model, column in cascades:
            cursor.execute(f"DELETE FROM {_table(model)} WHERE {quote(column)} = %s", [row.pk])
        cursor.execute(f"DELETE FROM {_table(Kind)} WHERE {quote(Kind._meta.pk.column)} = %s", [row.pk])
    signals.post_delete.send(sender=Kind, instance=row, using=using, origin=row)
    row.pk = None


def one_statement_delete() -> bool:
    """Whether ``delete_unreferenced`` may be used: PostgreSQL (data-modifying WITH clauses),
    plain cascades, and no receiver that must see the row before it is deleted."""
    return (
        connection.vendor == "postgresql"
        and _plain_deletes_allowed(_cascades())
        and not signals.pre_delete.has_listeners(Kind)
    )


def delete_unreferenced(kind: str, namespace: str, scope: str, name: str) -> tuple[Kind | None, bool]:
    """The live row with this identity deleted with its cascaded rows, in one statement, unless
    an active row refers to it: (row, True) deleted, post_delete sent; (row, False) referenced,
    nothing changed; (None, False) no such row.

    ``live_for_update``, ``references.has_referrers`` and ``delete`` as one statement (PostgreSQL
    only, see ``one_statement_delete``): a delete is then one round trip in autocommit instead
    of seven (BEGIN, lock, referrer test, three DELETEs, COMMIT). The row is locked as before,
    and the referrer rule is the same as ``has_referrers`` (tested to agree).
    """
    params = [kind, namespace, scope, name, True, True, DEFAULT_NAMESPACE]
    with connection.cursor() as cursor:
        cursor.execute(_delete_unreferenced_sql(), params)
        found = cursor.fetchone()
    if found is None:
        return None, False
    row = _row_from(found[:-1])
    if not found[-1]:
        return row, False
    signals.post_delete.send(sender=Kind, instance=row, using=connection.alias, origin=row)
    row.pk = None
    return row, True


@cache
def _delete_unreferenced_sql() -> str:
    quote = connection.ops.quote_name
    kinds, edges = _table(Kind), _table(KindReference)
    columns = [quote(field.column) for field in _row_fields()]
    cascades = "".join(
        f", c{index} AS (DELETE FROM {_table(model)} WHERE {quote(column)} IN (SELECT id FROM gone))"
        for index, (model, column) in enumerate(_cascades() or ())
    )
    # The referrer rule of references.has_referrers: edges to the row's identity from other
    # active rows, of the row's owner when it is a personal row (the default namespace).
    return (
        f"WITH target AS (SELECT {', '.join(columns)} FROM {kinds} "
        "WHERE kind = %s AND namespace = %s AND scope = %s AND name = %s AND is_active = %s FOR UPDATE), "
        f"referenced AS (SELECT EXISTS (SELECT 1 FROM {edges} e INNER JOIN {kinds} s ON s.id = e.source_id "
        "INNER JOIN target t ON e.target_kind = t.kind AND e.target_namespace = t.namespace "
        "AND e.target_name = t.name WHERE s.is_active = %s AND s.id <> t.id "
        "AND (t.namespace <> %s OR t.owner_id IS NULL OR s.owner_id = t.owner_id)) AS yes), "
        "gone AS (SELECT id FROM target WHERE NOT (SELECT yes FROM referenced))"
        f"{cascades}, "
        f"removed AS (DELETE FROM {kinds} WHERE id IN (SELECT id FROM gone) RETURNING id) "
        f"SELECT {', '.join('t.' + column for column in columns)}, "
        "EXISTS (SELECT 1 FROM removed) FROM target t"
    )
