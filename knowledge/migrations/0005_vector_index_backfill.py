"""Fills the database's vector index (pgvector's table from 0003, or sqlite-vec's tables where
the SQLite connection has the extension) from the vectors already stored with the chunks, so an
upgraded install searches its existing knowledge bases at once. Nothing to do elsewhere."""

from django.db import migrations


def backfill(apps, schema_editor):  # noqa: ANN001, ANN201
    from knowledge import vectors

    vectors.rebuild()


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0004_document_indexed_generation")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
