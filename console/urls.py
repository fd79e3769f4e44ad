"""Mounted under ``/admin/`` before the admin site's own URLs (wegent/urls.py)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from console import views

urlpatterns = [
    path("dashboard/", admin.site.admin_view(views.dashboard), name="console-dashboard"),
]
