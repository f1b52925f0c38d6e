"""The submission's audit event records what the agent said about its request (its `context`),
redacted like every event."""

from __future__ import annotations

import pytest

from approvals import services
from audit.models import AuditEvent
from audit.services import REDACTED


@pytest.mark.django_db
def test_the_submitted_event_records_the_agents_context_with_secrets_redacted(demo, agent):
    context = {
        "customer_says": "the parcel arrived crushed",
        "ticket": {"id": "T-42", "api_token": "tok-123"},
        "payment_failed": False,
    }

    action = services.action_submit(
        agent=agent.agent,
        action_type="refund.issue",
        params={"order_id": "ORD-1001", "amount": 1200, "currency": "USD", "reason": "damaged"},
        context=context,
    ).action

    event = AuditEvent.objects.get(verb="action.submitted", object_id=str(action.pk))
    assert event.data["context"] == {
        "customer_says": "the parcel arrived crushed",
        "ticket": {"id": "T-42", "api_token": REDACTED},
        "payment_failed": False,
    }
    assert action.context["ticket"]["api_token"] == "tok-123"
