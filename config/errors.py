"""The one application error type, and the catalog of its codes with the HTTP status of each.

Interfaces turn an `ApplicationError` into `{"error": {code, message, details}}` with the status
its `Code` maps to. Code compares members (`exc.code == Code.STALE_VERSION`), never strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Code(StrEnum):
    """Every error code the API and the pages answer with; `status` is its HTTP status."""

    status: int

    def __new__(cls, value: str, status: int) -> Code:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        return member

    # 400: bad input
    BAD_REQUEST = "bad_request", 400
    INVALID_INPUT = "invalid_input", 400
    MALFORMED_JSON = "malformed_json", 400
    JSON_TOO_DEEP = "json_too_deep", 400
    BATCH_TOO_LARGE = "batch_too_large", 400
    CALLBACK_URL_REFUSED = "callback_url_refused", 400
    CONFIRMATION_REQUIRED = "confirmation_required", 400
    DEFAULT_MODES_NEED_PUBLISH = "default_modes_need_publish", 400
    EMPTY_BATCH = "empty_batch", 400
    INVALID_AGENT_NAME = "invalid_agent_name", 400
    INVALID_BATCH_KIND = "invalid_batch_kind", 400
    INVALID_BREAKER = "invalid_breaker", 400
    INVALID_CONDITION = "invalid_condition", 400
    INVALID_CURSOR = "invalid_cursor", 400
    INVALID_DAYS = "invalid_days", 400
    INVALID_DEFAULT_MODE = "invalid_default_mode", 400
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key", 400
    INVALID_KINDS = "invalid_kinds", 400
    INVALID_LABEL = "invalid_label", 400
    INVALID_OUTCOME = "invalid_outcome", 400
    INVALID_PARAMS = "invalid_params", 400
    INVALID_POSITION = "invalid_position", 400
    INVALID_REASON_CODE = "invalid_reason_code", 400
    INVALID_ROLLBACK_WINDOW = "invalid_rollback_window", 400
    INVALID_TIER = "invalid_tier", 400
    INVALID_SUMMARY = "invalid_summary", 400
    NOTE_REQUIRED = "note_required", 400
    NO_EMAIL_ADDRESS = "no_email_address", 400
    NOT_A_HANDLER = "not_a_handler", 400
    TIER_TOO_LOW = "tier_too_low", 400
    UNKNOWN_TIER = "unknown_tier", 400
    INVALID_RULE = "invalid_rule", 400
    INVALID_TIMEOUT = "invalid_timeout", 400
    INVALID_UNTIL = "invalid_until", 400
    NOT_EDITABLE = "not_editable", 400
    REASON_CODE_REQUIRED = "reason_code_required", 400
    REASON_REQUIRED = "reason_required", 400
    UNKNOWN_ACTION_TYPE = "unknown_action_type", 400
    UNKNOWN_AGENT = "unknown_agent", 400
    UNKNOWN_USER = "unknown_user", 400
    UNKNOWN_QUEUE = "unknown_queue", 400
    APPROVER_ROLE_NOT_DECIDING = "approver_role_not_deciding", 400
    UNKNOWN_REASON_CODE = "unknown_reason_code", 400
    UNKNOWN_ROLE = "unknown_role", 400
    WEAK_PASSWORD = "weak_password", 400
    INVALID_PLAN = "invalid_plan", 400
    INVALID_SCORECARD = "invalid_scorecard", 400
    INVALID_REVIEW = "invalid_review", 400
    INVALID_FEEDBACK = "invalid_feedback", 400
    INVALID_PERIOD = "invalid_period", 400
    INVALID_GROUP_BY = "invalid_group_by", 400
    NO_ELIGIBLE_REVIEWER = "no_eligible_reviewer", 400
    # 401: unauthenticated
    UNAUTHENTICATED = "unauthenticated", 401
    INVALID_SIGNATURE = "invalid_signature", 401
    STALE_REQUEST = "stale_request", 401
    # 403: refused: who you are
    FORBIDDEN = "forbidden", 403
    ACTION_BLOCKED = "action_blocked", 403
    MISSING_ROLE = "missing_role", 403
    OWN_REQUEST = "own_request", 403
    SECOND_ADMIN_REQUIRED = "second_admin_required", 403
    POLICY_REFUSES = "policy_refuses", 403
    REPLAYED_REQUEST = "replayed_request", 403
    TAKEOVER_NEEDS_SENIOR = "takeover_needs_senior", 403
    SECOND_FACTOR_REQUIRED = "second_factor_required", 403
    OWN_RESOLUTION = "own_resolution", 403
    # 404: not found
    ACTION_NOT_FOUND = "action_not_found", 404
    BREAKER_NOT_FOUND = "breaker_not_found", 404
    CUSTOMER_NOT_FOUND = "customer_not_found", 404
    ASSIGNMENT_NOT_FOUND = "assignment_not_found", 404
    PLAN_NOT_FOUND = "plan_not_found", 404
    REVIEW_NOT_FOUND = "review_not_found", 404
    DISPUTE_NOT_FOUND = "dispute_not_found", 404
    CALIBRATION_NOT_FOUND = "calibration_not_found", 404
    SUGGESTION_NOT_FOUND = "suggestion_not_found", 404
    SAMPLE_NOT_FOUND = "sample_not_found", 404
    CASE_NOT_FOUND = "case_not_found", 404
    NOT_FOUND = "not_found", 404
    ORDER_NOT_FOUND = "order_not_found", 404
    POLICY_VERSION_NOT_FOUND = "policy_version_not_found", 404
    PUBLICATION_REQUEST_NOT_FOUND = "publication_request_not_found", 404
    REASON_CODE_NOT_FOUND = "reason_code_not_found", 404
    RULE_NOT_FOUND = "rule_not_found", 404
    SIMULATION_NOT_FOUND = "simulation_not_found", 404
    # 405: wrong method
    METHOD_NOT_ALLOWED = "method_not_allowed", 405
    # 406: not acceptable
    NOT_ACCEPTABLE = "not_acceptable", 406
    # 409: refused: the state it is in
    CONFLICT = "conflict", 409
    AGENT_EXISTS = "agent_exists", 409
    ALREADY_APPROVED = "already_approved", 409
    BREAKER_NOT_TRIPPED = "breaker_not_tripped", 409
    CLAIMED_BY_OTHER = "claimed_by_other", 409
    CASE_ACKNOWLEDGED_BY_OTHER = "case_acknowledged_by_other", 409
    ILLEGAL_CASE_MOVE = "illegal_case_move", 409
    OUTCOME_NOT_FOR_CASE = "outcome_not_for_case", 409
    TIER_IN_USE = "tier_in_use", 409
    ILLEGAL_TRANSITION = "illegal_transition", 409
    NOT_A_DRAFT = "not_a_draft", 409
    NOT_A_PROPOSAL = "not_a_proposal", 409
    NOT_AWAITING = "not_awaiting", 409
    NOT_BATCHABLE = "not_batchable", 409
    NOT_COMPENSABLE = "not_compensable", 409
    POLICY_VERSION_ALREADY_ACTIVE = "policy_version_already_active", 409
    POLICY_VERSION_DRAFT = "policy_version_draft", 409
    POLICY_VERSION_PUBLISHED = "policy_version_published", 409
    PUBLICATION_ALREADY_REQUESTED = "publication_already_requested", 409
    PUBLICATION_REQUEST_DECIDED = "publication_request_decided", 409
    ROLLBACK_WINDOW_CLOSED = "rollback_window_closed", 409
    STALE_VERSION = "stale_version", 409
    USER_EXISTS = "user_exists", 409
    ASSIGNMENT_CLOSED = "assignment_closed", 409
    DISPUTE_ALREADY_OPEN = "dispute_already_open", 409
    DISPUTE_DECIDED = "dispute_decided", 409
    CALIBRATION_REVEALED = "calibration_revealed", 409
    OUTCOME_ALREADY_REPORTED = "outcome_already_reported", 409
    NOT_RESOLVED = "not_resolved", 409
    SCORECARD_IN_USE = "scorecard_in_use", 409
    AUDIT_CHAIN_BROKEN = "audit_chain_broken", 409
    # 413: too large
    BODY_TOO_LARGE = "body_too_large", 413
    # 415: unsupported media type
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", 415
    # 422: refused by the backend or an execution
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused", 422
    BACKEND_REFUSED = "backend_refused", 422
    ALREADY_CANCELLED = "already_cancelled", 422
    CURRENCY_MISMATCH = "currency_mismatch", 422
    DISCOUNT_EXCEEDS_TOTAL = "discount_exceeds_total", 422
    NOTHING_APPLIED = "nothing_applied", 422
    NOTHING_TO_REFUND = "nothing_to_refund", 422
    ORDER_CANCELLED = "order_cancelled", 422
    ORDER_NOT_CANCELLED = "order_not_cancelled", 422
    REFUND_EXCEEDS_PAID = "refund_exceeds_paid", 422
    EXECUTION_FAILED = "execution_failed", 422
    EXECUTOR_CRASHED = "executor_crashed", 422
    NO_EXECUTOR = "no_executor", 422
    PARAMS_NOT_APPROVED = "params_not_approved", 422
    OUTCOME_UNKNOWN = "outcome_unknown", 422
    TARGET_REFUSED = "target_refused", 422
    TARGET_UNAVAILABLE = "target_unavailable", 422
    COMPENSATION_FAILED = "compensation_failed", 422
    # 429: rate limited
    RATE_LIMITED = "rate_limited", 429
    # 500: our fault
    SERVER_ERROR = "server_error", 500
    ERROR = "error", 500  # what DRF raised that has no code of its own
    # 503: not set up
    AUDIT_SIGNING_KEY_MISSING = "audit_signing_key_missing", 503


class ApplicationError(Exception):
    """A refusal the caller can act on: a stable `code`, a human message, optional details.

    The HTTP status is the code's (`Code.status`)."""

    default_code: Code = Code.BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        code: Code | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = Code(code or self.default_code)
        self.details = details or {}

    @property
    def status_code(self) -> int:
        return self.code.status

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class NotFound(ApplicationError):
    default_code = Code.NOT_FOUND


class Forbidden(ApplicationError):
    default_code = Code.FORBIDDEN


class Conflict(ApplicationError):
    default_code = Code.CONFLICT


class InvalidInput(ApplicationError):
    default_code = Code.INVALID_INPUT


def codes_table() -> str:
    """The catalog as a Markdown table, for the API docs."""
    rows = [
        f"| `{c.value}` | {c.status} |" for c in sorted(Code, key=lambda c: (c.status, c.value))
    ]
    return "\n".join(["| code | HTTP status |", "|---|---|", *rows])
