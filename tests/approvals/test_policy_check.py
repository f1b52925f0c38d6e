"""The policy dry run: only the mode, a rate limit of its own, and every check counted."""

from __future__ import annotations

import random

import pytest

from agents import throttling
from audit.models import AuditEvent
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/policy/check/"


@pytest.fixture
def check_limit(settings, monkeypatch):
    """POLICY_CHECK_RATE_LIMIT of n per minute (the API's own budget stays large), frozen in a
    window no other run uses."""
    now = float(random.randrange(10**8, 10**9) * 60 + 20)
    monkeypatch.setattr(throttling, "clock", lambda: now)

    def set_limit(n: int) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"api": "1000/min", "policy_check": f"{n}/min"},
        }

    return set_limit


def check(client, amount: int = 1000):
    body = {"action_type": "refund.issue", "params": refund_params(amount)}
    return client.post(CHECK, body, format="json")


def test_the_dry_run_has_its_own_limit_and_other_calls_go_on(demo, agent, check_limit):
    check_limit(2)
    client = agent.client()

    answers = [check(client).status_code for _ in range(3)]
    other = client.get("/api/v1/reason-codes/")

    assert answers == [200, 200, 429]
    assert other.status_code == 200


def test_every_check_is_counted_per_agent(demo, agent, make_agent, check_limit):
    check_limit(100)
    other = make_agent("other-bot")
    for amount in (1000, 4000, 4900):
        check(agent.client(), amount)
    check(other.client())

    counted = AuditEvent.objects.filter(verb="policy.checked", actor_kind="agent")

    assert counted.filter(actor_id=str(agent.agent.pk)).count() == 3
    assert counted.filter(actor_id=str(other.agent.pk)).count() == 1
    amounts = [e.data["params"]["amount"] for e in counted.filter(actor_id=str(agent.agent.pk))]
    assert sorted(amounts) == [1000, 4000, 4900]
