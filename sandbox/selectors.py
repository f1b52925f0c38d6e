"""Reading sandbox orders for reviewers and executors."""

from __future__ import annotations

from sandbox.models import Order


def order_get(*, order_id: str) -> Order | None:
    return Order.objects.select_related("customer").filter(order_id=order_id).first()


def orders_by_id(*, order_ids: list[str]) -> dict[str, Order]:
    orders = Order.objects.select_related("customer").filter(order_id__in=order_ids)
    return {o.order_id: o for o in orders.order_by("order_id")}
