"""The executor contract: how an action type takes effect, and the errors an executor raises.

An executor's `execute` receives the action and returns a JSON-able result, or raises
`ExecutionFailed`; `compensate` undoes a succeeded execution. Both are idempotent on the action id:
called twice for the same action, the target changes once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from config.errors import ApplicationError, Code

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
    """An executor made of two functions (the sandbox's built-in executors, say)."""

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
