"""Errors of the tasks app, with the reference's ``detail`` texts."""

from __future__ import annotations

from wegent.errors import BadRequest, NotFound


class TaskNotFound(NotFound):
    default_detail = "Task not found"


class SubtaskNotFound(NotFound):
    default_detail = "Subtask not found"


class TeamNotFound(NotFound):
    default_detail = "Team not found, it may be deleted or not shared"


class TaskBusy(BadRequest):
    default_detail = "Task is still running, please wait for it to complete"


class InvalidTransition(BadRequest):
    default_detail = "Invalid status transition"


class PromptTooLong(BadRequest):
    default_detail = "Prompt exceeds the maximum length of 60000 bytes"


class ProjectNotFound(NotFound):
    default_detail = "Project not found"


class TaskNotInProject(NotFound):
    default_detail = "Task not found in project"
