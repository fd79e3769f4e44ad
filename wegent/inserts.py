"""One row inserted by a fixed INSERT statement instead of ``Model.save()``.

For the rows every API write adds (a Kind, an audit entry), the ORM's save machinery (the
compiler building the statement, per-field loops, ``save_base``'s bookkeeping) cost more CPU than
the statement itself (profiled on bench/kinds_load.py). The statement is built once per model and
database; values are prepared by the model's own fields (``pre_save`` fills ``auto_now`` dates),
so what is stored is what ``save()`` would store. Portable across SQLite, PostgreSQL and MySQL.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection, models, transaction
from django.db.models import signals


@functools.cache
def _fields(model: type[models.Model]) -> tuple[Any, ...]:
    return tuple(field for field in model._meta.concrete_fields if not field.primary_key)


@functools.cache
def _sql(model: type[models.Model], vendor: str, returning_extra: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _fields(model))
    values = ", ".join(["%s"] * len(_fields(model)))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values})"
    if connection.features.can_return_columns_from_insert:
        sql += f" RETURNING {quote(model._meta.pk.column)}{returning_extra}"
    return sql


def insert(instance: models.Model, *, send_signals: bool = True, returning_extra: str = "") -> None:
    """``instance.save(force_insert=True)`` on the default database, as one statement.

    ``send_signals``: pre_save and post_save as ``save()`` sends them (False only for models no
    receiver listens to). ``returning_extra``: more of a PostgreSQL RETURNING clause (after the
    primary key), e.g. a ``set_config`` for the statement's own transaction.
    """
    model = type(instance)
    using = connection.alias
    if send_signals:
        signals.pre_save.send(sender=model, instance=instance, raw=False, using=using, update_fields=None)
    fields = _fields(model)
    params = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    # As save(): an error inside an atomic block marks it for rollback.
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(_sql(model, connection.vendor, returning_extra), params)
        if connection.features.can_return_columns_from_insert:
            instance.pk = cursor.fetchone()[0]
        else:
            instance.pk = cursor.lastrowid
    instance._state.adding = False
    instance._state.db = using
    if send_signals:
        signals.post_save.send(
            sender=model, instance=instance, created=True, update_fields=None, raw=False, using=using
        )
