"""All ``/api`` routes of the tasks app, one module per area."""

from __future__ import annotations

from tasks.api import attachments, members, projects, subtasks, task_extras, tasks

urlpatterns = [
    *tasks.urlpatterns,
    *task_extras.urlpatterns,
    *members.urlpatterns,
    *subtasks.urlpatterns,
    *attachments.urlpatterns,
    *projects.urlpatterns,
]
