"""The keyword index of chunk text, in each database's own full-text search (reference extras §1.8
keyword mode): an FTS5 table kept by triggers on SQLite, a GIN index on ``to_tsvector`` on
PostgreSQL, a FULLTEXT index on MySQL/MariaDB. The triggers keep the FTS5 rows in the same
transaction as the chunks, so a deleted chunk never answers a keyword query."""

from django.db import migrations

TABLE = "knowledge_knowledgechunk"

SQLITE = [
    f"CREATE VIRTUAL TABLE knowledge_chunk_fts USING fts5(content, content='{TABLE}', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER knowledge_chunk_ai AFTER INSERT ON {TABLE} BEGIN "
    "INSERT INTO knowledge_chunk_fts(rowid, content) VALUES (new.id, new.content); END",
    f"CREATE TRIGGER knowledge_chunk_ad AFTER DELETE ON {TABLE} BEGIN "
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, content) VALUES ('delete', old.id, old.content); END",
    f"CREATE TRIGGER knowledge_chunk_au AFTER UPDATE OF content ON {TABLE} BEGIN "
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, content) VALUES ('delete', old.id, old.content); "
    "INSERT INTO knowledge_chunk_fts(rowid, content) VALUES (new.id, new.content); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS knowledge_chunk_au",
    "DROP TRIGGER IF EXISTS knowledge_chunk_ad",
    "DROP TRIGGER IF EXISTS knowledge_chunk_ai",
    "DROP TABLE IF EXISTS knowledge_chunk_fts",
]
POSTGRES = [f"CREATE INDEX knowledge_chunk_tsv ON {TABLE} USING GIN (to_tsvector('simple', content))"]
POSTGRES_DROP = ["DROP INDEX IF EXISTS knowledge_chunk_tsv"]
MYSQL = [f"CREATE FULLTEXT INDEX knowledge_chunk_ft ON {TABLE} (content)"]
MYSQL_DROP = [f"DROP INDEX knowledge_chunk_ft ON {TABLE}"]

FORWARD = {"sqlite": SQLITE, "postgresql": POSTGRES, "mysql": MYSQL}
BACKWARD = {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP, "mysql": MYSQL_DROP}


def _run(statements: dict) -> object:
    def run(apps, schema_editor):  # noqa: ANN001, ANN202
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    # MySQL cannot run DDL inside a transaction; the other databases do not need one here.
    atomic = False
    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), atomic=False)]
