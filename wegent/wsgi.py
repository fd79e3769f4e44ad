from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wegent.settings")

application = get_wsgi_application()

from wegent.telemetry import configure_telemetry  # noqa: E402

configure_telemetry()
