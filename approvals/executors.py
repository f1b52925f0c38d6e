"""The executor registry: how each action type takes effect in the system of record.

An executor receives the action and returns a JSON-able result, or raises `ExecutionFailed` when
the backend refused. Executors are idempotent on the action id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from config.errors import ApplicationError
from sandbox import services as sandbox

Executor = Callable[[Any], dict[str, Any]]
_REGISTRY: dict[str, Executor] = {}


class ExecutionFailed(ApplicationError):
    """The target refused the action; retrying will not change that."""

    status_code = 422
    default_code = "execution_failed"


def register(action_type: str) -> Callable[[Executor], Executor]:
    def wrap(fn: Executor) -> Executor:
        _REGISTRY[action_type] = fn
        return fn

    return wrap


def executor_for(action_type: str) -> Executor:
    executor = _REGISTRY.get(action_type)
    if executor is None:
        return _missing(action_type)
    return executor


def _missing(action_type: str) -> Executor:
    def fail(action) -> dict[str, Any]:
        raise ExecutionFailed(f"No executor is configured for {action_type}.", code="no_executor")

    return fail


def _backend_call(fn: Callable[..., Any], **kwargs) -> Any:
    try:
        return fn(**kwargs)
    except ApplicationError as exc:
        raise ExecutionFailed(exc.message, code=exc.code, details=exc.details) from exc


@register("refund.issue")
def refund_issue(action) -> dict[str, Any]:
    p = action.effective_params
    refund = _backend_call(
        sandbox.refund_issue,
        order_id=p["order_id"],
        amount=p["amount"],
        currency=p["currency"],
        reason=p.get("reason", ""),
        action_id=action.pk,
    )
    return {
        "refund_id": refund.refund_id,
        "order_id": refund.order_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "refundable_after": refund.refundable_after,
    }


@register("order.cancel")
def order_cancel(action) -> dict[str, Any]:
    p = action.effective_params
    order = _backend_call(sandbox.order_cancel, order_id=p["order_id"], action_id=action.pk)
    return {"order_id": order.order_id, "status": order.status}


@register("address.change")
def address_change(action) -> dict[str, Any]:
    p = action.effective_params
    order = _backend_call(
        sandbox.address_change, order_id=p["order_id"], address=p["address"], action_id=action.pk
    )
    return {"order_id": order.order_id, "shipping_address": order.shipping_address}


@register("credentials.reset")
def credentials_reset(action) -> dict[str, Any]:
    p = action.effective_params
    reset = _backend_call(
        sandbox.credentials_reset, customer_id=p["customer_id"], action_id=action.pk
    )
    return {"customer_id": p["customer_id"], "reset_id": reset.pk}
