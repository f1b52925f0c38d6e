"""The sandbox backend: refunds against paid balances, and approved refunds executed into it."""

from __future__ import annotations

import uuid

import pytest

from approvals import services
from approvals.models import Status
from audit.selectors import audit_events_for
from config.errors import NotFound
from sandbox.models import Order, Refund
from sandbox.services import SandboxError, order_cancel, refund_issue, refundable_amount

pytestmark = pytest.mark.django_db


def refund(amount: int, *, order_id: str = "ORD-1001", currency: str = "USD", action_id=None):
    return refund_issue(
        order_id=order_id,
        amount=amount,
        currency=currency,
        reason="damaged",
        action_id=action_id or uuid.uuid4(),
    )


class TestRefunds:
    def test_a_refund_reduces_the_refundable_balance(self, demo):
        result = refund(12000)

        assert (result.amount, result.refundable_after, result.replayed) == (12000, 13000, False)
        assert refundable_amount(Order.objects.get(order_id="ORD-1001")) == 13000

    def test_refunds_may_add_up_to_exactly_what_was_paid(self, demo):
        refund(20000)

        result = refund(5000)

        assert result.refundable_after == 0

    def test_a_refund_of_more_than_was_paid_is_refused(self, demo):
        refund(20000)

        with pytest.raises(SandboxError) as refused:
            refund(5001)

        assert refused.value.code == "refund_exceeds_paid"
        assert refused.value.details == {"refundable": 5000, "requested": 5001}
        assert Refund.objects.count() == 1

    def test_a_refund_in_another_currency_is_refused(self, demo):
        with pytest.raises(SandboxError) as refused:
            refund(1000, currency="EUR")

        assert refused.value.code == "currency_mismatch"
        assert Refund.objects.count() == 0

    def test_a_refund_is_applied_at_most_once_per_action_id(self, demo):
        action_id = uuid.uuid4()
        first = refund(12000, action_id=action_id)

        again = refund(12000, action_id=action_id)

        assert again.replayed is True
        assert again.refund_id == first.refund_id
        assert Refund.objects.count() == 1
        assert again.refundable_after == 13000

    def test_a_refund_of_an_unknown_order_is_not_found(self, demo):
        with pytest.raises(NotFound):
            refund(100, order_id="ORD-9999")

    def test_cancelling_is_applied_once_per_action_id(self, demo):
        action_id = uuid.uuid4()
        order_cancel(order_id="ORD-1002", action_id=action_id)

        again = order_cancel(order_id="ORD-1002", action_id=action_id)

        assert again.status == Order.Status.CANCELLED
        with pytest.raises(SandboxError) as refused:
            order_cancel(order_id="ORD-1002", action_id=uuid.uuid4())
        assert refused.value.code == "already_cancelled"


class TestExecutingApprovedRefunds:
    def submit_approved(self, agent, supervisor, amount: int, order_id: str = "ORD-1001"):
        action = services.action_submit(
            agent=agent.agent,
            action_type="refund.issue",
            params={"order_id": order_id, "amount": amount, "currency": "USD", "reason": "late"},
        ).action
        if action.status == Status.PENDING:
            action = services.action_approve(action_id=action.pk, by=supervisor)
        assert action.status == Status.APPROVED
        return action

    def test_an_approved_refund_executes_and_stores_its_result(self, demo, agent, supervisor):
        action = self.submit_approved(agent, supervisor, 12000)

        done = services.action_execute(action_id=action.pk)

        assert done.status == Status.SUCCEEDED
        refund_row = Refund.objects.get(action_id=action.pk)
        assert done.result == {
            "refund_id": refund_row.pk,
            "order_id": "ORD-1001",
            "amount": 12000,
            "currency": "USD",
            "refundable_after": 13000,
        }
        assert done.error is None
        assert (done.attempts, done.finished_at is not None) == (1, True)
        verbs = [e.verb for e in audit_events_for(object_type="action", object_id=action.pk)]
        assert verbs[-2:] == ["action.execution_started", "action.succeeded"]

    def test_it_passes_through_executing_on_the_way(self, demo, agent, supervisor):
        action = self.submit_approved(agent, supervisor, 12000)

        services.action_execute(action_id=action.pk)

        moves = [
            (e.data["from"], e.data["to"])
            for e in audit_events_for(object_type="action", object_id=action.pk)
            if "from" in e.data
        ]
        assert moves[-2:] == [("approved", "executing"), ("executing", "succeeded")]

    def test_a_refund_over_the_balance_fails_with_the_error_stored(self, demo, agent, supervisor):
        refund(20000)
        action = self.submit_approved(agent, supervisor, 12000)

        done = services.action_execute(action_id=action.pk)

        assert done.status == Status.FAILED
        assert done.result is None
        assert done.error == {
            "code": "refund_exceeds_paid",
            "message": "Refund of 12000 exceeds the refundable balance 5000 of ORD-1001.",
            "details": {"refundable": 5000, "requested": 12000},
        }
        assert not Refund.objects.filter(action_id=action.pk).exists()
        assert audit_events_for(object_type="action", object_id=action.pk).last().verb == (
            "action.failed"
        )

    def test_a_refund_of_an_unknown_order_fails_with_order_not_found(self, demo, agent, supervisor):
        action = self.submit_approved(agent, supervisor, 1000, order_id="ORD-9999")

        done = services.action_execute(action_id=action.pk)

        assert (done.status, done.error["code"]) == (Status.FAILED, "order_not_found")
