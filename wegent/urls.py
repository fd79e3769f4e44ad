"""URL map: ``/api`` (REST), ``/admin`` (operator console), docs, health."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerView

from kinds.api import urls as kinds_urls
from wegent.health import HealthView, ReadyView, RootView
from wegent.metrics import metrics_view

admin.site.site_header = "Wegent administration"
admin.site.site_title = "Wegent admin"
admin.site.index_title = "Operator console"

api_patterns = [
    path("health", HealthView.as_view(), name="health"),
    path("ready", ReadyView.as_view(), name="ready"),
    path("v1/", include(kinds_urls.v1_urlpatterns)),
    path("", include("accounts.api.urls")),
    path("", include("kinds.api.urls")),
    path("", include("tasks.api.urls")),
    path("", include("quotas.api.urls")),
    path("", include("knowledge.api.urls")),
    path("", include("chat.api.views")),
    path("", include("devices.api.urls")),
    path("", include("subscriptions.api.urls")),
]

if settings.ENABLE_API_DOCS:
    api_patterns += [
        path("openapi.json", SpectacularJSONAPIView.as_view(), name="schema"),
        path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
        path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    ]

urlpatterns = [
    path("", RootView.as_view(), name="root"),
    path("metrics", metrics_view, name="metrics"),
    path("admin", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", include("console.urls")),  # the dashboard, before the admin site's catch-all
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
]


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"detail": "Not Found"}, status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"error_code": 500, "detail": "Internal server error"}, status=500)


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"detail": "Bad Request"}, status=400)


def json_forbidden(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"detail": "Forbidden"}, status=403)


handler400 = json_bad_request
handler403 = json_forbidden
handler404 = json_not_found
handler500 = json_server_error
