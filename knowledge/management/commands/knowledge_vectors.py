"""``manage.py knowledge_vectors``: where this deployment searches vectors, and the database's index.

manage.py knowledge_vectors             says which store vector search uses here
manage.py knowledge_vectors --enable    PostgreSQL, after installing pgvector: make its table, fill it
manage.py knowledge_vectors --rebuild   refill the database's index (pgvector, sqlite-vec)
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from knowledge import pgvector, sqlite_vec, vectors


class Command(BaseCommand):
    help = "Show, enable (pgvector) or rebuild the database's vector index."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--enable", action="store_true", help="create pgvector's table and fill it")
        parser.add_argument("--rebuild", action="store_true", help="refill the database's vector index")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["enable"]:
            if connection.vendor != "postgresql":
                raise CommandError(
                    "--enable is for pgvector on PostgreSQL; this database is " + connection.vendor
                )
            with transaction.atomic(), connection.cursor() as cursor:
                if not pgvector.extension_installable(cursor):
                    raise CommandError(
                        "This PostgreSQL server has no pgvector: install it (e.g. the "
                        "postgresql-NN-pgvector package), then run this again"
                    )
                pgvector.create_table(cursor)
            pgvector.forget()
        if options["enable"] or options["rebuild"]:
            if vectors.database_store() is None:
                raise CommandError(
                    "This database has no vector index: vector search runs in the server process"
                )
            self.stdout.write(f"{vectors.rebuild()} chunk vectors stored")
        if pgvector.in_use():
            store = "pgvector (HNSW, in PostgreSQL)"
        elif sqlite_vec.in_use():
            store = "sqlite-vec (in SQLite)"
        else:
            store = "exact search in the server process"
        self.stdout.write(f"vector search: {store}")
