"""Changing the sandbox backend, the way a company's system of record would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from config import clock
from config.errors import ApplicationError, Code, NotFound
from sandbox.models import AppliedAction, Customer, Discount, Order, Payment, Refund, Ticket


class SandboxError(ApplicationError):
    """The backend refused the change; retrying will not help."""

    default_code = Code.BACKEND_REFUSED


@dataclass(frozen=True)
class RefundResult:
    refund_id: int
    order_id: str
    amount: int
    currency: str
    refundable_after: int
    replayed: bool


def _total(rows) -> Coalesce:
    """The sum of `amount` over `rows` (0 when none), as a subquery of the order's row."""
    summed = rows.filter(order=OuterRef("pk")).order_by().values("order").annotate(s=Sum("amount"))
    return Coalesce(Subquery(summed.values("s")), 0)


def refundable_amount(order: Order) -> int:
    """Paid and not refunded (reversed refunds are refundable again): one query, as every refund
    asks it under the order's lock."""
    return (
        Order.objects.filter(pk=order.pk)
        .values_list(
            _total(Payment.objects.filter(status=Payment.Status.PAID))
            - _total(Refund.objects.filter(reversed_at__isnull=True)),
            flat=True,
        )
        .get()
    )


def refund_issue(
    *, order_id: str, amount: int, currency: str, reason: str, action_id: uuid.UUID
) -> RefundResult:
    """Refund part of an order's payments, at most once per action id."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(order_id=order_id).first()
        if order is None:
            raise NotFound(f"Order {order_id} does not exist.", code=Code.ORDER_NOT_FOUND)
        existing = Refund.objects.filter(action_id=action_id).first()
        if existing is not None:
            return RefundResult(
                existing.pk, order.order_id, existing.amount, existing.currency,
                refundable_amount(order), replayed=True,
            )  # fmt: skip
        if currency != order.currency:
            raise SandboxError(
                f"Order {order_id} was paid in {order.currency}, not {currency}.",
                code=Code.CURRENCY_MISMATCH,
            )
        refundable = refundable_amount(order)
        if amount > refundable:
            raise SandboxError(
                f"Refund of {amount} exceeds the refundable balance {refundable} of {order_id}.",
                code=Code.REFUND_EXCEEDS_PAID,
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
        raise NotFound(f"Order {order_id} does not exist.", code=Code.ORDER_NOT_FOUND)
    return order


def order_cancel(*, order_id: str, action_id: uuid.UUID) -> Order:
    with transaction.atomic():
        order = _locked_order(order_id)
        if AppliedAction.objects.filter(action_id=action_id).exists():
            return order
        if order.status == Order.Status.CANCELLED:
            raise SandboxError(
                f"Order {order_id} is already cancelled.", code=Code.ALREADY_CANCELLED
            )
        before = order.status
        order.status = Order.Status.CANCELLED
        order.cancelled_at = clock.now()
        order.save(update_fields=["status", "cancelled_at"])
        AppliedAction.objects.create(
            action_id=action_id, kind="order.cancel", order=order, data={"before": before}
        )
        return order


def address_change(*, order_id: str, address: dict, action_id: uuid.UUID) -> Order:
    with transaction.atomic():
        order = _locked_order(order_id)
        if AppliedAction.objects.filter(action_id=action_id).exists():
            return order
        if order.status == Order.Status.CANCELLED:
            raise SandboxError(f"Order {order_id} is cancelled.", code=Code.ORDER_CANCELLED)
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
            raise NotFound(f"Customer {customer_id} does not exist.", code=Code.CUSTOMER_NOT_FOUND)
        applied, _ = AppliedAction.objects.get_or_create(
            action_id=action_id, defaults={"kind": "credentials.reset", "customer": customer}
        )
        return applied


def _customer_locked(customer_id: str) -> Customer:
    customer = Customer.objects.select_for_update().filter(external_id=customer_id).first()
    if customer is None:
        raise NotFound(f"Customer {customer_id} does not exist.", code=Code.CUSTOMER_NOT_FOUND)
    return customer


def _applied(action_id: uuid.UUID, kind: str) -> AppliedAction:
    """The effect an action applied (read, not locked: callers lock the row it changed first, as
    the forward change does, then this one); refused when there is none to undo."""
    applied = AppliedAction.objects.filter(action_id=action_id).first()
    if applied is None or applied.kind != kind:
        raise SandboxError(
            f"No {kind} was applied for action {action_id}: nothing to undo.",
            code=Code.NOTHING_APPLIED,
        )
    return applied


def _lock_undo(action_id: uuid.UUID, kind: str, model, target_field: str):
    """Lock the row an action changed, then its record (the forward change's order); the record
    is None when the change was undone already, so an undo called twice changes nothing."""
    applied = _applied(action_id, kind)
    target = model.objects.select_for_update().get(pk=getattr(applied, target_field))
    applied = AppliedAction.objects.select_for_update().get(pk=applied.pk)
    return (None if applied.compensated_at is not None else applied), target


def _mark_undone(applied: AppliedAction) -> None:
    applied.compensated_at = clock.now()
    applied.save(update_fields=["compensated_at"])


def _order_pk_of_refund(action_id: uuid.UUID) -> int:
    refund = Refund.objects.filter(action_id=action_id).values("order_id").first()
    if refund is None:
        raise SandboxError(
            f"No refund was issued for action {action_id}: nothing to reverse.",
            code=Code.NOTHING_APPLIED,
        )
    return refund["order_id"]


def refund_reverse(*, action_id: uuid.UUID) -> Refund:
    """Reverse the refund an action issued: its amount is refundable again. Once per action id."""
    with transaction.atomic():
        # The order first, as `refund_issue` locks it: both serialize on the same row.
        Order.objects.select_for_update().filter(pk=_order_pk_of_refund(action_id)).first()
        refund = Refund.objects.select_for_update().select_related("order").get(action_id=action_id)
        if refund.reversed_at is None:
            refund.reversed_at = clock.now()
            refund.save(update_fields=["reversed_at"])
        return refund


def refund_remaining(*, order_id: str, reason: str, action_id: uuid.UUID) -> RefundResult:
    """Refund the whole refundable balance of an order, at most once per action id."""
    with transaction.atomic():
        order = _locked_order(order_id)
        existing = Refund.objects.filter(action_id=action_id).first()
        refundable = refundable_amount(order) if existing is None else 0
        if existing is None and refundable <= 0:
            raise SandboxError(
                f"Order {order_id} has nothing left to refund.",
                code=Code.NOTHING_TO_REFUND,
                details={"refundable": refundable},
            )
        return refund_issue(
            order_id=order_id,
            amount=existing.amount if existing else refundable,
            currency=order.currency,
            reason=reason,
            action_id=action_id,
        )


def order_reinstate(*, action_id: uuid.UUID) -> Order:
    """Undo an order cancellation: the status it had before, no cancellation time."""
    with transaction.atomic():
        applied, order = _lock_undo(action_id, "order.cancel", Order, "order_id")
        if applied is None:
            return order
        if order.status != Order.Status.CANCELLED:
            raise SandboxError(
                f"Order {order.order_id} is {order.status}, no longer cancelled.",
                code=Code.ORDER_NOT_CANCELLED,
            )
        order.status = applied.data.get("before") or Order.Status.PAID
        order.cancelled_at = None
        order.save(update_fields=["status", "cancelled_at"])
        _mark_undone(applied)
        return order


def address_restore(*, action_id: uuid.UUID) -> Order:
    """Put back the shipping address an address change replaced."""
    with transaction.atomic():
        applied, order = _lock_undo(action_id, "address.change", Order, "order_id")
        if applied is None:
            return order
        order.shipping_address = applied.data.get("before", {})
        order.save(update_fields=["shipping_address"])
        _mark_undone(applied)
        return order


def discount_apply(
    *, order_id: str, amount: int, currency: str, code: str, reason: str, action_id: uuid.UUID
) -> Discount:
    """Grant a discount on an order, at most once per action id; discounts never exceed the
    order's total."""
    with transaction.atomic():
        order = _locked_order(order_id)
        existing = Discount.objects.filter(action_id=action_id).first()
        if existing is not None:
            return existing
        if order.status == Order.Status.CANCELLED:
            raise SandboxError(f"Order {order_id} is cancelled.", code=Code.ORDER_CANCELLED)
        if currency != order.currency:
            raise SandboxError(
                f"Order {order_id} is in {order.currency}, not {currency}.",
                code=Code.CURRENCY_MISMATCH,
            )
        granted = (
            order.discounts.filter(removed_at__isnull=True).aggregate(s=Sum("amount"))["s"] or 0
        )
        if granted + amount > order.total_amount:
            raise SandboxError(
                f"Discounts of {granted + amount} would exceed the total {order.total_amount} "
                f"of {order_id}.",
                code=Code.DISCOUNT_EXCEEDS_TOTAL,
                details={"discounted": granted, "requested": amount, "total": order.total_amount},
            )
        return Discount.objects.create(
            order=order, action_id=action_id, code=code[:40], amount=amount, currency=currency,
            reason=reason[:200],
        )  # fmt: skip


def discount_remove(*, action_id: uuid.UUID) -> Discount:
    """Take back the discount an action granted."""
    with transaction.atomic():
        discount = Discount.objects.select_for_update().filter(action_id=action_id).first()
        if discount is None:
            raise SandboxError(
                f"No discount was granted for action {action_id}: nothing to remove.",
                code=Code.NOTHING_APPLIED,
            )
        if discount.removed_at is None:
            discount.removed_at = clock.now()
            discount.save(update_fields=["removed_at"])
        return discount


def ticket_create(
    *, customer_id: str, order_id: str | None, subject: str, body: str, priority: str,
    action_id: uuid.UUID,
) -> Ticket:  # fmt: skip
    """Open a support ticket, at most once per action id."""
    with transaction.atomic():
        customer = _customer_locked(customer_id)
        existing = Ticket.objects.filter(action_id=action_id).first()
        if existing is not None:
            return existing
        order = None
        if order_id:
            order = Order.objects.filter(order_id=order_id, customer=customer).first()
            if order is None:
                raise NotFound(
                    f"Customer {customer_id} has no order {order_id}.", code=Code.ORDER_NOT_FOUND
                )
        return Ticket.objects.create(
            customer=customer, order=order, action_id=action_id, subject=subject[:200],
            body=body, priority=priority or Ticket.Priority.NORMAL,
        )  # fmt: skip


def ticket_withdraw(*, action_id: uuid.UUID) -> Ticket:
    """Withdraw the ticket an action opened (it stays on record, marked withdrawn)."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().filter(action_id=action_id).first()
        if ticket is None:
            raise SandboxError(
                f"No ticket was opened for action {action_id}: nothing to withdraw.",
                code=Code.NOTHING_APPLIED,
            )
        if ticket.status != Ticket.Status.WITHDRAWN:
            ticket.status = Ticket.Status.WITHDRAWN
            ticket.withdrawn_at = clock.now()
            ticket.save(update_fields=["status", "withdrawn_at"])
        return ticket


_ABSENT = {"absent": True}  # how `before` marks a preference the customer had not set


def preference_update(*, customer_id: str, values: dict, action_id: uuid.UUID) -> Customer:
    """Set some of a customer's preferences, keeping what each was before, once per action id."""
    with transaction.atomic():
        customer = _customer_locked(customer_id)
        if AppliedAction.objects.filter(action_id=action_id).exists():
            return customer
        current = dict(customer.preferences)
        before = {key: current.get(key, _ABSENT) for key in values}
        customer.preferences = {**current, **values}
        customer.save(update_fields=["preferences"])
        AppliedAction.objects.create(
            action_id=action_id, kind="preference.update", customer=customer,
            data={"before": before, "after": values},
        )  # fmt: skip
        return customer


def preference_restore(*, action_id: uuid.UUID) -> Customer:
    """Put back the preference values an update replaced (and unset those it introduced)."""
    with transaction.atomic():
        applied, customer = _lock_undo(action_id, "preference.update", Customer, "customer_id")
        if applied is None:
            return customer
        preferences = dict(customer.preferences)
        for key, value in applied.data.get("before", {}).items():
            if value == _ABSENT:
                preferences.pop(key, None)
            else:
                preferences[key] = value
        customer.preferences = preferences
        customer.save(update_fields=["preferences"])
        _mark_undone(applied)
        return customer


def demo_orders_ensure() -> int:
    """ORD-1001..1010 paid 250.00 USD, ORD-1011..1015 paid 1,200.00 USD, and ORD-1016 (80.00 USD,
    customer CUS-006) whose payment failed. Idempotent."""
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
        # What the demo policy's failed-payment rule reads: derived.order_payment_failed.
        order, was_created = Order.objects.get_or_create(
            order_id="ORD-1016",
            defaults={
                "customer": Customer.objects.get(external_id="CUS-006"),
                "currency": "USD",
                "total_amount": 8000,
                "status": Order.Status.PAYMENT_FAILED,
                "shipping_address": {"line1": "6 Demo Street", "city": "Springfield"},
            },
        )
        if was_created:
            Payment.objects.create(
                order=order, amount=8000, currency="USD", status=Payment.Status.FAILED
            )
            created += 1
    return created
