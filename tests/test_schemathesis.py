"""Schemathesis against the API as an agent sees it: whatever an agent sends that the OpenAPI
schema describes (and much it does not), the answer is never a server error.

In process, through the WSGI app (the production shape), on the test database. Bounded so that
it runs in well under a minute, and deterministic (`derandomize`): the same cases every run.
Not tested here, because they cannot be deterministically:
- the long-poll `wait` endpoint, which is not in the schema (its answer depends on time);
- anything Celery would do next: tasks are not sent (a real broker would run them later, against
  a database the next test owns), so this covers the requests only.
"""

from __future__ import annotations

import pytest
import schemathesis
from celery import Celery
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from config.wsgi import application

EXAMPLES = 5


schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application


@pytest.fixture
def one_connection():
    """The requests share the test's connection and transaction, as under Django's test client:
    the WSGI handler would otherwise close it at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def no_tasks(monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(Celery, "send_task", lambda self, name, *args, **kw: sent.append(name))
    return sent


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.filter_too_much],
)  # fmt: skip
def test_no_agent_request_is_answered_with_a_server_error(
    case, demo, agent, no_tasks, one_connection
):
    case.call_and_validate(
        headers={"Authorization": f"Api-Key {agent.key}"}, checks=[not_a_server_error]
    )
