"""Fixtures for the approvals tests: submitting through services, and counting side effects.

Actions are only ever created through `services.action_submit` (the single writer), so the
"factory" here is a fixture that submits one.
"""

from __future__ import annotations

from unittest import mock

import pytest

from approvals import services
from approvals.services import kernel


def refund_params(amount: int = 12000, order_id: str = "ORD-1001", currency: str = "USD") -> dict:
    return {"order_id": order_id, "amount": amount, "currency": currency, "reason": "damaged"}


@pytest.fixture
def submit(demo, agent):
    """submit(amount=..., action_type=..., params=..., by=other_agent) -> Action (committed)."""

    def make(
        amount: int = 12000,
        *,
        action_type: str = "refund.issue",
        params: dict | None = None,
        context: dict | None = None,
        by=None,
        idempotency_key: str | None = None,
    ):
        result = services.action_submit(
            agent=(by or agent).agent,
            action_type=action_type,
            params=params if params is not None else refund_params(amount),
            context=context or {},
            idempotency_key=idempotency_key,
        )
        return result.action

    return make


@pytest.fixture
def pushes():
    """Every payload handed to the websocket/long-poll push, in order."""
    with mock.patch("approvals.realtime.publish.publish_action_changed") as publish:
        sent: list[dict] = []
        publish.side_effect = lambda payload, **row: sent.append(payload)
        yield sent


@pytest.fixture
def enqueued():
    """Ids of the actions whose execution was sent to Celery, in order."""
    with mock.patch("approvals.services.kernel.current_app") as app:
        sent: list[str] = []

        def send_task(name, kwargs, **options):
            assert name == kernel.EXECUTE_TASK
            sent.append(kwargs["action_id"])

        app.send_task.side_effect = send_task
        yield sent


@pytest.fixture
def csrf_client(supervisor_client):
    """The supervisor's session client, sending the CSRF token the way the dashboard does."""
    supervisor_client.get("/accounts/login/")
    supervisor_client.credentials(HTTP_X_CSRFTOKEN=supervisor_client.cookies["csrftoken"].value)
    return supervisor_client
