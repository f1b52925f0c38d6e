"""/healthz and /readyz: cheap, unauthenticated, answered before the other middleware, and naming
(only) the dependency that does not answer."""

from __future__ import annotations

import socket

import pytest
from django.db import connection
from django.test import Client

from config import health


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_ok_without_touching_anything_else():
    response = Client().get("/healthz")

    assert (response.status_code, response.content) == (200, b"ok\n")


def test_probes_are_answered_before_host_checks_https_redirects_and_sessions(settings):
    # As in production behind nginx: the probe comes over plain HTTP, to the container's address.
    settings.SECURE_SSL_REDIRECT = True
    client = Client()

    probe = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    page = client.get("/accounts/login/")

    assert probe.status_code == 200
    assert "Set-Cookie" not in probe.headers and "X-Request-ID" not in probe.headers
    assert page.status_code == 301


@pytest.mark.django_db
def test_readyz_answers_ready_when_everything_answers():
    response = Client().get("/readyz")

    assert (response.status_code, response.json()) == (200, {"status": "ready"})


@pytest.mark.django_db
@pytest.mark.parametrize("setting,name", [("REDIS_URL", "redis"), ("CELERY_BROKER_URL", "broker")])
def test_readyz_names_the_dependency_that_does_not_answer(settings, setting, name):
    setattr(settings, setting, f"redis://127.0.0.1:{closed_port()}/0")

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": [name]}


@pytest.mark.django_db
def test_readyz_says_nothing_of_why_a_dependency_failed(settings):
    settings.REDIS_URL = f"redis://:s3cret@127.0.0.1:{closed_port()}/0"

    body = Client().get("/readyz").content.decode()

    assert "s3cret" not in body and "127.0.0.1" not in body and "Error" not in body


@pytest.mark.django_db(transaction=True)
def test_readyz_is_unavailable_while_a_migration_is_not_applied():
    app, name = sorted(health._expected_migrations())[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = %s AND name = %s RETURNING applied",
            [app, name],
        )
        (applied,) = cursor.fetchone()
    try:
        response = Client().get("/readyz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, %s)",
                [app, name, applied],
            )

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["migrations"]}
