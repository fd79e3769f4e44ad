"""Webhook deliveries: the signature, the size limit and replay protection (reference §2.3).

The token in the URL finds the subscription; when it has a secret, ``X-Webhook-Signature:
sha256=<hex HMAC-SHA256(body, secret)>`` must match, compared in constant time. A delivery
replayed within ``SUBSCRIPTION_WEBHOOK_REPLAY_SECONDS`` (same signature and body) creates no
second execution: the first one claims the delivery's key in the shared cache (Redis in the
scaled mode, so every worker sees it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from subscriptions.exceptions import BadSignature, WebhookNotFound
from subscriptions.models import EVENT, BackgroundExecution, Subscription
from subscriptions.services import executions
from subscriptions.services.subscriptions import webhook_secret
from wegent.errors import BadRequest, PayloadTooLarge

SIGNATURE_PREFIX = "sha256="
MAX_TOKEN = 64


@dataclass
class Delivery:
    execution: BackgroundExecution
    duplicate: bool


def signature_for(body: bytes, secret: str) -> str:
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _subscription(token: str) -> Subscription:
    if not token or len(token) > MAX_TOKEN:
        raise WebhookNotFound()
    row = Subscription.objects.filter(
        webhook_token=token, is_active=True, enabled=True, trigger_type=EVENT
    ).first()
    if row is None:
        raise WebhookNotFound()
    return row


def _check_signature(row: Subscription, body: bytes, signature: str | None) -> None:
    secret = webhook_secret(row)
    if not secret:
        return
    if not signature:
        raise BadSignature("Missing webhook signature")
    expected = signature_for(body, secret)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise BadSignature()


def _payload(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("Webhook body must be JSON") from exc


def deliver(token: str, body: bytes, signature: str | None) -> Delivery:
    if len(body) > settings.SUBSCRIPTION_WEBHOOK_MAX_BYTES:
        raise PayloadTooLarge(
            f"Webhook body too large (limit {settings.SUBSCRIPTION_WEBHOOK_MAX_BYTES} bytes)"
        )
    row = _subscription(token)
    _check_signature(row, body, signature)
    data = _payload(body)
    digest = hashlib.sha256((signature or "").encode() + b"\n" + body).hexdigest()
    key = f"subscriptions:webhook:{row.pk}:{digest}"
    if not cache.add(key, 0, timeout=settings.SUBSCRIPTION_WEBHOOK_REPLAY_SECONDS):
        earlier = BackgroundExecution.objects.filter(pk=cache.get(key) or 0).first()
        if earlier is not None:
            return Delivery(execution=earlier, duplicate=True)
        raise BadRequest("This delivery is already being processed")
    try:
        execution = executions.webhook_trigger(row, data)
    except Exception:
        cache.delete(key)  # nothing was created: a retry of this delivery may run
        raise
    cache.set(key, execution.pk, timeout=settings.SUBSCRIPTION_WEBHOOK_REPLAY_SECONDS)
    return Delivery(execution=execution, duplicate=False)
