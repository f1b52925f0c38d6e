"""The executor registry: how each action type takes effect in the system of record.

An executor's `execute` receives the action and returns a JSON-able result, or raises
`ExecutionFailed`; `compensate` undoes a succeeded execution. Both are idempotent on the action id:
called twice for the same action, the target changes once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from config.errors import ApplicationError, Code
from sandbox import services as sandbox

logger = logging.getLogger(__name__)


class ExecutionFailed(ApplicationError):
    """The target refused the action or could not be reached.

    `transient` says whether trying again may succeed (a timeout, a refused or reset connection, a
    5xx from a target that is idempotent on the action id); a refusal (4xx, a business rule) is
    not transient and fails the action at once.
    """

    default_code = Code.EXECUTION_FAILED

    def __init__(
        self, message: str, *, transient: bool = False, code: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.transient = transient
        if code:
            # A target's own code (an HTTP connector passes the company backend's on): free-form,
            # kept in the action's `error` for the agent; never an API error of Countersign's.
            self.code = code

    @property
    def status_code(self) -> int:
        return self.code.status if isinstance(self.code, Code) else 422


class OutcomeUnknown(ExecutionFailed):
    """The target may or may not have applied the action (say, a timeout after the request was
    sent to a target that is not idempotent): a person reconciles it; it is never retried blindly.
    """

    default_code = Code.OUTCOME_UNKNOWN


class NotCompensable(ExecutionFailed):
    """The action type has no compensating action (a credentials reset cannot be taken back)."""

    default_code = Code.NOT_COMPENSABLE


class Executor:
    """How one action type takes effect, and how a succeeded one is undone."""

    # False when nothing can undo the effect: a rollback is refused and the UI says so.
    compensable: bool = True
    # Why it cannot be undone, in words a reviewer reads before asking for a rollback.
    not_compensable_reason: str = ""

    def execute(self, action) -> dict[str, Any]:
        raise NotImplementedError

    def compensate(self, action) -> dict[str, Any]:
        raise NotCompensable(self.why_not_compensable(action.action_type.key))

    def why_not_compensable(self, action_type: str) -> str:
        return self.not_compensable_reason or f"{action_type} has no compensating action."

    def __call__(self, action) -> dict[str, Any]:
        return self.execute(action)


class FunctionExecutor(Executor):
    """An executor made of two functions (the built-in sandbox executors)."""

    def __init__(
        self, execute: Callable[[Any], dict[str, Any]], compensate=None, *, not_compensable=""
    ) -> None:
        self._execute = execute
        self._compensate = compensate
        self.compensable = compensate is not None
        self.not_compensable_reason = not_compensable

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
            f"No executor is configured for {self.action_type}.", code=Code.NO_EXECUTOR
        )


def _backend_call(fn: Callable[..., Any], **kwargs) -> Any:
    try:
        return fn(**kwargs)
    except ApplicationError as exc:
        raise ExecutionFailed(exc.message, code=exc.code, details=exc.details) from exc


class StepsExecutor(Executor):
    """An action type that takes effect in several steps, each `(execute, compensate)`.

    When a step fails, the steps already done are compensated at once, last first, and the action
    fails (never as transient: a retry would redo steps that were just undone) with
    `details.failed_step` and `details.compensated_steps`. A step whose outcome is unknown stops
    everything as it is, for a person to reconcile. `compensate` undoes every step, last first,
    so a succeeded multi-step action rolls back too. Each step must be idempotent on the action id.
    """

    def __init__(
        self, steps: Sequence[tuple[Callable[[Any], dict[str, Any]], Callable | None]]
    ) -> None:
        if not steps:
            raise ValueError("A StepsExecutor needs at least one step.")
        self.steps = list(steps)
        self.compensable = all(undo is not None for _, undo in self.steps)

    @staticmethod
    def step_name(fn: Callable) -> str:
        return getattr(fn, "step_name", fn.__name__)

    def execute(self, action) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        for number, (run, _) in enumerate(self.steps, start=1):
            try:
                results.append({"step": number, "name": self.step_name(run), **run(action)})
            except OutcomeUnknown as exc:
                exc.details = {**exc.details, "failed_step": number, "done_steps": results}
                raise
            except Exception as exc:
                if not isinstance(exc, ExecutionFailed):
                    logger.exception("step %s of %s crashed", number, action.pk)
                raise self._unwind(action, number, exc) from exc
        return {"steps": results}

    def _unwind(self, action, failed: int, exc: Exception) -> ExecutionFailed:
        """Compensate steps `failed - 1` down to 1; the error the action fails with."""
        code = getattr(exc, "code", "step_crashed")
        message = getattr(exc, "message", str(exc))
        details: dict[str, Any] = {
            **getattr(exc, "details", {}),
            "failed_step": failed,
            "failed_step_name": self.step_name(self.steps[failed - 1][0]),
            "compensated_steps": [],
        }
        for number in range(failed - 1, 0, -1):
            run, undo = self.steps[number - 1]
            try:
                if undo is None:
                    raise NotCompensable(f"Step {number} ({self.step_name(run)}) cannot be undone.")
                undo(action)
            except Exception as undo_exc:
                logger.exception("compensating step %s of %s failed", number, action.pk)
                details["compensation_failed"] = {
                    "step": number,
                    "name": self.step_name(run),
                    "message": getattr(undo_exc, "message", str(undo_exc)),
                }
                message += f" Undoing step {number} failed too: a person must reconcile it."
                code = Code.COMPENSATION_FAILED
                break
            details["compensated_steps"].append({"step": number, "name": self.step_name(run)})
        return ExecutionFailed(f"Step {failed} failed: {message}", code=code, details=details)

    def compensate(self, action) -> dict[str, Any]:
        if not self.compensable:
            return super().compensate(action)
        undone = []
        for number in range(len(self.steps), 0, -1):
            run, undo = self.steps[number - 1]
            undone.append({"step": number, "name": self.step_name(run), **undo(action)})
        return {"steps": undone}


def _backend_call(fn: Callable[..., Any], **kwargs) -> Any:
    try:
        return fn(**kwargs)
    except ApplicationError as exc:
        raise ExecutionFailed(exc.message, code=exc.code, details=exc.details) from exc


def _at(value) -> str | None:
    return value.isoformat() if value else None


# ---------------------------------------------------------------------------------------------
# the built-in executors, on the sandbox backend: each write is keyed by the action id


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

register_executor("refund.issue", FunctionExecutor(refund_issue, refund_reverse))
register_executor("order.cancel", FunctionExecutor(order_cancel, order_reinstate))
register_executor("address.change", FunctionExecutor(address_change, address_restore))
register_executor("discount.apply", FunctionExecutor(discount_apply, discount_remove))
register_executor("ticket.create", FunctionExecutor(ticket_create, ticket_withdraw))
register_executor("preference.update", FunctionExecutor(preference_update, preference_restore))
register_executor(
    "credentials.reset",
    FunctionExecutor(credentials_reset, not_compensable=CREDENTIALS_RESET_IRREVERSIBLE),
)
# Two steps: cancel the order, then refund what is left of its payments. A refund that fails
# reinstates the order; rolling back reverses the refund, then reinstates the order.
register_executor(
    "order.cancel_and_refund",
    StepsExecutor(steps=[(order_cancel, order_reinstate), (refund_in_full, refund_reverse)]),
)
