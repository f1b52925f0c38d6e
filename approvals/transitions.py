"""The one table of allowed status changes; anything else is refused with a named error."""

from approvals.models import Status
from config.errors import Code, Conflict

S = Status
ALLOWED: dict[str, frozenset[str]] = {
    S.SUBMITTED: frozenset(
        {S.BLOCKED, S.RECOMMENDED, S.DRAFTED, S.PENDING, S.APPROVED, S.ESCALATED}
    ),
    S.PENDING: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.CANCELLED, S.ESCALATED}),
    # Adopted (approved, or pending when the policy wants a second person) or dismissed.
    S.RECOMMENDED: frozenset({S.APPROVED, S.PENDING, S.DISMISSED}),
    S.DRAFTED: frozenset({S.APPROVED, S.PENDING, S.DISMISSED}),
    # Failed without starting: its params are not the ones approved (execution fails closed).
    S.APPROVED: frozenset({S.EXECUTING, S.FAILED}),
    S.EXECUTING: frozenset({S.SUCCEEDED, S.FAILED, S.NEEDS_RECONCILIATION}),
    # Only a person leaves it: they found out what the target did (see `action_reconcile`).
    S.NEEDS_RECONCILIATION: frozenset({S.SUCCEEDED, S.FAILED}),
    S.FAILED: frozenset({S.ESCALATED}),
    # Its case is resolved: approved (it executes, or waits for a second approval), rejected or
    # returned to its agent, or handled in another system (cancelled).
    S.ESCALATED: frozenset({S.APPROVED, S.PENDING, S.REJECTED, S.CANCELLED}),
    S.SUCCEEDED: frozenset({S.ROLLING_BACK}),
    S.ROLLING_BACK: frozenset({S.ROLLED_BACK, S.ROLLBACK_FAILED}),
}
TERMINAL = frozenset(
    {S.BLOCKED, S.REJECTED, S.EXPIRED, S.CANCELLED, S.DISMISSED, S.ROLLED_BACK, S.ROLLBACK_FAILED}
)


class IllegalTransition(Conflict):
    default_code = Code.ILLEGAL_TRANSITION


def check_transition(current: str, target: str) -> None:
    if target not in ALLOWED.get(current, frozenset()):
        raise IllegalTransition(
            f"An action that is {current} cannot become {target}.",
            details={"from": str(current), "to": str(target)},
        )
