"""Django's MySQL backend with health checks at most once a second (wegent/db_checks.py)."""
