"""Each sandbox change has a compensation that restores the state before it, once per action id."""

from __future__ import annotations

import uuid

import pytest

from sandbox import services as sandbox
from sandbox.models import Customer, Discount, Order, Refund, Ticket
from sandbox.services import SandboxError, refundable_amount

pytestmark = pytest.mark.django_db


def order(order_id: str = "ORD-1001") -> Order:
    return Order.objects.get(order_id=order_id)


def order_state(order_id: str = "ORD-1001") -> dict:
    o = order(order_id)
    return {
        "status": o.status,
        "cancelled_at": o.cancelled_at,
        "shipping_address": o.shipping_address,
        "refundable": refundable_amount(o),
        "discounts": list(o.discounts.filter(removed_at__isnull=True).values_list("pk")),
    }


class TestRefundReversal:
    def test_reversing_a_refund_restores_the_refundable_balance_once(self, demo):
        action_id = uuid.uuid4()
        before = order_state()
        sandbox.refund_issue(
            order_id="ORD-1001", amount=12000, currency="USD", reason="x", action_id=action_id
        )
        assert refundable_amount(order()) == 13000

        first = sandbox.refund_reverse(action_id=action_id)
        second = sandbox.refund_reverse(action_id=action_id)

        assert order_state() == before
        assert first.reversed_at is not None and second.reversed_at == first.reversed_at
        assert Refund.objects.filter(action_id=action_id).count() == 1

    def test_reversing_a_refund_that_was_never_issued_is_refused(self, demo):
        with pytest.raises(SandboxError) as refused:
            sandbox.refund_reverse(action_id=uuid.uuid4())

        assert refused.value.code == "nothing_applied"

    def test_refunding_in_full_refunds_what_is_left_once(self, demo):
        action_id = uuid.uuid4()
        sandbox.refund_issue(
            order_id="ORD-1001", amount=5000, currency="USD", reason="x", action_id=uuid.uuid4()
        )

        first = sandbox.refund_remaining(order_id="ORD-1001", reason="x", action_id=action_id)
        second = sandbox.refund_remaining(order_id="ORD-1001", reason="x", action_id=action_id)

        assert (first.amount, first.refundable_after) == (20000, 0)
        assert (second.amount, second.replayed) == (20000, True)

    def test_refunding_in_full_an_order_with_nothing_left_is_refused(self, demo):
        sandbox.refund_issue(
            order_id="ORD-1001", amount=25000, currency="USD", reason="x", action_id=uuid.uuid4()
        )

        with pytest.raises(SandboxError) as refused:
            sandbox.refund_remaining(order_id="ORD-1001", reason="x", action_id=uuid.uuid4())

        assert refused.value.code == "nothing_to_refund"


class TestOrderReinstatement:
    def test_reinstating_a_cancelled_order_restores_its_status_once(self, demo):
        action_id = uuid.uuid4()
        before = order_state()
        sandbox.order_cancel(order_id="ORD-1001", action_id=action_id)
        assert order().status == Order.Status.CANCELLED

        sandbox.order_reinstate(action_id=action_id)
        sandbox.order_reinstate(action_id=action_id)

        assert order_state() == before

    def test_cancelling_again_after_reinstating_changes_nothing(self, demo):
        action_id = uuid.uuid4()
        sandbox.order_cancel(order_id="ORD-1001", action_id=action_id)
        sandbox.order_reinstate(action_id=action_id)

        sandbox.order_cancel(order_id="ORD-1001", action_id=action_id)

        assert order().status == Order.Status.PAID


class TestAddressRestore:
    def test_restoring_puts_the_previous_address_back_once(self, demo):
        action_id = uuid.uuid4()
        before = order_state()
        sandbox.address_change(
            order_id="ORD-1001", address={"line1": "1 New Road", "city": "X"}, action_id=action_id
        )

        sandbox.address_restore(action_id=action_id)
        sandbox.address_restore(action_id=action_id)

        assert order_state() == before


class TestDiscounts:
    def test_removing_a_discount_restores_the_order_once(self, demo):
        action_id = uuid.uuid4()
        before = order_state()
        applied = sandbox.discount_apply(
            order_id="ORD-1001", amount=1500, currency="USD", code="SORRY", reason="late",
            action_id=action_id,
        )  # fmt: skip
        again = sandbox.discount_apply(
            order_id="ORD-1001", amount=1500, currency="USD", code="SORRY", reason="late",
            action_id=action_id,
        )  # fmt: skip
        assert again.pk == applied.pk

        first = sandbox.discount_remove(action_id=action_id)
        second = sandbox.discount_remove(action_id=action_id)

        assert order_state() == before
        assert first.removed_at == second.removed_at is not None
        assert Discount.objects.count() == 1

    def test_discounts_beyond_the_order_total_are_refused(self, demo):
        with pytest.raises(SandboxError) as refused:
            sandbox.discount_apply(
                order_id="ORD-1001", amount=25001, currency="USD", code="", reason="x",
                action_id=uuid.uuid4(),
            )  # fmt: skip

        assert refused.value.code == "discount_exceeds_total"


class TestTickets:
    def test_withdrawing_a_ticket_leaves_no_open_ticket_once(self, demo):
        action_id = uuid.uuid4()
        created = sandbox.ticket_create(
            customer_id="CUS-001", order_id="ORD-1001", subject="Where is my parcel?", body="",
            priority="high", action_id=action_id,
        )  # fmt: skip

        first = sandbox.ticket_withdraw(action_id=action_id)
        second = sandbox.ticket_withdraw(action_id=action_id)

        assert created.status == Ticket.Status.OPEN
        assert first.withdrawn_at == second.withdrawn_at is not None
        assert not Ticket.objects.filter(status=Ticket.Status.OPEN).exists()

    def test_a_ticket_for_another_customers_order_is_refused(self, demo):
        with pytest.raises(Exception) as refused:
            sandbox.ticket_create(
                customer_id="CUS-002", order_id="ORD-1001", subject="x", body="",
                priority="", action_id=uuid.uuid4(),
            )  # fmt: skip

        assert refused.value.code == "order_not_found"


class TestPreferences:
    def test_restoring_puts_back_changed_values_and_unsets_new_ones_once(self, demo):
        Customer.objects.filter(external_id="CUS-001").update(
            preferences={"marketing_emails": True, "language": "en"}
        )
        action_id = uuid.uuid4()
        sandbox.preference_update(
            customer_id="CUS-001",
            values={"marketing_emails": False, "contact_channel": "sms"},
            action_id=action_id,
        )
        updated = Customer.objects.get(external_id="CUS-001").preferences
        assert updated == {"marketing_emails": False, "language": "en", "contact_channel": "sms"}

        sandbox.preference_restore(action_id=action_id)
        sandbox.preference_restore(action_id=action_id)

        restored = Customer.objects.get(external_id="CUS-001").preferences
        assert restored == {"marketing_emails": True, "language": "en"}
