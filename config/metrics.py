"""Prometheus metrics: the request latency histogram every web process records, and `/metrics`,
which serves it (summed over the processes that share PROMETHEUS_MULTIPROC_DIR) with the business
figures (config.business_metrics), to callers with the token or from an allowed network."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from functools import cache

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from config.client_address import client_address

# This process's own metrics. In multiprocess mode (PROMETHEUS_MULTIPROC_DIR set before the
# process started) their values live in files in that directory, one per process, which a scrape
# of any process sums; otherwise in this registry.
# No `_created` series: a timestamp per label set that doubles the output and nobody graphs.
disable_created_metrics()
PROCESS_REGISTRY = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "countersign_http_request_duration_seconds",
    "Time to answer an HTTP request, by route (the URL pattern), method and status class.",
    ["route", "method", "status"],
    # From a cached page to a long-poll that waits the longest it may (WAIT_MAX_SECONDS, 60).
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=PROCESS_REGISTRY,
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}


def request_observe(*, route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request; labels stay few: routes are patterns, methods a fixed set."""
    REQUEST_SECONDS.labels(
        route,
        method if method in _METHODS else "other",
        _STATUS_CLASSES.get(status // 100, "other"),
    ).observe(seconds)


def metrics(request) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def scrape_registry() -> CollectorRegistry:
    from config.business_metrics import BusinessCollector

    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward(PROCESS_REGISTRY))
    registry.register(BusinessCollector())
    return registry


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def describe(self):
        return []

    def collect(self):
        return self.registry.collect()


# ------------------------------------------------------------------------------------------------
# Who may read them


def _refusal(request) -> HttpResponse | None:
    """None when the caller may read the metrics: it sends `Authorization: Bearer
    <METRICS_TOKEN>`, or its address (as our trusted proxies saw it) is in
    METRICS_ALLOWED_NETWORKS. With neither configured there is nothing to read: 404."""
    token, networks = settings.METRICS_TOKEN, _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    if not token and not networks:
        return HttpResponse(status=404)
    if token and _token_matches(request.META.get("HTTP_AUTHORIZATION", ""), token):
        return None
    if networks and _address_in(client_address(request), networks):
        return None
    response = HttpResponse(b"forbidden\n", status=403, content_type="text/plain")
    if token:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _token_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    # Both sides hashed: the comparison takes the same time whatever the lengths.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        hashlib.sha256(given.strip().encode()).digest(), _token_digest(token)
    )


@cache
def _token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@cache
def _networks(specs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(spec.strip(), strict=False) for spec in specs if spec.strip())


def _address_in(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
