"""``manage.py knowledge_vectors``: where this deployment searches vectors, and pgvector's table.

manage.py knowledge_vectors             says which store vector search uses here
manage.py knowledge_vectors --enable    after installing pgvector: make its table, fill it
manage.py knowledge_vectors --rebuild   refill pgvector's table from the stored chunk vectors
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from knowledge import pgvector


class Command(BaseCommand):
    help = "Show or enable the vector store (pgvector on PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--enable", action="store_true", help="create pgvector's table and fill it")
        parser.add_argument("--rebuild", action="store_true", help="refill pgvector's table")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["enable"] or options["rebuild"]:
            if connection.vendor != "postgresql":
                raise CommandError("pgvector needs PostgreSQL; this database is " + connection.vendor)
            if options["enable"]:
                with transaction.atomic(), connection.cursor() as cursor:
                    if not pgvector.extension_installable(cursor):
                        raise CommandError(
                            "This PostgreSQL server has no pgvector: install it (e.g. the "
                            "postgresql-NN-pgvector package), then run this again"
                        )
                    pgvector.create_table(cursor)
                pgvector.forget()
            written = pgvector.rebuild()
            self.stdout.write(f"pgvector: {written} chunk vectors stored")
        pgvector.forget()
        in_db = pgvector.in_use()
        store = "pgvector (HNSW, in PostgreSQL)" if in_db else "exact search in the server process"
        self.stdout.write(f"vector search: {store}")
