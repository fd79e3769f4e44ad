#!/bin/sh
# Migrates and bootstraps (idempotent) unless WEGENT_AUTO_MIGRATE=0, then runs the command.
# Scaled deployments run the same image as worker (`celery -A wegent worker`) or beat.
set -e
if [ "${WEGENT_AUTO_MIGRATE:-1}" = "1" ]; then
  python manage.py migrate --noinput
  python manage.py bootstrap
fi
exec "$@"
