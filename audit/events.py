"""The catalog of audit verbs: each registered once, with a stable dotted name."""

from enum import StrEnum


class Verb(StrEnum):
    ACTION_SUBMITTED = "action.submitted"
    ACTION_APPROVAL_RECORDED = "action.approval_recorded"
    ACTION_APPROVED = "action.approved"
    ACTION_REJECTED = "action.rejected"
    ACTION_CANCELLED = "action.cancelled"
    ACTION_EXECUTION_STARTED = "action.execution_started"
    ACTION_SUCCEEDED = "action.succeeded"
    ACTION_FAILED = "action.failed"
    ACTION_REQUEUED = "action.requeued"
    ESCALATION_OPENED = "escalation.opened"
    AGENT_CREATED = "agent.created"
    API_KEY_ISSUED = "agent.api_key_issued"
    API_KEY_REVOKED = "agent.api_key_revoked"
    BREAKER_SAVED = "breaker.saved"
    BREAKER_TRIPPED = "breaker.tripped"
    BREAKER_RESET = "breaker.reset"
    USER_CREATED = "user.created"
    POLICY_PUBLISHED = "policy.published"
    REASON_CODE_SAVED = "reason_code.saved"
    SANDBOX_REFUND_RECORDED = "sandbox.refund_recorded"
