"""Prometheus metrics of this process at ``/metrics``.

What is counted: HTTP requests by route pattern (``api/tasks/<int:task_id>``, never the raw
path, so the number of series stays bounded), method and status; chat streams running now and
their first-token and total durations; password login failures; and, on scrape, gauges that
apps register (``gauge_providers``: e.g. connected devices) and the Celery queue's depth when
the broker is Redis.

Each server process keeps its own figures (scrape every worker, as with any multi-process
deployment behind a load balancer). Access: with ``WEGENT_METRICS_TOKEN`` set, a request must
send it as a bearer token; without one, only the addresses in ``WEGENT_METRICS_ALLOW``
(default: loopback) may read the page. Everyone else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from wegent.hooks import Hook

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

http_requests = Counter(
    "wegent_http_requests",
    "HTTP requests by route pattern, method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
login_failures = Counter("wegent_login_failures", "Password logins refused", registry=REGISTRY)
_STREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
stream_first_token = Histogram(
    "wegent_chat_first_token_seconds",
    "From a chat answer's stream start to its first text delta",
    buckets=_STREAM_BUCKETS,
    registry=REGISTRY,
)
stream_duration = Histogram(
    "wegent_chat_stream_seconds",
    "From a chat answer's stream start to its end, by ending",
    ["ending"],
    buckets=_STREAM_BUCKETS,
    registry=REGISTRY,
)

# name -> (help, read): apps register gauges read at scrape time (running streams, devices).
gauge_providers: Hook[Callable[[], tuple[str, str, float]]] = Hook(
    "wegent.gauge_providers", "a gauge read at each /metrics scrape: (name, help, value)"
)


class _ScrapeGauges(Collector):
    """The registered gauges and the Celery queue depth, read when the page is scraped."""

    def describe(self) -> list[Any]:
        return []  # nothing read at registration (no Redis call at import)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for provider in gauge_providers:
            try:
                name, text, value = provider()
            except Exception:
                logger.exception("gauge provider %s failed", provider)
                continue
            yield GaugeMetricFamily(name, text, value=value)
        depth = _celery_queue_depth()
        if depth is not None:
            yield GaugeMetricFamily("wegent_celery_queue_depth", "Celery messages waiting", value=depth)


def _celery_queue_depth() -> float | None:
    """Messages in the default Celery queue (Redis broker); None for the in-memory broker."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return float(client.llen("celery"))
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - the page still answers while Redis is away
        logger.warning("Celery queue depth unavailable (Redis)")
        return None


REGISTRY.register(_ScrapeGauges())


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


def count_request(request: HttpRequest, status: int) -> None:
    http_requests.labels(route_of(request), request.method or "", str(status)).inc()


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
    try:
        address = ipaddress.ip_address(str(request.META.get("REMOTE_ADDR") or ""))
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOW)))


def _networks(entries: tuple[str, ...]) -> list[Any]:
    found = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            logger.warning("WEGENT_METRICS_ALLOW: %r is not an address or network", entry)
    return found


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("metrics: not allowed from here\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
