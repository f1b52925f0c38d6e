"""Reading sandbox orders for reviewers and executors, and the figures policies derive from them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from config import clock
from sandbox.models import Customer, Discount, Order, Payment, Refund

# What `derived_values` provides, for the docs and for policy authors.
DERIVED_NAMES = (
    "order_paid",
    "order_refunded",
    "order_status",
    "order_payment_failed",
    "customer_tier",
    "customer_refunds_24h",
)


def orders_by_id(*, order_ids: list[str]) -> dict[str, Order]:
    orders = Order.objects.select_related("customer").filter(order_id__in=order_ids)
    return {o.order_id: o for o in orders.order_by("order_id")}


def order_ids_of_customers_matching(*, text: str, limit: int = 200):
    """Order ids (a lazy query, fit for a subquery) of the customers whose external id is `text`
    or whose name contains it, so a reviewer can find a customer's actions by who they are."""
    matching = Q(customer__external_id__iexact=text) | Q(customer__name__icontains=text)
    return Order.objects.filter(matching).order_by("order_id").values("order_id")[:limit]


def _total(queryset, field: str, group_by: str) -> Coalesce:
    # A correlated `SELECT SUM(...)` per row, grouped so the subquery yields exactly one value.
    summed = queryset.order_by().values(group_by).annotate(total=Sum(field)).values("total")
    return Coalesce(Subquery(summed, output_field=IntegerField()), Value(0))


def _recent_refunds(customer_ref: str, since: datetime) -> Coalesce:
    counted = (
        Refund.objects.filter(order__customer=OuterRef(customer_ref), created_at__gte=since)
        .order_by()
        .values("order__customer")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def derived_values(*, params: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Figures from the system of record about an action's target, in one query.

    For `params.order_id`: `order_paid` and `order_refunded` (minor units), `order_status`,
    `order_payment_failed` (the order's status says so, or a payment failed and none succeeded:
    what the system of record knows, not what an agent says), and for its customer
    `customer_tier` and `customer_refunds_24h` (refunds executed in the last 24 h).
    For `params.customer_id` alone: the two customer figures. A target that does not exist
    leaves its names out, so a condition reading them fails closed, and `has(derived.x)` tests.
    """
    since = (now or clock.now()) - timedelta(hours=24)
    order_id, customer_id = params.get("order_id"), params.get("customer_id")
    if isinstance(order_id, str) and order_id:
        row = (
            Order.objects.filter(order_id=order_id)
            .annotate(
                paid=_total(
                    Payment.objects.filter(order=OuterRef("pk"), status=Payment.Status.PAID),
                    "amount",
                    "order",
                ),
                refunded=_total(
                    Refund.objects.filter(order=OuterRef("pk"), reversed_at__isnull=True),
                    "amount",
                    "order",
                ),
                recent=_recent_refunds("customer", since),
                failed=Exists(
                    Payment.objects.filter(order=OuterRef("pk"), status=Payment.Status.FAILED)
                ),
            )
            .values("paid", "refunded", "status", "recent", "failed", "customer__tier")
            .first()
        )
        if row is None:
            return {}
        return {
            "order_paid": row["paid"],
            "order_refunded": row["refunded"],
            "order_status": row["status"],
            "order_payment_failed": row["status"] == Order.Status.PAYMENT_FAILED
            or (row["failed"] and row["paid"] == 0),
            "customer_tier": row["customer__tier"],
            "customer_refunds_24h": row["recent"],
        }
    if isinstance(customer_id, str) and customer_id:
        row = (
            Customer.objects.filter(external_id=customer_id)
            .annotate(recent=_recent_refunds("pk", since))
            .values("tier", "recent")
            .first()
        )
        if row is None:
            return {}
        return {"customer_tier": row["tier"], "customer_refunds_24h": row["recent"]}
    return {}


# ---------------------------------------------------------------------------------------------
# what a reviewer sees about an action's target, in a fixed number of queries


def order_with_ledger(*, order_id: str) -> Order | None:
    """The order with its customer, payments and refunds (three queries), or None."""
    if not order_id:
        return None
    return (
        Order.objects.select_related("customer")
        .prefetch_related(
            Prefetch("payments", queryset=Payment.objects.order_by("created_at", "id")),
            Prefetch("refunds", queryset=Refund.objects.order_by("created_at", "id")),
        )
        .filter(order_id=order_id)
        .first()
    )


def customer_get(*, external_id: str) -> Customer | None:
    if not external_id:
        return None
    return Customer.objects.filter(external_id=external_id).first()


def customer_order_ids(*, customer: Customer) -> list[str]:
    orders = Order.objects.filter(customer=customer).order_by("order_id")
    return list(orders.values_list("order_id", flat=True))


def order_statement(*, order_id: str) -> dict[str, Any] | None:
    """An order as the sandbox API shows it: customer, payments, refunds (reversed ones marked),
    discounts and totals in minor units; None when there is no such order. Four queries."""
    order = (
        Order.objects.select_related("customer")
        .prefetch_related(
            Prefetch("payments", queryset=Payment.objects.order_by("created_at", "id")),
            Prefetch("refunds", queryset=Refund.objects.order_by("created_at", "id")),
            Prefetch("discounts", queryset=Discount.objects.order_by("created_at", "id")),
        )
        .filter(order_id=order_id)
        .first()
    )
    if order is None:
        return None
    payments, refunds = list(order.payments.all()), list(order.refunds.all())
    discounts = list(order.discounts.all())
    paid = sum(p.amount for p in payments if p.status == Payment.Status.PAID)
    refunded = sum(r.amount for r in refunds if r.reversed_at is None)
    return {
        "order_id": order.order_id,
        "status": order.status,
        "currency": order.currency,
        "total_amount": order.total_amount,
        "shipping_address": order.shipping_address,
        "created_at": order.created_at,
        "cancelled_at": order.cancelled_at,
        "customer": {
            "customer_id": order.customer.external_id,
            "name": order.customer.name,
            "tier": order.customer.tier,
        },
        "payments": payments,
        "refunds": refunds,
        "discounts": discounts,
        "totals": {
            "paid": paid,
            "refunded": refunded,
            "reversed": sum(r.amount for r in refunds if r.reversed_at is not None),
            "refundable": paid - refunded,
            "discounted": sum(d.amount for d in discounts if d.removed_at is None),
        },
    }
