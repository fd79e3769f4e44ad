"""pgvector's table of chunk vectors, on PostgreSQL servers that offer the ``vector`` extension
(``knowledge.pgvector``). Elsewhere, or where this role may not create the extension, nothing is
made and vector search stays in process; ``manage.py knowledge_vectors --enable`` makes the table
later, once an operator has installed pgvector."""

import logging

from django.db import migrations

logger = logging.getLogger(__name__)


def forward(apps, schema_editor):  # noqa: ANN001, ANN201
    from knowledge import pgvector

    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        if not pgvector.extension_installable(cursor):
            return
        try:
            cursor.execute("SAVEPOINT knowledge_pgvector")
            pgvector.create_table(cursor)
            cursor.execute("RELEASE SAVEPOINT knowledge_pgvector")
        except Exception as exc:  # noqa: BLE001 (a role without CREATE EXTENSION rights)
            cursor.execute("ROLLBACK TO SAVEPOINT knowledge_pgvector")
            logger.warning("pgvector is installed but could not be enabled here: %s", exc)
    pgvector.forget()


def backward(apps, schema_editor):  # noqa: ANN001, ANN201
    from knowledge import pgvector

    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            pgvector.drop_table(cursor)
        pgvector.forget()


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0002_keyword_index")]

    operations = [migrations.RunPython(forward, backward)]
