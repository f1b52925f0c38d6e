"""Every change to an action, one module per family of use cases, one transaction per use case.

Each use case locks the row, asks the rulebook, moves the action through the transition table,
writes the change and its audit event in the same transaction, and schedules the websocket push
and the Celery enqueue on commit (see `kernel`). Interfaces import the use cases from here.
"""

from approvals.rulebook import ClaimedByOther, RollbackWindowClosed
from approvals.services.batches import BatchOutcome, actions_decide_batch
from approvals.services.breakers import breaker_reset, breaker_save
from approvals.services.claims import action_claim, action_release
from approvals.services.decisions import action_approve, action_cancel, action_reject
from approvals.services.escalated import action_escalate
from approvals.services.execution import RECONCILE_OUTCOMES, action_execute, action_reconcile
from approvals.services.kernel import StaleVersion
from approvals.services.people import (
    queue_members_add,
    queues_ensure,
    supervisor_create,
    user_roles_record,
)
from approvals.services.policy_check import policy_check
from approvals.services.proposals import action_adopt, action_dismiss, action_edit
from approvals.services.reason_codes import reason_code_save, reason_code_set_active
from approvals.services.rollback import (
    CompensationRetry,
    action_compensate,
    action_rollback,
)
from approvals.services.slack import SlackOutcome, action_decide_from_slack
from approvals.services.submission import (
    IdempotencyKeyReused,
    SubmitResult,
    action_submit,
    request_fingerprint,
)
from approvals.services.subscriptions import subscription_set
from approvals.services.sweeps import actions_release_expired_claims, actions_requeue_stalled
from execution import NotCompensable

__all__ = [
    "RECONCILE_OUTCOMES",
    "BatchOutcome",
    "ClaimedByOther",
    "CompensationRetry",
    "IdempotencyKeyReused",
    "NotCompensable",
    "RollbackWindowClosed",
    "SlackOutcome",
    "StaleVersion",
    "SubmitResult",
    "action_adopt",
    "action_approve",
    "action_cancel",
    "action_claim",
    "action_compensate",
    "action_decide_from_slack",
    "action_dismiss",
    "action_edit",
    "action_escalate",
    "action_execute",
    "action_reconcile",
    "action_reject",
    "action_release",
    "action_rollback",
    "action_submit",
    "actions_decide_batch",
    "actions_release_expired_claims",
    "actions_requeue_stalled",
    "breaker_reset",
    "breaker_save",
    "policy_check",
    "queue_members_add",
    "queues_ensure",
    "reason_code_save",
    "reason_code_set_active",
    "request_fingerprint",
    "subscription_set",
    "supervisor_create",
    "user_roles_record",
]
