"""Idempotent first-run setup: the admin user, then every registered bootstrap step."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.hooks import bootstrap_steps
from accounts.services.bootstrap import DEFAULT_ADMIN_PASSWORD, ensure_admin


class Command(BaseCommand):
    help = "Create the admin user if missing and seed init data. Safe to run repeatedly."

    def handle(self, *args: Any, **options: Any) -> None:
        password = settings.ADMIN_PASSWORD or DEFAULT_ADMIN_PASSWORD
        created = ensure_admin(password=password)
        if created:
            self.stdout.write(self.style.SUCCESS("Created admin user 'admin'."))
            if password == DEFAULT_ADMIN_PASSWORD:
                self.stderr.write(
                    self.style.WARNING(
                        "WARNING: admin uses the default password 'Wegent2025!'. "
                        "Set WEGENT_ADMIN_PASSWORD before the first run, or change it now."
                    )
                )
        else:
            self.stdout.write("Admin user 'admin' already exists; left unchanged.")
        for step in bootstrap_steps:
            message = step()
            if message:
                self.stdout.write(message)
