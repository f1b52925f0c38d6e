"""The executor registry: how each action type takes effect in the system of record.

An executor's `execute` receives the action and returns a JSON-able result, or raises
`ExecutionFailed`; `compensate` undoes a succeeded execution. Both are idempotent on the action id:
called twice for the same action, the target changes once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from config.errors import ApplicationError
from sandbox import services as sandbox


class ExecutionFailed(ApplicationError):
    """The target refused the action or could not be reached.

    `transient` says whether trying again may succeed (a timeout, a refused or reset connection, a
    5xx from a target that is idempotent on the action id); a refusal (4xx, a business rule) is
    not transient and fails the action at once.
    """

    status_code = 422
    default_code = "execution_failed"

    def __init__(self, message: str, *, transient: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.transient = transient


class OutcomeUnknown(ExecutionFailed):
    """The target may or may not have applied the action (say, a timeout after the request was
    sent to a target that is not idempotent): a person reconciles it; it is never retried blindly.
    """

    default_code = "outcome_unknown"


class NotCompensable(ExecutionFailed):
    """The action type has no compensating action (a credentials reset cannot be taken back)."""

    default_code = "not_compensable"


class Executor:
    """How one action type takes effect, and how a succeeded one is undone."""

    # False when nothing can undo the effect: a rollback is refused and the UI says so.
    compensable: bool = True

    def execute(self, action) -> dict[str, Any]:
        raise NotImplementedError

    def compensate(self, action) -> dict[str, Any]:
        raise NotCompensable(f"{action.action_type.key} has no compensating action.")

    def __call__(self, action) -> dict[str, Any]:
        return self.execute(action)


class FunctionExecutor(Executor):
    """An executor made of two functions (the built-in sandbox executors)."""

    def __init__(self, execute: Callable[[Any], dict[str, Any]], compensate=None) -> None:
        self._execute = execute
        self._compensate = compensate
        self.compensable = compensate is not None

    def execute(self, action) -> dict[str, Any]:
        return self._execute(action)

    def compensate(self, action) -> dict[str, Any]:
        if self._compensate is None:
            return super().compensate(action)
        return self._compensate(action)


_REGISTRY: dict[str, Executor] = {}


def register(action_type: str) -> Callable[[Callable], Callable]:
    """Register a function as the `execute` of an action type (the built-ins use this)."""

    def wrap(fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
        _REGISTRY[action_type] = FunctionExecutor(fn)
        return fn

    return wrap


def register_executor(action_type: str, executor: Executor) -> None:
    _REGISTRY[action_type] = executor


def executor_for(action_type: str) -> Executor:
    executor = _REGISTRY.get(action_type)
    if executor is None:
        return _Missing(action_type)
    return executor


class _Missing(Executor):
    compensable = False

    def __init__(self, action_type: str) -> None:
        self.action_type = action_type

    def execute(self, action) -> dict[str, Any]:
        raise ExecutionFailed(
            f"No executor is configured for {self.action_type}.", code="no_executor"
        )


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
