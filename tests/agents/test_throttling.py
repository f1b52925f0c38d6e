"""API rate limits: per API key for agents, per person for sessions, counted in Redis."""

from __future__ import annotations

import random

import pytest
import redis
from django.db import connection
from rest_framework.test import APIClient

from agents import throttling
from agents.services import agent_issue_key
from approvals import services

WINDOW = 60


@pytest.fixture
def frozen_at(monkeypatch) -> dict[str, float]:
    """A frozen clock 20 s into a one-minute window no other run uses (keys live in Redis)."""
    now = {"t": float(random.randrange(10**8, 10**9) * WINDOW + 20)}
    monkeypatch.setattr(throttling, "clock", lambda: now["t"])
    return now


@pytest.fixture
def limit(settings, frozen_at):
    """Set API_RATE_LIMIT to n per minute for this test."""

    def set_limit(n: int) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"api": f"{n}/min"},
        }

    return set_limit


def codes(client: APIClient) -> int:
    return client.get("/api/v1/reason-codes/").status_code


@pytest.mark.django_db
class TestAgents:
    def test_the_request_over_the_limit_gets_429_with_retry_after_and_the_error_shape(
        self, demo, agent, limit
    ):
        # Arrange
        limit(3)
        client = agent.client()
        assert [codes(client) for _ in range(3)] == [200, 200, 200]

        # Act
        response = client.get("/api/v1/reason-codes/")

        # Assert: 20 s into the window, 40 s remain
        assert response.status_code == 429
        assert response["Retry-After"] == "40"
        assert response.json() == {
            "error": {
                "code": "rate_limited",
                "message": "Request was throttled. Expected available in 40 seconds.",
                "details": {"retry_after_seconds": 40},
            }
        }

    def test_another_key_is_unaffected(self, demo, agent, make_agent, limit):
        limit(2)
        client = agent.client()
        [codes(client) for _ in range(3)]
        second_key = APIClient()
        issued = agent_issue_key(agent_id=agent.agent.pk)
        second_key.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.key}")

        assert codes(client) == 429
        assert codes(second_key) == 200
        assert codes(make_agent("billing-bot").client()) == 200

    def test_the_next_window_starts_a_fresh_budget(self, demo, agent, limit, frozen_at):
        limit(1)
        client = agent.client()
        assert [codes(client), codes(client)] == [200, 429]

        frozen_at["t"] += 40

        assert codes(client) == 200

    def test_submissions_are_limited_like_any_other_request(self, demo, agent, limit):
        limit(1)
        client = agent.client()
        body = {
            "action_type": "refund.issue",
            "params": {"order_id": "ORD-1001", "amount": 100, "currency": "USD", "reason": "x"},
        }

        first = client.post("/api/v1/actions/", body, format="json")
        second = client.post("/api/v1/actions/", body, format="json")

        assert (first.status_code, second.status_code) == (201, 429)
        assert second.json()["error"]["code"] == "rate_limited"

    def test_requests_go_through_when_redis_does_not_answer(self, demo, agent, limit, monkeypatch):
        limit(1)

        def down():
            raise redis.ConnectionError("refused")

        monkeypatch.setattr(throttling, "_redis", down)

        assert [codes(agent.client()) for _ in range(3)] == [200, 200, 200]


@pytest.mark.django_db
def test_people_are_limited_per_user(demo, supervisor_client, make_supervisor, limit):
    limit(2)
    other = APIClient()
    other.force_login(make_supervisor("bob"))

    mine = [codes(supervisor_client) for _ in range(3)]

    assert mine == [200, 200, 429]
    assert codes(other) == 200


@pytest.mark.django_db(transaction=True)
def test_the_long_poll_is_limited_on_the_same_budget_as_the_key(demo, agent, limit):
    # Arrange: the async view reads on its own connections, so the data is committed
    limit(2)
    action = services.action_submit(
        agent=agent.agent,
        action_type="refund.issue",
        params={"order_id": "ORD-1001", "amount": 12000, "currency": "USD", "reason": "x"},
    ).action
    client = agent.client()
    url = f"/api/v1/actions/{action.pk}/wait/?timeout=0"

    # Act
    first = client.get(url)
    second = codes(client)
    third = client.get(url)
    connection.close()

    # Assert
    assert (first.status_code, second) == (200, 200)
    assert third.status_code == 429
    assert third["Retry-After"] == "40"
    assert third.json()["error"] == {
        "code": "rate_limited",
        "message": "Request was throttled. Expected available in 40 seconds.",
        "details": {"retry_after_seconds": 40},
    }


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("600/min", (600, 60)), ("10/s", (10, 1)), ("5/hour", (5, 3600)), ("", None)],
)
def test_rates_read_like_drf_rates(rate, parsed):
    assert throttling.parse_rate(rate) == parsed


def test_a_malformed_rate_is_an_error():
    with pytest.raises(ValueError):
        throttling.parse_rate("many/min")
