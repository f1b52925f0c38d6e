"""A real Celery worker process executes an approved refund and the sandbox ledger shows it."""

import pytest

from approvals.models import Action, Status
from sandbox.models import Refund
from tests.conftest import wait_until

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_executes_an_approved_refund_into_the_ledger(
    demo, agent, supervisor_client, celery_worker_process
):
    # Arrange: a 120.00 refund waits for one approval
    submitted = agent.client().post(
        "/api/v1/actions/",
        {"action_type": "refund.issue",
         "params": {"order_id": "ORD-1001", "amount": 12000, "currency": "USD",
                    "reason": "damaged"}},
        format="json",
    )  # fmt: skip
    assert submitted.status_code == 201, submitted.content
    action_id = submitted.json()["id"]
    assert submitted.json()["status"] == "pending"

    # Act: a supervisor approves it through the API with a CSRF token
    supervisor_client.get("/accounts/login/")
    token = supervisor_client.cookies["csrftoken"].value
    approved = supervisor_client.post(
        f"/api/v1/actions/{action_id}/approve/",
        {"reason_code": "verified-eligible", "note": "checked photos"},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert approved.status_code == 200, approved.content

    # Assert: the worker moved it to succeeded and the ledger has exactly one refund row
    action = wait_until(
        lambda: Action.objects.filter(pk=action_id, status=Status.SUCCEEDED).first()
    )
    refund = Refund.objects.get(action_id=action_id)
    assert (refund.order.order_id, refund.amount, refund.currency) == ("ORD-1001", 12000, "USD")
    assert action.result["refundable_after"] == 25000 - 12000
