"""The sandbox's built-in executors: each action type's effect on the sandbox backend.

Each write is keyed by the action id. `register_builtins` puts them in the execution registry from
`SandboxConfig.ready()`; an HTTP connector configured for the same action type wins over them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from config.errors import ApplicationError
from execution import (
    ExecutionFailed,
    Executor,
    FunctionExecutor,
    Precedence,
    StepsExecutor,
    register_executor,
)
from sandbox import services as sandbox


def _backend_call(fn: Callable[..., Any], **kwargs) -> Any:
    """Call the backend; its application errors become the action's `ExecutionFailed`."""
    try:
        return fn(**kwargs)
    except ApplicationError as exc:
        raise ExecutionFailed(exc.message, code=exc.code, details=exc.details) from exc


def _at(value) -> str | None:
    return value.isoformat() if value else None


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


def refund_reverse(action) -> dict[str, Any]:
    refund = _backend_call(sandbox.refund_reverse, action_id=action.pk)
    return {
        "refund_id": refund.pk,
        "order_id": refund.order.order_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "reversed_at": _at(refund.reversed_at),
    }


def order_cancel(action) -> dict[str, Any]:
    p = action.effective_params
    order = _backend_call(sandbox.order_cancel, order_id=p["order_id"], action_id=action.pk)
    return {"order_id": order.order_id, "status": order.status}


def order_reinstate(action) -> dict[str, Any]:
    order = _backend_call(sandbox.order_reinstate, action_id=action.pk)
    return {"order_id": order.order_id, "status": order.status}


def address_change(action) -> dict[str, Any]:
    p = action.effective_params
    order = _backend_call(
        sandbox.address_change, order_id=p["order_id"], address=p["address"], action_id=action.pk
    )
    return {"order_id": order.order_id, "shipping_address": order.shipping_address}


def address_restore(action) -> dict[str, Any]:
    order = _backend_call(sandbox.address_restore, action_id=action.pk)
    return {"order_id": order.order_id, "shipping_address": order.shipping_address}


def _discount_result(discount) -> dict[str, Any]:
    return {
        "discount_id": discount.pk,
        "order_id": discount.order.order_id,
        "amount": discount.amount,
        "currency": discount.currency,
        "code": discount.code,
        "removed_at": _at(discount.removed_at),
    }


def discount_apply(action) -> dict[str, Any]:
    p = action.effective_params
    discount = _backend_call(
        sandbox.discount_apply,
        order_id=p["order_id"],
        amount=p["amount"],
        currency=p["currency"],
        code=p.get("code", ""),
        reason=p.get("reason", ""),
        action_id=action.pk,
    )
    return _discount_result(discount)


def discount_remove(action) -> dict[str, Any]:
    return _discount_result(_backend_call(sandbox.discount_remove, action_id=action.pk))


def _ticket_result(ticket) -> dict[str, Any]:
    return {
        "ticket_id": ticket.pk,
        "status": ticket.status,
        "withdrawn_at": _at(ticket.withdrawn_at),
    }


def ticket_create(action) -> dict[str, Any]:
    p = action.effective_params
    ticket = _backend_call(
        sandbox.ticket_create,
        customer_id=p["customer_id"],
        order_id=p.get("order_id"),
        subject=p["subject"],
        body=p.get("body", ""),
        priority=p.get("priority", ""),
        action_id=action.pk,
    )
    return _ticket_result(ticket)


def ticket_withdraw(action) -> dict[str, Any]:
    return _ticket_result(_backend_call(sandbox.ticket_withdraw, action_id=action.pk))


def preference_update(action) -> dict[str, Any]:
    p = action.effective_params
    customer = _backend_call(
        sandbox.preference_update,
        customer_id=p["customer_id"],
        values=p["preferences"],
        action_id=action.pk,
    )
    return {"customer_id": customer.external_id, "preferences": customer.preferences}


def preference_restore(action) -> dict[str, Any]:
    customer = _backend_call(sandbox.preference_restore, action_id=action.pk)
    return {"customer_id": customer.external_id, "preferences": customer.preferences}


def credentials_reset(action) -> dict[str, Any]:
    p = action.effective_params
    reset = _backend_call(
        sandbox.credentials_reset, customer_id=p["customer_id"], action_id=action.pk
    )
    return {"customer_id": p["customer_id"], "reset_id": reset.pk}


def refund_in_full(action) -> dict[str, Any]:
    p = action.effective_params
    refund = _backend_call(
        sandbox.refund_remaining,
        order_id=p["order_id"],
        reason=p.get("reason", ""),
        action_id=action.pk,
    )
    return {
        "refund_id": refund.refund_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "refundable_after": refund.refundable_after,
    }


CREDENTIALS_RESET_IRREVERSIBLE = (
    "A credentials reset cannot be undone: the old credentials are gone for good. "
    "If it was a mistake, help the customer set new credentials instead."
)


def builtins() -> dict[str, Executor]:
    """The sandbox's executor for each action type it provides, fresh each call."""
    return {
        "refund.issue": FunctionExecutor(refund_issue, refund_reverse),
        "order.cancel": FunctionExecutor(order_cancel, order_reinstate),
        "address.change": FunctionExecutor(address_change, address_restore),
        "discount.apply": FunctionExecutor(discount_apply, discount_remove),
        "ticket.create": FunctionExecutor(ticket_create, ticket_withdraw),
        "preference.update": FunctionExecutor(preference_update, preference_restore),
        "credentials.reset": FunctionExecutor(
            credentials_reset, not_compensable=CREDENTIALS_RESET_IRREVERSIBLE
        ),
        # Two steps: cancel the order, then refund what is left of its payments. A refund that
        # fails reinstates the order; rolling back reverses the refund, then reinstates the order.
        "order.cancel_and_refund": StepsExecutor(
            steps=[(order_cancel, order_reinstate), (refund_in_full, refund_reverse)]
        ),
    }


def register_builtins() -> list[str]:
    """Register the built-ins (where no configured connector holds the type); the types taken."""
    return [
        action_type
        for action_type, executor in builtins().items()
        if register_executor(action_type, executor, precedence=Precedence.BUILT_IN)
    ]
