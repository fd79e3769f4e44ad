"""All ``/api`` routes of the devices app, one module per area."""

from __future__ import annotations

from django.urls import path

from devices.api import devices, executors

urlpatterns = [
    *devices.urlpatterns,
    path("executors/tasks/dispatch", executors.DispatchView.as_view(), name="executor-dispatch"),
    path("executors/tasks", executors.ExecutorTaskView.as_view(), name="executor-tasks"),
]
