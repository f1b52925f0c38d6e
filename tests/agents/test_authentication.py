"""Agents authenticate with API keys that are stored hashed and can be revoked."""

from __future__ import annotations

import io
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from rest_framework.test import APIClient

from agents.models import ApiKey
from agents.services import agent_create, agent_for_key, agent_issue_key, api_key_revoke

pytestmark = pytest.mark.django_db


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_key_is_stored_hashed_with_only_its_prefix_in_clear():
    issued = agent_create(name="support-bot")

    row = ApiKey.objects.get(agent=issued.agent)
    prefix, secret = issued.key.split("_", 2)[1:]
    assert row.prefix == prefix
    assert row.hashed_key != issued.key
    assert len(row.hashed_key) == 64
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM agents_apikey WHERE hashed_key LIKE %s OR prefix LIKE %s",
            [f"%{secret}%", f"%{secret}%"],
        )
        assert cursor.fetchone()[0] == 0


def test_the_issued_key_authenticates_its_agent():
    issued = agent_create(name="support-bot")

    assert agent_for_key(raw_key=issued.key) == issued.agent


def test_a_key_whose_secret_contains_underscores_authenticates():
    with mock.patch("agents.services.secrets.token_urlsafe", return_value="a_b_c" + "x" * 38):
        issued = agent_create(name="support-bot")

    assert agent_for_key(raw_key=issued.key) == issued.agent


@pytest.mark.parametrize(
    "mangle",
    [lambda k: k + "x", lambda k: k[:-1], lambda k: k.replace("cs_", "xx_", 1), lambda k: "cs_"],
    ids=["longer", "shorter", "wrong-scheme", "prefix-only"],
)
def test_a_wrong_key_is_refused(mangle):
    issued = agent_create(name="support-bot")

    assert agent_for_key(raw_key=mangle(issued.key)) is None


def test_a_revoked_key_is_refused_by_the_api():
    issued = agent_create(name="support-bot")
    prefix = issued.key.split("_")[1]

    api_key_revoke(prefix=prefix)

    response = client_with(issued.key).get("/api/v1/reason-codes/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_revoking_a_key_is_audited_once():
    from audit.models import AuditEvent

    issued = agent_create(name="support-bot")
    prefix = issued.key.split("_")[1]

    assert api_key_revoke(prefix=prefix) is True
    assert api_key_revoke(prefix=prefix) is False

    events = AuditEvent.objects.filter(verb="agent.api_key_revoked")
    assert [(e.object_id, e.data) for e in events] == [(str(issued.agent.pk), {"prefix": prefix})]


def test_revoking_one_key_leaves_the_agents_other_keys_working():
    first = agent_create(name="support-bot")
    second = agent_issue_key(agent_id=first.agent.pk)

    api_key_revoke(prefix=first.key.split("_")[1])

    assert agent_for_key(raw_key=first.key) is None
    assert agent_for_key(raw_key=second.key) == first.agent


def test_an_inactive_agent_is_refused():
    issued = agent_create(name="support-bot")
    issued.agent.is_active = False
    issued.agent.save()

    assert agent_for_key(raw_key=issued.key) is None


def test_create_agent_prints_a_key_that_authenticates():
    out = io.StringIO()

    call_command("create_agent", "support-bot", stdout=out)

    key = out.getvalue().strip()
    response = client_with(key).get("/api/v1/reason-codes/")
    assert response.status_code == 200
    assert "results" in response.json()


def test_create_agent_refuses_a_duplicate_name():
    agent_create(name="support-bot")

    with pytest.raises(CommandError, match="already exists"):
        call_command("create_agent", "support-bot", stdout=io.StringIO())
