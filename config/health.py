"""Liveness and readiness: `/healthz` (the process answers) and `/readyz` (PostgreSQL, migrations,
Redis and the broker answer). No authentication; they name a failed dependency, nothing more."""

from __future__ import annotations

import logging
from functools import cache

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

# Each dependency gets this long to connect and answer: a probe must answer well within the
# orchestrator's timeout even when something is down (a closed port fails at once anyway).
CHECK_TIMEOUT_SECONDS = 1.0


def healthz(request) -> HttpResponse:
    """The process serves requests. Touches nothing else: a database outage must not get every
    web process restarted."""
    return HttpResponse(b"ok\n", content_type="text/plain")


def readyz(request) -> JsonResponse:
    """200 when every dependency answers; 503 naming the ones that did not (details go to the log,
    never to the caller)."""
    failed = []
    try:
        applied = _applied_migrations()
    except Exception as exc:
        _log_failure("database", exc)
        failed += ["database", "migrations"]  # cannot tell without the database
    else:
        missing = _expected_migrations() - applied
        if missing:
            _log_failure("migrations", MigrationsPending(", ".join(map(".".join, sorted(missing)))))
            failed.append("migrations")
    for name, url in (("redis", settings.REDIS_URL), ("broker", settings.CELERY_BROKER_URL)):
        try:
            _ping(url)
        except Exception as exc:
            _log_failure(name, exc)
            failed.append(name)
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed}, status=503)
    return JsonResponse({"status": "ready"})


def _log_failure(name: str, exc: Exception) -> None:
    logger.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)


class MigrationsPending(Exception):
    pass


def _applied_migrations() -> set[tuple[str, str]]:
    """What django_migrations holds, read on a pooled connection of the probe's own: it waits
    CHECK_TIMEOUT_SECONDS at most for one, not the pool's timeout meant for requests."""
    sql = "SELECT app, name FROM django_migrations"
    wrapper = connections[DEFAULT_DB_ALIAS]
    pool = getattr(wrapper, "pool", None)
    if pool is None:  # pooling off (DB_POOL_MAX_SIZE=0): the request's own connection
        with wrapper.cursor() as cursor:
            cursor.execute(sql)
            return set(cursor.fetchall())
    pool.open()  # as Django does before each connection it takes; a no-op once open
    with pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as connection:
        return set(connection.execute(sql).fetchall())


@cache
def _expected_migrations() -> frozenset[tuple[str, str]]:
    """The leaf migration of every app, read from disk once per process (the code cannot change
    under a running process; reading the migration graph costs tens of milliseconds)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    return frozenset(loader.graph.leaf_nodes())


@cache
def _redis_client(url: str) -> redis.Redis:
    # One client (and connection pool) per URL and process: a probe every few seconds must not
    # open a connection each time.
    return redis.Redis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS, socket_timeout=CHECK_TIMEOUT_SECONDS
    )


def _ping(url: str) -> None:
    if url.startswith(("redis://", "rediss://", "unix://")):
        _redis_client(url).ping()
        return
    # A broker on another transport (AMQP ...): kombu connects once, without its retries.
    from kombu import Connection

    with Connection(url, connect_timeout=CHECK_TIMEOUT_SECONDS) as connection:
        connection.ensure_connection(max_retries=1)
