"""Django's PostgreSQL backend, health-checking a reused connection only when its socket shows
the server said something or closed it (wegent/db_checks.py)."""
