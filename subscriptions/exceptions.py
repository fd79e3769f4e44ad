"""Errors of the subscriptions app, with the reference's ``detail`` texts."""

from __future__ import annotations

from wegent.errors import BadRequest, Conflict, NotFound, Unauthorized


class SubscriptionNotFound(NotFound):
    default_detail = "Subscription not found"


class ExecutionNotFound(NotFound):
    default_detail = "Execution not found"


class InvalidExecutionTransition(BadRequest):
    default_detail = "Execution cannot change to that status"


class StaleExecution(Conflict):
    default_detail = "Execution was changed by someone else"


class DuplicateSubscription(BadRequest):
    default_detail = "A subscription with this name already exists"


class WebhookNotFound(NotFound):
    default_detail = "Webhook not found"


class BadSignature(Unauthorized):
    default_detail = "Invalid webhook signature"
