"""The console's own pages (Django admin's login and staff check wrap each: see urls.py)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from console import selectors


def dashboard(request: HttpRequest) -> HttpResponse:
    """The platform at a glance; each figure links to the admin list of the rows it counts and
    shows only when the operator may view that model."""
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "sections": selectors.dashboard(request.user),
    }
    return TemplateResponse(request, "console/dashboard.html", context)
