"""Changing the sandbox backend, the way a company's system of record would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from config.errors import ApplicationError, NotFound
from sandbox.models import AppliedAction, Customer, Order, Payment, Refund


class SandboxError(ApplicationError):
    """The backend refused the change; retrying will not help."""

    status_code = 422
    default_code = "backend_refused"


@dataclass(frozen=True)
class RefundResult:
    refund_id: int
    order_id: str
    amount: int
    currency: str
    refundable_after: int
    replayed: bool


def refundable_amount(order: Order) -> int:
    paid = order.payments.filter(status=Payment.Status.PAID).aggregate(s=Sum("amount"))["s"] or 0
    refunded = order.refunds.aggregate(s=Sum("amount"))["s"] or 0
    return paid - refunded


def refund_issue(
    *, order_id: str, amount: int, currency: str, reason: str, action_id: uuid.UUID
) -> RefundResult:
    """Refund part of an order's payments, at most once per action id."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(order_id=order_id).first()
        if order is None:
            raise NotFound(f"Order {order_id} does not exist.", code="order_not_found")
        existing = Refund.objects.filter(action_id=action_id).first()
        if existing is not None:
            return RefundResult(
                existing.pk, order.order_id, existing.amount, existing.currency,
                refundable_amount(order), replayed=True,
            )  # fmt: skip
        if currency != order.currency:
            raise SandboxError(
                f"Order {order_id} was paid in {order.currency}, not {currency}.",
                code="currency_mismatch",
            )
        refundable = refundable_amount(order)
        if amount > refundable:
            raise SandboxError(
                f"Refund of {amount} exceeds the refundable balance {refundable} of {order_id}.",
                code="refund_exceeds_paid",
                details={"refundable": refundable, "requested": amount},
            )
        refund = Refund.objects.create(
            order=order, action_id=action_id, amount=amount, currency=currency, reason=reason[:200]
        )
        return RefundResult(
            refund.pk, order.order_id, amount, currency, refundable - amount, replayed=False
        )


def _locked_order(order_id: str) -> Order:
    order = Order.objects.select_for_update().filter(order_id=order_id).first()
    if order is None:
        raise NotFound(f"Order {order_id} does not exist.", code="order_not_found")
    return order


def order_cancel(*, order_id: str, action_id: uuid.UUID) -> Order:
    with transaction.atomic():
        order = _locked_order(order_id)
        if AppliedAction.objects.filter(action_id=action_id).exists():
            return order
        if order.status == Order.Status.CANCELLED:
            raise SandboxError(f"Order {order_id} is already cancelled.", code="already_cancelled")
        order.status = Order.Status.CANCELLED
        order.cancelled_at = timezone.now()
        order.save(update_fields=["status", "cancelled_at"])
        AppliedAction.objects.create(action_id=action_id, kind="order.cancel", order=order)
        return order


def address_change(*, order_id: str, address: dict, action_id: uuid.UUID) -> Order:
    with transaction.atomic():
        order = _locked_order(order_id)
        if AppliedAction.objects.filter(action_id=action_id).exists():
            return order
        if order.status == Order.Status.CANCELLED:
            raise SandboxError(f"Order {order_id} is cancelled.", code="order_cancelled")
        before = order.shipping_address
        order.shipping_address = address
        order.save(update_fields=["shipping_address"])
        AppliedAction.objects.create(
            action_id=action_id, kind="address.change", order=order, data={"before": before}
        )
        return order


def credentials_reset(*, customer_id: str, action_id: uuid.UUID) -> AppliedAction:
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(external_id=customer_id).first()
        if customer is None:
            raise NotFound(f"Customer {customer_id} does not exist.", code="customer_not_found")
        applied, _ = AppliedAction.objects.get_or_create(
            action_id=action_id, defaults={"kind": "credentials.reset", "customer": customer}
        )
        return applied


def demo_orders_ensure() -> int:
    """ORD-1001..1010 paid 250.00 USD, ORD-1011..1015 paid 1,200.00 USD. Idempotent."""
    created = 0
    with transaction.atomic():
        for n in range(1, 16):
            customer, _ = Customer.objects.get_or_create(
                external_id=f"CUS-{n:03d}",
                defaults={"name": f"Demo Customer {n}", "email": f"customer{n}@example.com"},
            )
            amount = 25000 if n <= 10 else 120000
            order, was_created = Order.objects.get_or_create(
                order_id=f"ORD-{1000 + n}",
                defaults={
                    "customer": customer,
                    "currency": "USD",
                    "total_amount": amount,
                    "shipping_address": {"line1": f"{n} Demo Street", "city": "Springfield"},
                },
            )
            if was_created:
                Payment.objects.create(order=order, amount=amount, currency="USD")
                created += 1
    return created
