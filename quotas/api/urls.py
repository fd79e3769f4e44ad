from __future__ import annotations

from django.urls import path

from quotas.api import views

urlpatterns = [
    path("quota/claude/quota", views.FrontendQuotaView.as_view(), name="quota-frontend"),
    path("quota/me", views.MyQuotasView.as_view(), name="quota-mine"),
    path("quota/<path:path>", views.OtherQuotaView.as_view(), name="quota-other"),
]
